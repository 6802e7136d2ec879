//! XEP-0156: where a web client finds the WebSocket and BOSH endpoints, in XRD and
//! JSON. The addresses follow the request's own host and scheme, so what a
//! client reached (directly, or through a proxy that keeps `Host`) is what
//! it is told.

use axum::Extension;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use waxwing_xml::escape_attr;

use super::Connection;

const WEBSOCKET_REL: &str = "urn:xmpp:alt-connections:websocket";
const BOSH_REL: &str = "urn:xmpp:alt-connections:xbosh";

/// The endpoints as `(rel, href)`, on the host the request named.
fn links(headers: &HeaderMap, conn: &Connection) -> Vec<(&'static str, String)> {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return Vec::new() };
    // A Host header is a host and port: anything else is not echoed back.
    if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)) {
        return Vec::new();
    }
    let (ws, http) = if conn.tls { ("wss", "https") } else { ("ws", "http") };
    vec![(WEBSOCKET_REL, format!("{ws}://{host}/xmpp-websocket")), (BOSH_REL, format!("{http}://{host}/http-bind"))]
}

pub async fn xrd(headers: HeaderMap, Extension(conn): Extension<Connection>) -> Response {
    let mut body = String::from(
        "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n",
    );
    for (rel, href) in links(&headers, &conn) {
        body.push_str(&format!("  <Link rel='{rel}' href='{}'/>\n", escape_attr(&href)));
    }
    body.push_str("</XRD>\n");
    ([(header::CONTENT_TYPE, "application/xrd+xml")], body).into_response()
}

pub async fn json(headers: HeaderMap, Extension(conn): Extension<Connection>) -> Response {
    let links: Vec<serde_json::Value> =
        links(&headers, &conn).into_iter().map(|(rel, href)| serde_json::json!({ "rel": rel, "href": href })).collect();
    let body = serde_json::json!({ "links": links }).to_string();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
