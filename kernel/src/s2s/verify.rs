//! Asking a peer's authoritative server whether a dialback key is its own
//! (XEP-0220 §2.1.3), over a connection of its own.

use std::time::Duration;

use tokio::time::{Instant, timeout_at};
use waxwing_xml::StanzaErrorCondition as Cond;

use super::S2s;
use super::dial::{self, DialError};
use super::wire::{self, DIALBACK};

/// Whether `remote`'s authoritative server made `key` for the stream
/// `stream_id` it opened to our `local` domain.
pub async fn ask(ctx: &S2s, local: &str, remote: &str, stream_id: &str, key: &str) -> Result<bool, DialError> {
    let deadline = Instant::now() + Duration::from_secs(ctx.config.s2s.connect_timeout_secs);
    let attempt = async {
        let mut d = dial::dial(ctx, local, remote, deadline).await?;
        let ask = wire::db("verify", local, remote, Some(stream_id), Some(key), None);
        dial::send(&mut d.writer, &ask).await?;
        loop {
            let el = dial::next_element(&mut d.reader).await?;
            if el.is("verify", DIALBACK) && el.attr("id") == Some(stream_id) {
                let _ = d.writer.send("</stream:stream>").await;
                d.writer.shutdown().await;
                return Ok(el.attr("type") == Some("valid"));
            }
        }
    };
    match timeout_at(deadline, attempt).await {
        Ok(r) => r,
        Err(_) => Err(DialError::new(Cond::RemoteServerTimeout, format!("'{remote}' did not verify in time"))),
    }
}
