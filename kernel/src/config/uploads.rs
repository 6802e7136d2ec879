//! `[uploads]`: where the files of HTTP upload (XEP-0363) live, the largest
//! one any plugin may grant, and the URL clients reach them at.

use std::path::PathBuf;

use anyhow::bail;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadsSection {
    /// The folder of uploaded files; `<data_dir>/uploads` when absent.
    pub dir: Option<PathBuf>,
    /// The largest file a plugin may grant a slot for, in bytes or as
    /// "100 MiB": the kernel's cap over every plugin's own limit.
    pub max_file_size: ByteSize,
    /// The URL that reaches `/upload/` on this server's HTTP listener from
    /// the clients' side (a reverse proxy, another name): "https://files.example.org".
    /// When absent, `https://<vhost>:<port>` of the first HTTPS listener, else
    /// `http://<vhost>:<port>` of the first plain one.
    pub url: Option<String>,
}

impl Default for UploadsSection {
    fn default() -> Self {
        UploadsSection { dir: None, max_file_size: ByteSize(100 << 20), url: None }
    }
}

/// A size in bytes: an integer, or text such as "64 KiB" or "10 MB".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        let n = match Raw::deserialize(d)? {
            Raw::Int(n) => Some(n),
            Raw::Text(t) => crate::plugins::parse_size(&t).and_then(|n| u64::try_from(n).ok()),
        };
        n.map(ByteSize).ok_or_else(|| {
            serde::de::Error::custom("expected a size: an integer of bytes, or text such as \"100 MiB\"")
        })
    }
}

impl UploadsSection {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if self.max_file_size.0 == 0 {
            bail!("uploads.max_file_size is 0: give the largest file to accept, such as \"100 MiB\"");
        }
        if let Some(url) = &self.url {
            let ok = url.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && !rest.starts_with('/')
                    && !rest.contains(['?', '#', ' '])
            });
            if !ok {
                bail!(
                    "uploads.url = {url:?} is not an http or https URL: write one such as \"https://files.example.org\""
                );
            }
        }
        Ok(())
    }

    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> Option<&str> {
        self.url.as_deref().map(|u| u.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<UploadsSection, String> {
        let s: UploadsSection = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn sizes_and_urls() {
        assert_eq!(parse("max_file_size = \"10 MiB\"").unwrap().max_file_size, ByteSize(10 << 20));
        assert_eq!(parse("max_file_size = 4096").unwrap().max_file_size, ByteSize(4096));
        assert!(parse("max_file_size = \"ten\"").unwrap_err().contains("expected a size"));
        assert!(parse("max_file_size = 0").unwrap_err().contains("uploads.max_file_size"));
        let s = parse("url = \"https://files.example.org/\"").unwrap();
        assert_eq!(s.base_url(), Some("https://files.example.org"));
        for bad in ["files.example.org", "ftp://x", "https://", "https://x/?a=1"] {
            assert!(parse(&format!("url = {bad:?}")).unwrap_err().contains("uploads.url"), "{bad}");
        }
        assert!(parse("dri = \"/tmp\"").unwrap_err().contains("unknown field"));
    }
}
