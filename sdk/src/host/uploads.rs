//! HTTP upload slots (XEP-0363, WIT 2.2): the plugin decides who may upload
//! what; the kernel signs the URLs, checks the PUT, keeps the file and
//! serves the GET. Needs the `uploads` grant, which only the operator's
//! `grants` list can give.

use std::fmt;

use super::sys;
use crate::bindings::waxwing::plugin::uploads as wit;

/// What a slot is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRequest {
    /// The bare JID the file belongs to.
    pub owner: String,
    /// The name the URLs end with: one path segment, at most 255 bytes.
    pub filename: String,
    /// The exact size the PUT must carry.
    pub size: u64,
    /// The MIME type the PUT must carry; "" for none.
    pub content_type: String,
    /// How long the PUT URL stays usable.
    pub put_valid_ms: u64,
    /// How long the file is kept; 0 until [`delete`].
    pub keep_ms: u64,
}

/// A granted slot: the URLs for the client, the id for [`delete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Names the file for [`delete`].
    pub id: String,
    /// Where the client PUTs the file.
    pub put_url: String,
    /// Headers the PUT must carry: (name, value).
    pub put_headers: Vec<(String, String)>,
    /// Where anyone given it downloads the file.
    pub get_url: String,
}

/// Why no slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// The operator did not grant `uploads`.
    NotGranted,
    /// The request was refused; the text says why.
    Invalid(String),
    /// Over the server's own size limit, which this carries.
    TooLarge(u64),
    /// No HTTP listener, or the store failed.
    Unavailable(String),
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadError::NotGranted => write!(f, "capability 'uploads' not granted"),
            UploadError::Invalid(m) => write!(f, "invalid upload: {m}"),
            UploadError::TooLarge(max) => write!(f, "larger than the server's limit of {max} bytes"),
            UploadError::Unavailable(m) => write!(f, "uploads unavailable: {m}"),
        }
    }
}

impl std::error::Error for UploadError {}

impl From<wit::UploadError> for UploadError {
    fn from(e: wit::UploadError) -> Self {
        match e {
            wit::UploadError::NotGranted => UploadError::NotGranted,
            wit::UploadError::Invalid(m) => UploadError::Invalid(m),
            wit::UploadError::TooLarge(max) => UploadError::TooLarge(max),
            wit::UploadError::Unavailable(m) => UploadError::Unavailable(m),
        }
    }
}

/// Grants a slot.
pub fn grant(request: &SlotRequest) -> Result<Slot, UploadError> {
    let raw = wit::SlotRequest {
        owner: request.owner.clone(),
        filename: request.filename.clone(),
        size: request.size,
        content_type: request.content_type.clone(),
        put_valid_ms: request.put_valid_ms,
        keep_ms: request.keep_ms,
    };
    let s = sys::uploads::grant(&raw)?;
    Ok(Slot { id: s.id, put_url: s.put_url, put_headers: s.put_headers, get_url: s.get_url })
}

/// Deletes a file this plugin granted; false when there was none.
pub fn delete(id: &str) -> Result<bool, UploadError> {
    Ok(sys::uploads::delete(id)?)
}
