use super::*;

struct Fixture {
    dir: std::path::PathBuf,
    storage: Storage,
    accounts: Accounts,
}

impl Fixture {
    fn new() -> Self {
        let dir = crate::testutil::tempdir("accounts");
        let storage = Storage::open(&dir).unwrap();
        let accounts = Accounts::new(storage.clone(), 4096);
        Fixture { dir, storage, accounts }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn create_then_duplicate() {
    let f = Fixture::new();
    f.accounts.create("example.com", "juliet", "r0meo-1").unwrap();
    assert!(f.accounts.exists("example.com", "juliet").unwrap());
    // Another spelling of the same account is the same account.
    assert!(matches!(f.accounts.create("Example.com", "JULIET", "x-x-x-x"), Err(AccountError::Exists)));
    assert!(f.accounts.exists("example.com", "Juliet").unwrap());
    assert!(!f.accounts.exists("example.org", "juliet").unwrap());
    assert!(!f.accounts.exists("example.com", "romeo").unwrap());
}

#[test]
fn invalid_inputs_are_refused() {
    let f = Fixture::new();
    for bad in ["", "a@b", "a/b", "with space"] {
        assert!(
            matches!(f.accounts.create("example.com", bad, "pw"), Err(AccountError::InvalidUsername(_))),
            "{bad:?}"
        );
        assert!(matches!(f.accounts.set_password("example.com", bad, "pw"), Err(AccountError::InvalidUsername(_))));
        assert!(matches!(f.accounts.delete("example.com", bad), Err(AccountError::InvalidUsername(_))));
        assert!(!f.accounts.exists("example.com", bad).unwrap());
        assert!(f.accounts.scram_credentials("example.com", bad, ScramHash::Sha1).unwrap().is_none());
    }
    for bad in ["", "\u{0007}bell", "\u{00AD}"] {
        assert!(matches!(f.accounts.create("example.com", "u", bad), Err(AccountError::InvalidPassword(_))), "{bad:?}");
    }
    assert!(matches!(f.accounts.create("a/b", "u", "pw"), Err(AccountError::InvalidUsername(_))));
    assert!(matches!(f.accounts.list("a/b"), Err(AccountError::InvalidUsername(_))));
    assert!(f.accounts.list("example.com").unwrap().is_empty());
}

#[test]
fn set_password_and_verify() {
    let f = Fixture::new();
    assert!(matches!(f.accounts.set_password("example.com", "juliet", "new-pw-2"), Err(AccountError::NotFound)));
    f.accounts.create("example.com", "juliet", "old-pw-1").unwrap();
    assert!(f.accounts.verify_password("example.com", "juliet", "old-pw-1").unwrap());
    assert!(!f.accounts.verify_password("example.com", "juliet", "new-pw-2").unwrap());
    f.accounts.set_password("example.com", "juliet", "new-pw-2").unwrap();
    assert!(f.accounts.verify_password("example.com", "juliet", "new-pw-2").unwrap());
    assert!(!f.accounts.verify_password("example.com", "juliet", "old-pw-1").unwrap());
    assert!(!f.accounts.verify_password("example.com", "juliet", "").unwrap());
    assert!(!f.accounts.verify_password("example.com", "nobody", "new-pw-2").unwrap());
    assert!(!f.accounts.verify_password("example.com", "a@b", "new-pw-2").unwrap());
}

#[test]
fn passwords_are_compared_after_saslprep() {
    let f = Fixture::new();
    f.accounts.create("example.com", "u", "I\u{00AD}X-pass").unwrap();
    assert!(f.accounts.verify_password("example.com", "u", "IX-pass").unwrap());
    assert!(f.accounts.verify_password("example.com", "u", "\u{2168}-pass").unwrap());
}

#[test]
fn delete_and_list() {
    let f = Fixture::new();
    for u in ["romeo", "juliet", "benvolio", "mercutio"] {
        f.accounts.create("example.com", u, "pw-pw-pw").unwrap();
    }
    f.accounts.create("example.org", "tybalt", "pw-pw-pw").unwrap();
    // A domain that is a prefix of another must not see the other's users.
    f.accounts.create("example.co", "paris", "pw-pw-pw").unwrap();
    assert_eq!(f.accounts.list("example.com").unwrap(), ["benvolio", "juliet", "mercutio", "romeo"]);
    f.accounts.delete("example.com", "Romeo").unwrap();
    assert!(matches!(f.accounts.delete("example.com", "romeo"), Err(AccountError::NotFound)));
    assert_eq!(f.accounts.list("example.com").unwrap(), ["benvolio", "juliet", "mercutio"]);
    assert_eq!(f.accounts.list("example.org").unwrap(), ["tybalt"]);
    assert_eq!(f.accounts.list("example.co").unwrap(), ["paris"]);
}

#[test]
fn list_crosses_pages() {
    let f = Fixture::new();
    let mut expected: Vec<String> = (0..LIST_PAGE + 3).map(|i| format!("u{i:05}")).collect();
    // Credentials are irrelevant here and PBKDF2 for a thousand users is slow.
    let c1 = ScramCredentials::derive(ScramHash::Sha1, "pw", b"salt", NonZeroU32::MIN);
    let c256 = ScramCredentials::derive(ScramHash::Sha256, "pw", b"salt", NonZeroU32::MIN);
    for u in &expected {
        f.accounts.create_with_credentials("example.com", u, &c1, &c256).unwrap();
    }
    expected.sort();
    assert_eq!(f.accounts.list("example.com").unwrap(), expected);
}

#[test]
fn stored_record_holds_no_password() {
    let f = Fixture::new();
    let password = "correct horse battery staple";
    f.accounts.create("example.com", "juliet", password).unwrap();
    let raw = f.storage.get(b"acct/example.com/juliet").unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(!text.contains(password), "{text}");
    assert!(!text.contains(&B64.encode(password)), "{text}");
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    for hash in ["sha1", "sha256"] {
        let fields: Vec<&String> = record[hash].as_object().unwrap().keys().collect();
        assert_eq!(fields, ["iterations", "salt", "server_key", "stored_key"], "{hash}");
    }
}

#[test]
fn credentials_match_a_fresh_derivation() {
    let f = Fixture::new();
    f.accounts.create("example.com", "juliet", "pencil").unwrap();
    for hash in [ScramHash::Sha1, ScramHash::Sha256] {
        let c = f.accounts.scram_credentials("example.com", "juliet", hash).unwrap().unwrap();
        assert_eq!(c.iterations.get(), 4096);
        assert_eq!(c.salt.len(), SALT_LEN);
        assert_eq!(ScramCredentials::derive(hash, "pencil", &c.salt, c.iterations), c);
    }
    let one = f.accounts.scram_credentials("example.com", "juliet", ScramHash::Sha1).unwrap().unwrap();
    let two = f.accounts.scram_credentials("example.com", "juliet", ScramHash::Sha256).unwrap().unwrap();
    assert_ne!(one.salt, two.salt, "each hash gets its own salt");
}

#[test]
fn corrupt_records_are_storage_errors() {
    let f = Fixture::new();
    f.storage.put(b"acct/example.com/broken", b"not json").unwrap();
    assert!(matches!(
        f.accounts.scram_credentials("example.com", "broken", ScramHash::Sha1),
        Err(AccountError::Storage(_))
    ));
    f.storage.put(b"acct/example.com/short", br#"{"sha1":{"salt":"AA==","iterations":1,"stored_key":"AA==","server_key":"AA=="},"sha256":{"salt":"AA==","iterations":0,"stored_key":"AA==","server_key":"AA=="}}"#).unwrap();
    assert!(matches!(
        f.accounts.scram_credentials("example.com", "short", ScramHash::Sha1),
        Err(AccountError::Storage(_))
    ));
    assert!(matches!(f.accounts.verify_password("example.com", "short", "pw"), Err(AccountError::Storage(_))));
}

#[test]
fn decoys_are_stable_and_distinct() {
    let f = Fixture::new();
    let a = f.accounts.decoy_credentials("example.com", "ghost", ScramHash::Sha256);
    assert_eq!(a, f.accounts.decoy_credentials("Example.com", "GHOST", ScramHash::Sha256));
    assert_ne!(a.salt, f.accounts.decoy_credentials("example.com", "ghost2", ScramHash::Sha256).salt);
    assert_eq!(a.salt.len(), SALT_LEN);
    assert_eq!(a.stored_key.len(), 32);
    assert_eq!(f.accounts.decoy_credentials("example.com", "ghost", ScramHash::Sha1).stored_key.len(), 20);
    // The secret persists, so a restart does not change what an unknown user looks like.
    let again = Accounts::new(f.storage.clone(), 4096);
    assert_eq!(a, again.decoy_credentials("example.com", "ghost", ScramHash::Sha256));
}

#[test]
fn low_iteration_counts_are_raised() {
    let f = Fixture::new();
    let weak = Accounts::new(f.storage.clone(), 1);
    weak.create("example.com", "u", "pw-pw-pw").unwrap();
    let c = weak.scram_credentials("example.com", "u", ScramHash::Sha256).unwrap().unwrap();
    assert_eq!(c.iterations.get(), 4096);
    let zero = Accounts::new(f.storage.clone(), 0);
    assert_eq!(zero.decoy_credentials("example.com", "x", ScramHash::Sha1).iterations.get(), 4096);
}

#[test]
fn disabling_is_kept_across_a_password_change_and_undone_by_enabling() {
    let f = Fixture::new();
    let a = &f.accounts;
    a.create("example.org", "dee", "pw-pw-pw").unwrap();
    assert!(!a.is_disabled("example.org", "dee").unwrap());
    a.set_disabled("example.org", "Dee", true).unwrap();
    assert!(a.is_disabled("example.org", "dee").unwrap());
    a.set_password("example.org", "dee", "new-pw-2").unwrap();
    assert!(a.is_disabled("example.org", "dee").unwrap(), "a new password does not enable it");
    assert!(a.verify_password("example.org", "dee", "new-pw-2").unwrap(), "the password still checks");
    a.set_disabled("example.org", "dee", false).unwrap();
    assert!(!a.is_disabled("example.org", "dee").unwrap());
    assert!(matches!(a.set_disabled("example.org", "nobody", true), Err(AccountError::NotFound)));
    assert!(!a.is_disabled("example.org", "nobody").unwrap());
}

#[test]
fn the_password_policy_applies_to_creating_and_changing_but_not_to_imports() {
    let f = Fixture::new();
    let a = &f.accounts;
    let err = a.create("example.org", "eve", "x").unwrap_err().to_string();
    assert!(err.contains("at least 6 characters"), "{err}");
    assert!(!a.exists("example.org", "eve").unwrap(), "nothing was created");
    a.create("example.org", "eve", "long-enough").unwrap();
    let err = a.set_password("example.org", "eve", "short").unwrap_err().to_string();
    assert!(err.contains("at least 6 characters"), "{err}");
    assert!(a.verify_password("example.org", "eve", "long-enough").unwrap(), "the old password stands");
    // A taken name is named as such, whatever the password.
    assert!(matches!(a.create("example.org", "eve", "x"), Err(AccountError::Exists)));
    // An imported account keeps the password it had elsewhere.
    a.create_imported("example.org", "old", "pw").unwrap();
    assert!(a.verify_password("example.org", "old", "pw").unwrap());
}

#[test]
fn a_domain_quota_holds_for_every_way_an_account_is_made() {
    let f = Fixture::new();
    f.accounts.create("a.example", "one", "secret-1").unwrap();
    f.accounts.set_quota("a.example", 2);
    f.accounts.create_imported("a.example", "two", "secret-2").unwrap();
    let full = f.accounts.create("a.example", "three", "secret-3").unwrap_err();
    assert!(matches!(full, AccountError::QuotaReached { limit: 2, .. }), "{full}");
    assert!(full.to_string().contains("quotas.accounts"), "the error names the key: {full}");
    assert!(matches!(
        f.accounts.create_imported("a.example", "three", "secret-3"),
        Err(AccountError::QuotaReached { .. })
    ));
    f.accounts.create("b.example", "three", "secret-3").unwrap();
    f.accounts.delete("a.example", "one").unwrap();
    f.accounts.create("a.example", "three", "secret-3").unwrap();
    f.accounts.set_quota("a.example", 0);
    f.accounts.create("a.example", "four", "secret-4").unwrap();
    assert_eq!(f.accounts.list("a.example").unwrap().len(), 3);
}
