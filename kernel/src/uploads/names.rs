//! What a slot request may name, and how names travel in URLs: file names
//! and content types checked before they reach a path, a header or a URL,
//! and percent-encoding for the URL's last segment.

/// Why a file name is refused, or `None` when it is acceptable: it ends the
/// GET URL and names the download, so it must be one path segment of
/// printable text.
pub fn bad_filename(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("the file name is empty")
    } else if name.len() > 255 {
        Some("the file name is longer than 255 bytes")
    } else if name == "." || name == ".." {
        Some("the file name is . or ..")
    } else if name.contains(['/', '\\']) {
        Some("the file name contains a slash")
    } else if name.chars().any(char::is_control) {
        Some("the file name contains a control character")
    } else {
        None
    }
}

/// Why a MIME type is refused, or `None`: "" (none given) or `type/subtype`
/// with optional parameters, of visible ASCII, as a header value must be.
pub fn bad_content_type(ct: &str) -> Option<&'static str> {
    if ct.is_empty() {
        return None;
    }
    if ct.len() > 255 {
        return Some("the content type is longer than 255 bytes");
    }
    if !ct.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return Some("the content type has characters a header cannot carry");
    }
    let essence = ct.split(';').next().unwrap_or_default().trim();
    let token = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    match essence.split_once('/') {
        Some((kind, sub)) if token(kind) && token(sub) => None,
        _ => Some("the content type is not of the form type/subtype"),
    }
}

/// The type part of a content type, lower-cased, for comparing a PUT's
/// header with the slot's (parameters and case may differ: RFC 9110 §8.3.1).
pub fn essence(ct: &str) -> String {
    ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a download is shown in the browser or saved: media and plain
/// text inline, anything that could run script (HTML, SVG, XML) saved.
pub fn inline(content_type: &str) -> bool {
    let e = essence(content_type);
    let (kind, sub) = e.split_once('/').unwrap_or(("", ""));
    match kind {
        "image" => sub != "svg+xml",
        "audio" | "video" => true,
        "text" => sub == "plain",
        _ => e == "application/pdf",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames() {
        assert_eq!(bad_filename("photo 1.jpg"), None);
        assert_eq!(bad_filename("résumé.pdf"), None);
        for bad in ["", ".", "..", "a/b", "a\\b", "a\nb", "a\u{0}b"] {
            assert!(bad_filename(bad).is_some(), "{bad:?}");
        }
        assert!(bad_filename(&"x".repeat(256)).is_some());
    }

    #[test]
    fn content_types() {
        for good in ["", "image/jpeg", "text/plain; charset=utf-8", "application/vnd.oasis.opendocument.text"] {
            assert_eq!(bad_content_type(good), None, "{good}");
        }
        for bad in ["jpeg", "image/", "/jpeg", "image/jp eg", "image/jpeg\r\nX-Evil: 1", "imagé/jpeg"] {
            assert!(bad_content_type(bad).is_some(), "{bad:?}");
        }
        assert_eq!(essence("Text/Plain; charset=UTF-8"), "text/plain");
    }

    #[test]
    fn segments() {
        assert_eq!(encode_segment("a b/é?.txt"), "a%20b%2F%C3%A9%3F.txt");
        assert_eq!(encode_segment("plain-name_1.~"), "plain-name_1.~");
    }

    #[test]
    fn what_shows_inline() {
        assert!(inline("image/png") && inline("video/mp4") && inline("text/plain; charset=utf-8"));
        assert!(!inline("text/html") && !inline("image/svg+xml") && !inline("") && !inline("application/xml"));
    }
}
