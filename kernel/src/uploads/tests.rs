use super::*;

fn uploads(tag: &str, cfg_text: &str) -> Arc<Uploads> {
    let dir = crate::testutil::tempdir(tag);
    let mut cfg = Config::parse(cfg_text).unwrap();
    cfg.server.data_dir = dir.clone();
    let u = Uploads::open(&cfg, Storage::open(&dir).unwrap()).unwrap();
    u.listening("127.0.0.1:5281".parse().unwrap(), true);
    u
}

fn request(size: u64) -> Request {
    Request {
        owner: "a@localhost".into(),
        filename: "cat photo.jpg".into(),
        size,
        content_type: "image/jpeg".into(),
        put_valid_ms: 60_000,
        keep_ms: 3_600_000,
    }
}

#[test]
fn a_grant_signs_its_put_url_and_names_the_file() {
    let u = uploads("upl-grant", "");
    let g = u.grant("localhost", "http_upload", request(10)).unwrap();
    assert!(g.get_url.starts_with("https://localhost:5281/upload/"), "{}", g.get_url);
    assert!(g.get_url.ends_with("/cat%20photo.jpg"), "{}", g.get_url);
    let (put_base, token) = g.put_url.split_once("?token=").unwrap();
    assert_eq!(put_base, g.get_url);
    let slot = u.slot(&g.id).unwrap().unwrap();
    assert!(!slot.stored);
    assert!(u.token_matches(&g.id, &slot, token));
    assert!(!u.token_matches(&g.id, &slot, "AAAA"));
    assert!(!u.token_matches(&g.id, &Slot { size: 11, ..slot.clone() }, token), "the token binds the size");
    let other = u.grant("localhost", "http_upload", request(10)).unwrap();
    assert_ne!(other.id, g.id);
    assert!(!u.token_matches(&other.id, &u.slot(&other.id).unwrap().unwrap(), token), "and the slot");
}

#[test]
fn refusals_name_what_is_wrong() {
    let u = uploads("upl-refuse", "[uploads]\nmax_file_size = 100\n");
    assert_eq!(u.grant("localhost", "p", request(101)), Err(UploadError::TooLarge(100)));
    let bad = |r: Request| match u.grant("localhost", "p", r) {
        Err(UploadError::Invalid(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(bad(Request { filename: "../x".into(), ..request(1) }).contains("filename"));
    assert!(bad(Request { content_type: "text/html\r\nSet-Cookie: x".into(), ..request(1) }).contains("content-type"));
    // An empty file is a file (XEP-0363 does not forbid it).
    assert!(u.grant("localhost", "p", request(0)).is_ok());
    assert!(bad(Request { put_valid_ms: 0, ..request(1) }).contains("put-valid-ms"));
    assert!(bad(Request { put_valid_ms: MAX_PUT_VALID_MS + 1, ..request(1) }).contains("put-valid-ms"));
}

#[test]
fn without_a_listener_or_url_there_is_no_slot() {
    let dir = crate::testutil::tempdir("upl-nolisten");
    let mut cfg = Config::default();
    cfg.server.data_dir = dir.clone();
    let u = Uploads::open(&cfg, Storage::open(&dir).unwrap()).unwrap();
    assert!(
        matches!(u.grant("localhost", "p", request(1)), Err(UploadError::Unavailable(m)) if m.contains("[listen]"))
    );
    u.listening("127.0.0.1:5280".parse().unwrap(), false);
    assert!(u.grant("localhost", "p", request(1)).unwrap().get_url.starts_with("http://localhost:5280/upload/"));
    let configured = uploads("upl-url", "[uploads]\nurl = \"https://files.example.org/\"\n");
    assert!(
        configured
            .grant("localhost", "p", request(1))
            .unwrap()
            .get_url
            .starts_with("https://files.example.org/upload/")
    );
}

#[test]
fn delete_is_confined_to_the_granting_plugin_and_host() {
    let u = uploads("upl-delete", "");
    let g = u.grant("localhost", "http_upload", request(3)).unwrap();
    std::fs::write(u.file_path(&g.id), b"abc").unwrap();
    u.mark_stored(&g.id, u.slot(&g.id).unwrap().unwrap()).unwrap();
    assert_eq!(u.delete("other.host", "http_upload", &g.id), Ok(false));
    assert_eq!(u.delete("localhost", "another", &g.id), Ok(false));
    assert_eq!(u.delete("localhost", "http_upload", &g.id), Ok(true));
    assert!(u.slot(&g.id).unwrap().is_none());
    assert!(!u.file_path(&g.id).exists());
    assert_eq!(u.delete("localhost", "http_upload", &g.id), Ok(false));
}

#[test]
fn the_sweeper_removes_unused_slots_and_expired_files_only() {
    let u = uploads("upl-sweep", "");
    let unused = u.grant("localhost", "p", request(3)).unwrap();
    let kept = u.grant("localhost", "p", Request { keep_ms: 0, ..request(3) }).unwrap();
    let expiring = u.grant("localhost", "p", request(3)).unwrap();
    for id in [&kept.id, &expiring.id] {
        std::fs::write(u.file_path(id), b"abc").unwrap();
        u.mark_stored(id, u.slot(id).unwrap().unwrap()).unwrap();
    }
    let now = now_ms();
    assert_eq!(u.sweep(now).unwrap(), 0);
    // Past the PUT deadline: the unused slot goes, the stored files stay.
    assert_eq!(u.sweep(now + 61_000).unwrap(), 1);
    assert!(u.slot(&unused.id).unwrap().is_none());
    assert!(u.file_path(&expiring.id).exists());
    // Past the expiry: the expiring file goes; the one kept forever stays.
    assert_eq!(u.sweep(now + 3_700_000).unwrap(), 1);
    assert!(!u.file_path(&expiring.id).exists() && u.slot(&expiring.id).unwrap().is_none());
    assert!(u.file_path(&kept.id).exists() && u.slot(&kept.id).unwrap().unwrap().stored);
}

#[test]
fn one_put_at_a_time_per_slot() {
    let u = uploads("upl-busy", "");
    let first = u.begin_put("x").unwrap();
    assert!(u.begin_put("x").is_none());
    drop(first);
    assert!(u.begin_put("x").is_some());
}

#[test]
fn interrupted_uploads_are_cleaned_at_start_and_the_key_survives() {
    let dir = crate::testutil::tempdir("upl-restart");
    let mut cfg = Config::default();
    cfg.server.data_dir = dir.clone();
    let storage = Storage::open(&dir).unwrap();
    let u = Uploads::open(&cfg, storage.clone()).unwrap();
    u.listening("127.0.0.1:1".parse().unwrap(), false);
    let g = u.grant("localhost", "p", request(3)).unwrap();
    std::fs::write(u.part_path(&g.id), b"a").unwrap();
    drop(u);
    let again = Uploads::open(&cfg, storage).unwrap();
    assert!(!again.part_path(&g.id).exists());
    let slot = again.slot(&g.id).unwrap().unwrap();
    let token = g.put_url.split_once("?token=").unwrap().1;
    assert!(again.token_matches(&g.id, &slot, token), "a restart keeps granted URLs valid");
}
