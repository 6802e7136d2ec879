//! The client side of SCRAM (RFC 5802, RFC 7677) with tls-exporter channel
//! binding (RFC 9266), and PLAIN (RFC 4616): written from the RFCs, so that
//! the server is checked against an independent implementation.

use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac, pbkdf2};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Hash::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
            Hash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
        }
    }

    fn hmac_alg(self) -> hmac::Algorithm {
        match self {
            Hash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => hmac::HMAC_SHA256,
        }
    }

    fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac_alg(), key), data).as_ref().to_vec()
    }

    fn h(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &digest::SHA256,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// What the gs2 header says about channel binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// `n,,`: the client does not support channel binding.
    None,
    /// `y,,`: the client supports it but thinks the server does not.
    ClientOnly,
    /// `p=tls-exporter,,` with this binding data (the real exporter, or a forgery).
    Exporter(Vec<u8>),
}

impl Binding {
    fn gs2_header(&self) -> &'static str {
        match self {
            Binding::None => "n,,",
            Binding::ClientOnly => "y,,",
            Binding::Exporter(_) => "p=tls-exporter,,",
        }
    }
}

/// One SCRAM exchange, client side.
pub struct ScramClient {
    hash: Hash,
    username: String,
    password: String,
    binding: Binding,
    nonce: String,
    client_first_bare: String,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    pub fn new(hash: Hash, username: &str, password: &str, binding: Binding) -> Self {
        let mut raw = [0u8; 18];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw).expect("system random source");
        let nonce = B64.encode(raw);
        let name = username.replace('=', "=3D").replace(',', "=2C");
        let client_first_bare = format!("n={name},r={nonce}");
        ScramClient {
            hash,
            username: username.to_string(),
            password: password.to_string(),
            binding,
            nonce,
            client_first_bare,
            server_signature: None,
        }
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// client-first-message.
    pub fn client_first(&self) -> String {
        format!("{}{}", self.binding.gs2_header(), self.client_first_bare)
    }

    /// client-final-message for the server-first-message; checks the server's nonce and parameters.
    pub fn client_final(&mut self, server_first: &str) -> Result<String, String> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for part in server_first.split(',') {
            match part.split_at_checked(2) {
                Some(("r=", v)) => nonce = Some(v.to_string()),
                Some(("s=", v)) => salt = Some(B64.decode(v).map_err(|e| format!("salt is not base64: {e}"))?),
                Some(("i=", v)) => {
                    iterations = Some(v.parse::<u32>().map_err(|e| format!("bad iteration count: {e}"))?)
                }
                Some(("m=", _)) => return Err("the server asked for a mandatory extension".into()),
                _ => {}
            }
        }
        let nonce = nonce.ok_or("server-first-message has no nonce")?;
        let salt = salt.ok_or("server-first-message has no salt")?;
        let iterations = iterations.ok_or("server-first-message has no iteration count")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() <= self.nonce.len() {
            return Err(format!("server nonce {nonce:?} does not extend ours {:?}", self.nonce));
        }
        if iterations < 4096 {
            return Err(format!("iteration count {iterations} is below RFC 7677's 4096"));
        }
        let iterations = NonZeroU32::new(iterations).ok_or("zero iterations")?;
        let mut salted = vec![0u8; self.hash.len()];
        pbkdf2::derive(self.hash.pbkdf2(), iterations, &salt, self.password.as_bytes(), &mut salted);
        let client_key = self.hash.hmac(&salted, b"Client Key");
        let stored_key = self.hash.h(&client_key);
        let mut cbind = self.binding.gs2_header().as_bytes().to_vec();
        if let Binding::Exporter(data) = &self.binding {
            cbind.extend_from_slice(data);
        }
        let without_proof = format!("c={},r={nonce}", B64.encode(&cbind));
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = self.hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        let server_key = self.hash.hmac(&salted, b"Server Key");
        self.server_signature = Some(self.hash.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks the server-final-message (`v=...`): the server knew the password too.
    pub fn verify_server_final(&self, server_final: &str) -> Result<(), String> {
        let expected = self.server_signature.as_ref().ok_or("no client-final-message was sent")?;
        let Some(v) = server_final.strip_prefix("v=") else {
            return Err(format!("server-final-message is not a verifier: {server_final:?}"));
        };
        let got = B64.decode(v.trim()).map_err(|e| format!("verifier is not base64: {e}"))?;
        if &got != expected {
            return Err("the server signature does not match: the server does not know the password".into());
        }
        Ok(())
    }
}

/// The PLAIN message: no authzid, then authcid and password.
pub fn plain_message(username: &str, password: &str) -> Vec<u8> {
    format!("\0{username}\0{password}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3's example, with its client nonce.
    #[test]
    fn rfc7677_example() {
        let mut c = ScramClient::new(Hash::Sha256, "user", "pencil", Binding::None);
        c.nonce = "rOprNGfwEbeRWgbNEkqO".into();
        c.client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO".into();
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let fin = c.client_final(server_first).unwrap();
        assert_eq!(
            fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
        assert!(c.verify_server_final("v=AAAA").is_err());
    }

    /// RFC 5802 §5's SHA-1 example.
    #[test]
    fn rfc5802_example() {
        let mut c = ScramClient::new(Hash::Sha1, "user", "pencil", Binding::None);
        c.nonce = "fyko+d2lbbFgONRv9qkxdawL".into();
        c.client_first_bare = "n=user,r=fyko+d2lbbFgONRv9qkxdawL".into();
        let fin = c.client_final("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096").unwrap();
        assert_eq!(fin, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
        c.verify_server_final("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").unwrap();
    }

    #[test]
    fn refuses_a_nonce_that_does_not_extend_ours() {
        let mut c = ScramClient::new(Hash::Sha256, "user", "pencil", Binding::None);
        assert!(c.client_final("r=someoneelse,s=QSXCR+Q6sek8bf92,i=4096").is_err());
    }
}
