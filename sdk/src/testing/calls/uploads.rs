//! `uploads` as a list of granted slots, with the kernel's size cap and its
//! refusal of names that could not end a URL.

use crate::bindings::waxwing::plugin::uploads::{Slot, SlotRequest, UploadError};
use crate::testing::state::with;

pub(crate) fn grant(request: &SlotRequest) -> Result<Slot, UploadError> {
    with(|s| {
        if !s.uploads.granted {
            return Err(UploadError::NotGranted);
        }
        if request.filename.is_empty() || request.filename.contains('/') || request.filename.len() > 255 {
            return Err(UploadError::Invalid(format!("filename {:?} cannot end a URL", request.filename)));
        }
        if request.size > s.uploads.max_file_size {
            return Err(UploadError::TooLarge(s.uploads.max_file_size));
        }
        s.uploads.next += 1;
        let id = format!("slot{}", s.uploads.next);
        let get_url = format!("https://{}/upload/{id}/{}", s.domain, request.filename);
        s.uploads.slots.push((id.clone(), request.clone()));
        Ok(Slot { put_url: format!("{get_url}?token=t"), put_headers: Vec::new(), get_url, id })
    })
}

pub(crate) fn delete(id: &str) -> Result<bool, UploadError> {
    with(|s| {
        if !s.uploads.granted {
            return Err(UploadError::NotGranted);
        }
        let before = s.uploads.slots.len();
        s.uploads.slots.retain(|(i, _)| i != id);
        Ok(s.uploads.slots.len() < before)
    })
}
