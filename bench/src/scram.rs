//! A minimal SCRAM-SHA-1/256 client (RFC 5802, RFC 7677), without channel
//! binding. The salted password is cached per account, salt and iteration
//! count, as real clients do: repeated logins then cost the load generator
//! a few HMACs, not 4096 PBKDF2 rounds, while the server's work is unchanged.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac, pbkdf2};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    pub fn mechanism(self) -> &'static str {
        match self {
            Hash::Sha1 => "SCRAM-SHA-1",
            Hash::Sha256 => "SCRAM-SHA-256",
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> hmac::Tag {
        let alg = match self {
            Hash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => hmac::HMAC_SHA256,
        };
        hmac::sign(&hmac::Key::new(alg, key), data)
    }
}

type CacheKey = (Hash, String, Vec<u8>, u32);

fn cache() -> &'static Mutex<HashMap<CacheKey, Vec<u8>>> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Vec<u8>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn salted_password(hash: Hash, password: &str, salt: &[u8], iterations: NonZeroU32) -> Vec<u8> {
    let key = (hash, password.to_string(), salt.to_vec(), iterations.get());
    if let Some(v) = cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
        return v;
    }
    let (alg, len) = match hash {
        Hash::Sha1 => (pbkdf2::PBKDF2_HMAC_SHA1, 20),
        Hash::Sha256 => (pbkdf2::PBKDF2_HMAC_SHA256, 32),
    };
    let mut out = vec![0u8; len];
    pbkdf2::derive(alg, iterations, salt, password.as_bytes(), &mut out);
    if let Ok(mut c) = cache().lock() {
        c.insert(key, out.clone());
    }
    out
}

pub struct Scram {
    hash: Hash,
    password: String,
    client_first_bare: String,
    nonce: String,
    server_signature: Vec<u8>,
}

impl Scram {
    pub fn new(hash: Hash, username: &str, password: &str) -> Self {
        let mut raw = [0u8; 18];
        // A nonce only has to be unique here; the system source never fails on Linux.
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw);
        let nonce = B64.encode(raw);
        let client_first_bare = format!("n={},r={nonce}", username.replace('=', "=3D").replace(',', "=2C"));
        Scram { hash, password: password.to_string(), client_first_bare, nonce, server_signature: Vec::new() }
    }

    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    pub fn client_final(&mut self, server_first: &str) -> Result<String, String> {
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for part in server_first.split(',') {
            match part.split_at_checked(2) {
                Some(("r=", v)) => nonce = Some(v),
                Some(("s=", v)) => salt = Some(B64.decode(v).map_err(|e| format!("salt: {e}"))?),
                Some(("i=", v)) => iterations = v.parse::<u32>().ok().and_then(NonZeroU32::new),
                _ => {}
            }
        }
        let nonce = nonce.ok_or("no nonce")?;
        if !nonce.starts_with(&self.nonce) {
            return Err("the server nonce does not extend ours".into());
        }
        let salt = salt.ok_or("no salt")?;
        let iterations = iterations.ok_or("no iteration count")?;
        let salted = salted_password(self.hash, &self.password, &salt, iterations);
        let client_key = self.hash.hmac(&salted, b"Client Key");
        let stored_key = match self.hash {
            Hash::Sha1 => digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, client_key.as_ref()),
            Hash::Sha256 => digest::digest(&digest::SHA256, client_key.as_ref()),
        };
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = self.hash.hmac(stored_key.as_ref(), auth_message.as_bytes());
        let proof: Vec<u8> = client_key.as_ref().iter().zip(signature.as_ref()).map(|(a, b)| a ^ b).collect();
        let server_key = self.hash.hmac(&salted, b"Server Key");
        self.server_signature = self.hash.hmac(server_key.as_ref(), auth_message.as_bytes()).as_ref().to_vec();
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks `v=...` from the success payload (already base64-decoded).
    pub fn verify(&self, server_final: &str) -> Result<(), String> {
        let v = server_final.trim().strip_prefix("v=").ok_or("no verifier in the success")?;
        let got = B64.decode(v).map_err(|e| format!("verifier: {e}"))?;
        if got != self.server_signature {
            return Err("wrong server signature".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3's example, with its nonce.
    #[test]
    fn rfc7677_example() {
        let mut c = Scram::new(Hash::Sha256, "user", "pencil");
        c.nonce = "rOprNGfwEbeRWgbNEkqO".into();
        c.client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO".into();
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let fin = c.client_final(server_first).unwrap();
        assert_eq!(
            fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
        // Cached the second time, same answer.
        assert_eq!(c.client_final(server_first).unwrap(), fin);
    }
}
