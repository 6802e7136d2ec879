//! XEP-0156: where a web client finds the WebSocket endpoint, in XRD and
//! JSON. The addresses follow the request's own host and scheme, so what a
//! client reached (directly, or through a proxy that keeps `Host`) is what
//! it is told.

use axum::Extension;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use waxwing_xml::escape_attr;

use super::Connection;

const WEBSOCKET_REL: &str = "urn:xmpp:alt-connections:websocket";

fn websocket_url(headers: &HeaderMap, conn: &Connection) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    // A Host header is a host and port: anything else is not echoed back.
    if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)) {
        return None;
    }
    let scheme = if conn.tls { "wss" } else { "ws" };
    Some(format!("{scheme}://{host}/xmpp-websocket"))
}

/// Browsers fetch host-meta from the page's origin, which is rarely ours.
fn with_cors(mut r: Response) -> Response {
    r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    r
}

pub async fn xrd(headers: HeaderMap, Extension(conn): Extension<Connection>) -> Response {
    let mut body = String::from(
        "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n",
    );
    if let Some(url) = websocket_url(&headers, &conn) {
        body.push_str(&format!("  <Link rel='{WEBSOCKET_REL}' href='{}'/>\n", escape_attr(&url)));
    }
    body.push_str("</XRD>\n");
    with_cors(([(header::CONTENT_TYPE, "application/xrd+xml")], body).into_response())
}

pub async fn json(headers: HeaderMap, Extension(conn): Extension<Connection>) -> Response {
    let links: Vec<serde_json::Value> = websocket_url(&headers, &conn)
        .map(|href| serde_json::json!({ "rel": WEBSOCKET_REL, "href": href }))
        .into_iter()
        .collect();
    let body = serde_json::json!({ "links": links }).to_string();
    with_cors(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
