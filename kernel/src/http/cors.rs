//! Which web pages may use the endpoints: CORS for BOSH, host-meta and
//! upload PUTs (`[http] cors_origins`), and the WebSocket `Origin` check
//! (`[http] websocket_origins`). Requests without an `Origin` come from no
//! browser page and are not restricted.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use super::Http;

/// Whether `origin` is on `allowed` ("*" allows any).
pub fn allowed(allowed: &[String], origin: &str) -> bool {
    allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
}

fn origin(headers: &HeaderMap) -> Option<String> {
    headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_string)
}

/// Adds the CORS headers a browser needs to every answer to a page of an
/// allowed origin, and the preflight's to `OPTIONS`.
pub async fn layer(State(http): State<Arc<Http>>, req: Request, next: Next) -> Response {
    let from = origin(req.headers());
    let preflight = req.method() == Method::OPTIONS;
    let mut response = next.run(req).await;
    let config = http.c2s.config();
    let origins = &config.http.cors_origins;
    let Some(from) = from else { return response };
    if !allowed(origins, &from) {
        return response;
    }
    let h = response.headers_mut();
    if origins.iter().any(|o| o == "*") {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    } else if let Ok(v) = HeaderValue::from_str(&from) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    if preflight {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, POST, PUT, OPTIONS"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let any = vec!["*".to_string()];
        let some = vec!["https://chat.example.org".to_string()];
        assert!(allowed(&any, "http://evil.example"));
        assert!(allowed(&some, "https://chat.example.org"));
        assert!(allowed(&some, "HTTPS://Chat.Example.org"));
        assert!(!allowed(&some, "https://chat.example.org.evil.example"));
        assert!(!allowed(&[], "https://chat.example.org"));
    }
}
