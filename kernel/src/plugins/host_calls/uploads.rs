//! `uploads` (WIT 2.2): HTTP upload slots, under the operator's `uploads`
//! grant. The slot itself is the kernel's (`crate::uploads`); this is the
//! boundary: the grant, the owner's JID, the conversion of errors.

use super::super::bindings::waxwing::plugin::uploads::{self as wit, UploadError};
use crate::plugins::store::StoreData;
use crate::uploads::{self, Uploads};

impl StoreData {
    fn uploads(&self) -> Result<&Uploads, UploadError> {
        if !self.grants.has_uploads() {
            return Err(UploadError::NotGranted);
        }
        self.shared.uploads.get().map(|u| &**u).ok_or_else(|| {
            UploadError::Unavailable("uploads are not served here (this is not a running server)".into())
        })
    }
}

impl From<uploads::UploadError> for UploadError {
    fn from(e: uploads::UploadError) -> Self {
        match e {
            uploads::UploadError::Invalid(m) => UploadError::Invalid(m),
            uploads::UploadError::TooLarge(max) => UploadError::TooLarge(max),
            uploads::UploadError::Unavailable(m) => UploadError::Unavailable(m),
        }
    }
}

impl wit::Host for StoreData {
    fn grant(&mut self, request: wit::SlotRequest) -> Result<wit::Slot, UploadError> {
        let up = self.uploads()?;
        let owner = jid::BareJid::new(&request.owner)
            .map_err(|e| UploadError::Invalid(format!("owner {:?} is not a bare JID: {e}", request.owner)))?;
        let req = uploads::Request {
            owner: owner.to_string(),
            filename: request.filename,
            size: request.size,
            content_type: request.content_type,
            put_valid_ms: request.put_valid_ms,
            keep_ms: request.keep_ms,
        };
        let granted = up.grant(&self.shared.domain, &self.shared.name, req)?;
        Ok(wit::Slot { id: granted.id, put_url: granted.put_url, put_headers: Vec::new(), get_url: granted.get_url })
    }

    fn delete(&mut self, id: String) -> Result<bool, UploadError> {
        let up = self.uploads()?;
        Ok(up.delete(&self.shared.domain, &self.shared.name, &id)?)
    }
}
