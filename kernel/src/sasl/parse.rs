//! The grammar of SCRAM client messages (RFC 5802 §7), strictly: attributes
//! in their fixed order, nothing missing, nothing the server would have to guess.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Why a client message was refused; becomes `<malformed-request/>` with this as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Malformed(pub &'static str);

/// The gs2-cbind-flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CbindFlag<'a> {
    /// `n`: the client does not support channel binding.
    None,
    /// `y`: the client supports it but believes the server does not.
    ClientOnly,
    /// `p=<name>`: the client binds to this channel-binding type.
    Bound(&'a str),
}

#[derive(Debug)]
pub(super) struct ClientFirst<'a> {
    /// The gs2 header verbatim, trailing comma included: `c=` must repeat it.
    pub gs2_header: &'a str,
    pub cbind: CbindFlag<'a>,
    pub authzid: Option<String>,
    /// Decoded from its saslname form, not yet prepared.
    pub username: String,
    pub nonce: &'a str,
    /// client-first-message-bare, the first part of the AuthMessage.
    pub bare: &'a str,
}

#[derive(Debug)]
pub(super) struct ClientFinal<'a> {
    /// `c=` decoded: gs2 header followed by any channel-binding data.
    pub cbind_input: Vec<u8>,
    pub nonce: &'a str,
    pub proof: Vec<u8>,
    /// client-final-message-without-proof, the last part of the AuthMessage.
    pub without_proof: &'a str,
}

pub(super) fn client_first(msg: &str) -> Result<ClientFirst<'_>, Malformed> {
    let (flag, rest) = msg.split_once(',').ok_or(Malformed("no gs2 header"))?;
    let (authz, bare) = rest.split_once(',').ok_or(Malformed("no gs2 header"))?;
    let gs2_header = &msg[..flag.len() + authz.len() + 2];
    let cbind = match flag {
        "n" => CbindFlag::None,
        "y" => CbindFlag::ClientOnly,
        _ => match flag.strip_prefix("p=") {
            Some(name) if is_cb_name(name) => CbindFlag::Bound(name),
            _ => return Err(Malformed("bad channel-binding flag")),
        },
    };
    let authzid = match authz {
        "" => None,
        _ => Some(saslname(authz.strip_prefix("a=").ok_or(Malformed("bad authzid in gs2 header"))?)?),
    };
    let mut attrs = bare.split(',');
    let first = attrs.next().unwrap_or_default();
    if first.starts_with("m=") {
        return Err(Malformed("mandatory extensions are not supported"));
    }
    let username = saslname(first.strip_prefix("n=").ok_or(Malformed("expected n= first"))?)?;
    let nonce = nonce(attrs.next().and_then(|a| a.strip_prefix("r=")).ok_or(Malformed("expected r= after n="))?)?;
    for a in attrs {
        extension(a)?;
    }
    Ok(ClientFirst { gs2_header, cbind, authzid, username, nonce, bare })
}

pub(super) fn client_final(msg: &str) -> Result<ClientFinal<'_>, Malformed> {
    let (without_proof, proof) = msg.rsplit_once(',').ok_or(Malformed("expected c=, r= and p="))?;
    let proof = proof.strip_prefix("p=").ok_or(Malformed("expected p= last"))?;
    let proof = B64.decode(proof).map_err(|_| Malformed("p= is not base64"))?;
    let mut attrs = without_proof.split(',');
    let cbind = attrs.next().and_then(|a| a.strip_prefix("c=")).ok_or(Malformed("expected c= first"))?;
    let cbind_input = B64.decode(cbind).map_err(|_| Malformed("c= is not base64"))?;
    let nonce = nonce(attrs.next().and_then(|a| a.strip_prefix("r=")).ok_or(Malformed("expected r= after c="))?)?;
    for a in attrs {
        if a.starts_with("p=") {
            return Err(Malformed("p= must come last, once"));
        }
        extension(a)?;
    }
    Ok(ClientFinal { cbind_input, nonce, proof, without_proof })
}

/// RFC 5802's saslname: `,` and `=` travel as `=2C` and `=3D`, nothing else may follow `=`.
fn saslname(s: &str) -> Result<String, Malformed> {
    if s.is_empty() {
        return Err(Malformed("empty name"));
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '=' => match (chars.next(), chars.next()) {
                (Some('2'), Some('C')) => out.push(','),
                (Some('3'), Some('D')) => out.push('='),
                _ => return Err(Malformed("bad escape in name")),
            },
            '\0' => return Err(Malformed("NUL in name")),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn nonce(s: &str) -> Result<&str, Malformed> {
    // printable = %x21-2B / %x2D-7E; the comma is already excluded by splitting.
    if s.is_empty() || !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Malformed("bad nonce"));
    }
    Ok(s)
}

fn is_cb_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// An optional extension attribute, `ALPHA "=" 1*value-char`; its meaning is ignored.
fn extension(a: &str) -> Result<(), Malformed> {
    match a.as_bytes() {
        [name, b'=', value @ ..] if name.is_ascii_alphabetic() && !value.is_empty() && !value.contains(&0) => Ok(()),
        _ => Err(Malformed("bad attribute")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_first_fields() {
        let m = client_first("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL").unwrap();
        assert_eq!(m.gs2_header, "n,,");
        assert_eq!(m.cbind, CbindFlag::None);
        assert_eq!(m.authzid, None);
        assert_eq!(m.username, "user");
        assert_eq!(m.nonce, "fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(m.bare, "n=user,r=fyko+d2lbbFgONRv9qkxdawL");

        let m = client_first("p=tls-exporter,a=us=2Cer=3D@x,n=us=2Cer=3D,r=abc,x=ext").unwrap();
        assert_eq!(m.gs2_header, "p=tls-exporter,a=us=2Cer=3D@x,");
        assert_eq!(m.cbind, CbindFlag::Bound("tls-exporter"));
        assert_eq!(m.authzid.as_deref(), Some("us,er=@x"));
        assert_eq!(m.username, "us,er=");

        assert_eq!(client_first("y,,n=u,r=x").unwrap().cbind, CbindFlag::ClientOnly);
    }

    #[test]
    fn client_first_refusals() {
        for (bad, why) in [
            ("", "no gs2 header"),
            ("n,", "no gs2 header"),
            ("x,,n=u,r=a", "bad channel-binding flag"),
            ("p=,,n=u,r=a", "bad channel-binding flag"),
            ("p=tls exporter,,n=u,r=a", "bad channel-binding flag"),
            ("n,z=a,n=u,r=a", "bad authzid in gs2 header"),
            ("n,a=,n=u,r=a", "empty name"),
            ("n,,m=ext,n=u,r=a", "mandatory extensions are not supported"),
            ("n,,r=a,n=u", "expected n= first"),
            ("n,,n=u", "expected r= after n="),
            ("n,,n=u,x=y,r=a", "expected r= after n="),
            ("n,,n=,r=a", "empty name"),
            ("n,,n=u=2c,r=a", "bad escape in name"),
            ("n,,n=u=,r=a", "bad escape in name"),
            ("n,,n=u\0,r=a", "NUL in name"),
            ("n,,n=u,r=", "bad nonce"),
            ("n,,n=u,r=a b", "bad nonce"),
            ("n,,n=u,r=a,", "bad attribute"),
            ("n,,n=u,r=a,1=x", "bad attribute"),
            ("n,,n=u,r=a,x=", "bad attribute"),
            ("n,,n=u,r=a,xy", "bad attribute"),
        ] {
            assert_eq!(client_first(bad).unwrap_err(), Malformed(why), "{bad:?}");
        }
    }

    #[test]
    fn client_final_fields() {
        let msg = "c=biws,r=abc,e=ext,p=dHpw";
        let m = client_final(msg).unwrap();
        assert_eq!(m.cbind_input, b"n,,");
        assert_eq!(m.nonce, "abc");
        assert_eq!(m.proof, b"tzp");
        assert_eq!(m.without_proof, "c=biws,r=abc,e=ext");
    }

    #[test]
    fn client_final_refusals() {
        for (bad, why) in [
            ("", "expected c=, r= and p="),
            ("c=biws,r=abc", "expected p= last"),
            ("c=biws,p=dHpw,r=abc", "expected p= last"),
            ("c=biws,r=abc,p=!!", "p= is not base64"),
            ("r=abc,c=biws,p=dHpw", "expected c= first"),
            ("c=b,r=abc,p=dHpw", "c= is not base64"),
            ("c=biws,p=dHpw", "expected r= after c="),
            ("c=biws,x=1,r=abc,p=dHpw", "expected r= after c="),
            ("c=biws,r=,p=dHpw", "bad nonce"),
            ("c=biws,r=abc,p=dHpw,p=dHpw", "p= must come last, once"),
            ("c=biws,r=abc,,p=dHpw", "bad attribute"),
        ] {
            assert_eq!(client_final(bad).unwrap_err(), Malformed(why), "{bad:?}");
        }
    }
}
