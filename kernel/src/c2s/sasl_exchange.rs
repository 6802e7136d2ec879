//! SASL framed in XML (RFC 6120 §6.4): `<auth/>`, challenges, responses,
//! `<success/>` or `<failure/>`. The mechanisms themselves are in `crate::sasl`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use waxwing_xml::{Element, StreamErrorCondition as Cond, escape_text, ns};

use super::negotiate::{Closed, Conn};
use crate::blocking::off_worker_if;
use crate::sasl::{ChannelBinding, Mechanism, SaslExchange, SaslFailure, Step};

/// Failed attempts on one connection before it is closed.
const MAX_ATTEMPTS: u32 = 5;

/// Runs one authentication attempt. `Ok(true)`: authenticated, restart the stream.
pub(super) async fn authenticate(conn: &mut Conn<'_>, auth: &Element) -> Result<bool, Closed> {
    if !conn.tls && conn.ctx.config().tls.require_starttls {
        return fail(conn, SaslFailure::EncryptionRequired, Some("negotiate TLS first")).await;
    }
    let offered = Mechanism::offered(conn.tls, conn.exporter.is_some(), conn.ctx.config().sasl.allow_plain);
    let name = auth.attr("mechanism").unwrap_or("");
    let Some(mechanism) = Mechanism::from_name(name).filter(|m| offered.contains(m)) else {
        return fail(conn, SaslFailure::InvalidMechanism, Some(&format!("'{name}' is not offered"))).await;
    };
    let initial = match decode(&auth.text()) {
        Ok(data) => data,
        Err(()) => return fail(conn, SaslFailure::IncorrectEncoding, None).await,
    };
    let binding = ChannelBinding { tls_exporter: conn.exporter.clone() };
    let accounts = conn.ctx.accounts.clone();
    let domain = conn.domain.clone();
    // PLAIN verifies a password with PBKDF2 (milliseconds of CPU); SCRAM's
    // steps are a few HMACs and run inline.
    let (mut exchange, mut step) = off_worker_if(mechanism == Mechanism::Plain, || {
        SaslExchange::start(mechanism, &domain, &accounts, binding, initial.as_deref())
    });
    loop {
        match step {
            Step::Challenge(data) => {
                let xml = format!("<challenge xmlns='{}'>{}</challenge>", ns::SASL, B64.encode(data));
                conn.writer.send(&xml).await.map_err(|_| Closed)?;
                let reply = conn.next_element().await?;
                if reply.ns != ns::SASL {
                    return Err(conn.fail(Cond::NotAuthorized, "authentication is in progress").await);
                }
                match reply.name.as_str() {
                    "response" => {}
                    "abort" => return fail(conn, SaslFailure::Aborted, None).await,
                    _ => return Err(conn.fail(Cond::NotAuthorized, "expected <response/> or <abort/>").await),
                }
                let data = match decode(&reply.text()) {
                    Ok(d) => d.unwrap_or_default(),
                    Err(()) => return fail(conn, SaslFailure::IncorrectEncoding, None).await,
                };
                step = off_worker_if(mechanism == Mechanism::Plain, || exchange.step(&accounts, &data));
            }
            Step::Success { username, additional_data } => {
                // Only one who knows the password learns that it is disabled.
                if accounts.is_disabled(&domain, &username).unwrap_or(false) {
                    return fail(conn, SaslFailure::AccountDisabled, Some("an administrator disabled this account"))
                        .await;
                }
                conn.ctx.throttle.record_success(conn.peer.ip());
                let body = additional_data.map(|d| B64.encode(d)).unwrap_or_default();
                let xml = format!("<success xmlns='{}'>{body}</success>", ns::SASL);
                conn.writer.send(&xml).await.map_err(|_| Closed)?;
                tracing::info!(peer = %conn.peer, "{username}@{} authenticated with {}", conn.domain, mechanism.name());
                conn.username = Some(username);
                return Ok(true);
            }
            Step::Failure(failure, text) => return fail(conn, failure, text.as_deref()).await,
        }
    }
}

/// Base64 with XMPP's convention: empty means "no data", `=` means "empty data".
fn decode(text: &str) -> Result<Option<Vec<u8>>, ()> {
    let text = text.trim();
    match text {
        "" => Ok(None),
        "=" => Ok(Some(Vec::new())),
        _ => B64.decode(text).map(Some).map_err(|_| ()),
    }
}

/// Answers `<failure/>`, slowed down for addresses that keep failing, and
/// closes the stream after too many attempts.
async fn fail(conn: &mut Conn<'_>, failure: SaslFailure, text: Option<&str>) -> Result<bool, Closed> {
    let ip = conn.peer.ip();
    // The delay reflects the failures before this one: the first
    // `failures_before_delay` attempts are answered at once.
    let delay = conn.ctx.throttle.delay_for(ip);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if matches!(failure, SaslFailure::NotAuthorized) {
        conn.ctx.throttle.record_failure(ip);
    }
    let mut xml = format!("<failure xmlns='{}'><{}/>", ns::SASL, failure.as_str());
    if let Some(t) = text {
        xml.push_str(&format!("<text xml:lang='en'>{}</text>", escape_text(t)));
    }
    xml.push_str("</failure>");
    conn.writer.send(&xml).await.map_err(|_| Closed)?;
    conn.failed_auths += 1;
    if conn.failed_auths >= MAX_ATTEMPTS {
        return Err(conn.fail(Cond::PolicyViolation, "too many failed authentication attempts").await);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn base64_conventions() {
        assert_eq!(decode(""), Ok(None));
        assert_eq!(decode("="), Ok(Some(Vec::new())));
        assert_eq!(decode("YQ=="), Ok(Some(b"a".to_vec())));
        assert_eq!(decode("!!"), Err(()));
    }
}
