use std::num::NonZeroU32;

use super::*;
use crate::accounts::ScramCredentials;
use crate::storage::Storage;

const DOMAIN: &str = "example.com";
const EXPORTER: [u8; 32] = [7; 32];

struct Fixture {
    dir: std::path::PathBuf,
    accounts: Accounts,
}

impl Fixture {
    fn new() -> Self {
        let dir = crate::testutil::tempdir("sasl");
        let accounts = Accounts::new(Storage::open(&dir).unwrap(), 4096);
        accounts.create(DOMAIN, "juliet", "r0meo-pw").unwrap();
        Fixture { dir, accounts }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bound() -> ChannelBinding {
    ChannelBinding { tls_exporter: Some(EXPORTER.to_vec()) }
}

fn challenge(step: Step) -> String {
    match step {
        Step::Challenge(bytes) => String::from_utf8(bytes).unwrap(),
        other => panic!("expected a challenge, got {other:?}"),
    }
}

fn failure(condition: SaslFailure, text: &str) -> Step {
    Step::Failure(condition, Some(text.to_owned()))
}

fn attr<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.split(',').find_map(|a| a.strip_prefix(name)).unwrap()
}

/// The client side of SCRAM, to drive exchanges the RFCs have no vector for.
fn client_final(hash: ScramHash, password: &str, cbind_input: &[u8], bare: &str, server_first: &str) -> String {
    let salt = B64.decode(attr(server_first, "s=")).unwrap();
    let iterations: NonZeroU32 = attr(server_first, "i=").parse().unwrap();
    let salted = hash.salted_password(password.as_bytes(), &salt, iterations);
    let client_key = hash.hmac(&salted, b"Client Key");
    let without_proof = format!("c={},r={}", B64.encode(cbind_input), attr(server_first, "r="));
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let signature = hash.hmac(&hash.h(&client_key), auth_message.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(signature).map(|(a, b)| a ^ b).collect();
    format!("{without_proof},p={}", B64.encode(proof))
}

/// Runs a SCRAM exchange whose client first message is `gs2 + bare` and whose
/// `c=` carries `cbind_input`; returns the server's last step.
fn run_scram(
    f: &Fixture,
    mech: Mechanism,
    binding: ChannelBinding,
    gs2: &str,
    bare: &str,
    password: &str,
    cbind_input: &[u8],
) -> Step {
    let first = format!("{gs2}{bare}");
    let (mut ex, step) = SaslExchange::start(mech, DOMAIN, &f.accounts, binding, Some(first.as_bytes()));
    let Step::Challenge(server_first) = step else { return step };
    let server_first = String::from_utf8(server_first).unwrap();
    let hash = mech.scram().unwrap().0;
    ex.step(&f.accounts, client_final(hash, password, cbind_input, bare, &server_first).as_bytes())
}

fn success(username: &str) -> impl Fn(&Step) -> bool + '_ {
    move |s| matches!(s, Step::Success { username: u, additional_data: Some(v) } if u == username && v.starts_with(b"v="))
}

#[test]
fn rfc5802_sha1_example() {
    let f = Fixture::new();
    let salt = B64.decode("QSXCR+Q6sek8bf92").unwrap();
    let it = NonZeroU32::new(4096).unwrap();
    let sha1 = ScramCredentials::derive(ScramHash::Sha1, "pencil", &salt, it);
    let sha256 = ScramCredentials::derive(ScramHash::Sha256, "pencil", &salt, it);
    f.accounts.create_with_credentials(DOMAIN, "user", &sha1, &sha256).unwrap();
    let (mut ex, step) = SaslExchange::start_with_nonce(
        Mechanism::ScramSha1,
        DOMAIN,
        &f.accounts,
        ChannelBinding::default(),
        Some(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"),
        "3rfcNHYJY1ZVvWVs7j",
    );
    assert_eq!(challenge(step), "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
    let step =
        ex.step(&f.accounts, b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
    assert_eq!(
        step,
        Step::Success { username: "user".into(), additional_data: Some(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=".to_vec()) }
    );
    assert_eq!(ex.step(&f.accounts, b"c=biws"), failure(SaslFailure::MalformedRequest, "the exchange is over"));
}

#[test]
fn rfc7677_sha256_example() {
    let f = Fixture::new();
    let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let it = NonZeroU32::new(4096).unwrap();
    let sha1 = ScramCredentials::derive(ScramHash::Sha1, "pencil", &salt, it);
    let sha256 = ScramCredentials::derive(ScramHash::Sha256, "pencil", &salt, it);
    f.accounts.create_with_credentials(DOMAIN, "user", &sha1, &sha256).unwrap();
    // Without an initial response the server asks for one with an empty challenge.
    let (mut ex, step) = SaslExchange::start_with_nonce(
        Mechanism::ScramSha256,
        DOMAIN,
        &f.accounts,
        ChannelBinding::default(),
        None,
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    );
    assert_eq!(step, Step::Challenge(Vec::new()));
    let step = ex.step(&f.accounts, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    assert_eq!(
        challenge(step),
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );
    let step = ex.step(
        &f.accounts,
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
          p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    );
    assert_eq!(
        step,
        Step::Success {
            username: "user".into(),
            additional_data: Some(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec())
        }
    );
}

#[test]
fn round_trips_with_random_nonces() {
    let f = Fixture::new();
    for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
        let step = run_scram(&f, mech, ChannelBinding::default(), "n,,", "n=Juliet,r=abc", "r0meo-pw", b"n,,");
        assert!(success("juliet")(&step), "{mech:?}: {step:?}");
    }
    let (_, step) = SaslExchange::start(
        Mechanism::ScramSha256,
        DOMAIN,
        &f.accounts,
        ChannelBinding::default(),
        Some(b"n,,n=juliet,r=abc"),
    );
    let server_nonce = attr(&challenge(step), "r=").strip_prefix("abc").unwrap().to_owned();
    assert!(server_nonce.len() >= 24, "{server_nonce}");
    let (_, again) = SaslExchange::start(
        Mechanism::ScramSha256,
        DOMAIN,
        &f.accounts,
        ChannelBinding::default(),
        Some(b"n,,n=juliet,r=abc"),
    );
    assert_ne!(attr(&challenge(again), "r="), format!("abc{server_nonce}"));
}

#[test]
fn wrong_password_and_unknown_user_look_alike() {
    let f = Fixture::new();
    let wrong =
        run_scram(&f, Mechanism::ScramSha256, ChannelBinding::default(), "n,,", "n=juliet,r=a", "tybalt", b"n,,");
    assert_eq!(wrong, Step::Failure(SaslFailure::NotAuthorized, None));
    let unknown =
        run_scram(&f, Mechanism::ScramSha256, ChannelBinding::default(), "n,,", "n=ghost,r=a", "tybalt", b"n,,");
    assert_eq!(unknown, wrong);

    let server_first = |user: &str| {
        let first = format!("n,,n={user},r=a");
        let (_, s) = SaslExchange::start(
            Mechanism::ScramSha1,
            DOMAIN,
            &f.accounts,
            ChannelBinding::default(),
            Some(first.as_bytes()),
        );
        challenge(s)
    };
    let (ghost, real) = (server_first("ghost"), server_first("juliet"));
    // Same shape as a real account, and the same salt each time it is asked.
    assert_eq!(attr(&ghost, "i="), attr(&real, "i="));
    assert_eq!(B64.decode(attr(&ghost, "s=")).unwrap().len(), B64.decode(attr(&real, "s=")).unwrap().len());
    assert_eq!(attr(&ghost, "s="), attr(&server_first("ghost"), "s="));
    assert_ne!(attr(&ghost, "s="), attr(&server_first("ghost2"), "s="));
}

#[test]
fn channel_binding() {
    let f = Fixture::new();
    let gs2 = "p=tls-exporter,,";
    let mut good = gs2.as_bytes().to_vec();
    good.extend_from_slice(&EXPORTER);
    let ok = run_scram(&f, Mechanism::ScramSha256Plus, bound(), gs2, "n=juliet,r=a", "r0meo-pw", &good);
    assert!(success("juliet")(&ok), "{ok:?}");
    let ok = run_scram(&f, Mechanism::ScramSha1Plus, bound(), gs2, "n=juliet,r=a", "r0meo-pw", &good);
    assert!(success("juliet")(&ok), "{ok:?}");

    let mismatch = failure(SaslFailure::NotAuthorized, "channel binding does not match");
    let mut other = gs2.as_bytes().to_vec();
    other.extend_from_slice(&[8; 32]);
    assert_eq!(run_scram(&f, Mechanism::ScramSha256Plus, bound(), gs2, "n=juliet,r=a", "r0meo-pw", &other), mismatch);
    assert_eq!(
        run_scram(&f, Mechanism::ScramSha256Plus, bound(), gs2, "n=juliet,r=a", "r0meo-pw", gs2.as_bytes()),
        mismatch
    );
    // c= must repeat the gs2 header the client actually sent.
    assert_eq!(
        run_scram(&f, Mechanism::ScramSha256, ChannelBinding::default(), "n,,", "n=juliet,r=a", "r0meo-pw", b"y,,"),
        mismatch
    );
}

#[test]
fn channel_binding_refusals() {
    let f = Fixture::new();
    let start =
        |mech, binding, first: &str| SaslExchange::start(mech, DOMAIN, &f.accounts, binding, Some(first.as_bytes())).1;
    assert_eq!(
        start(Mechanism::ScramSha256Plus, ChannelBinding::default(), "p=tls-exporter,,n=juliet,r=a"),
        failure(SaslFailure::InvalidMechanism, "no channel binding on this connection")
    );
    assert_eq!(
        start(Mechanism::ScramSha256Plus, bound(), "p=tls-unique,,n=juliet,r=a"),
        failure(SaslFailure::NotAuthorized, "only tls-exporter channel binding is supported")
    );
    assert_eq!(
        start(Mechanism::ScramSha256, bound(), "p=tls-exporter,,n=juliet,r=a"),
        failure(SaslFailure::MalformedRequest, "channel binding needs a -PLUS mechanism")
    );
    for flag in ["n", "y"] {
        assert_eq!(
            start(Mechanism::ScramSha1Plus, bound(), &format!("{flag},,n=juliet,r=a")),
            failure(SaslFailure::MalformedRequest, "a -PLUS mechanism needs channel binding")
        );
    }
}

#[test]
fn y_flag_is_a_downgrade_only_when_plus_was_offered() {
    let f = Fixture::new();
    assert_eq!(
        run_scram(&f, Mechanism::ScramSha256, bound(), "y,,", "n=juliet,r=a", "r0meo-pw", b"y,,"),
        failure(SaslFailure::NotAuthorized, "channel binding was offered; possible downgrade")
    );
    let ok =
        run_scram(&f, Mechanism::ScramSha256, ChannelBinding::default(), "y,,", "n=juliet,r=a", "r0meo-pw", b"y,,");
    assert!(success("juliet")(&ok), "{ok:?}");
    // With binding available but a plain `n`, the client simply chose not to bind.
    let ok = run_scram(&f, Mechanism::ScramSha256, bound(), "n,,", "n=juliet,r=a", "r0meo-pw", b"n,,");
    assert!(success("juliet")(&ok), "{ok:?}");
}

#[test]
fn authzid_must_be_the_user_itself() {
    let f = Fixture::new();
    for gs2 in ["n,a=juliet@example.com,", "n,a=Juliet@EXAMPLE.com,"] {
        let step = run_scram(
            &f,
            Mechanism::ScramSha256,
            ChannelBinding::default(),
            gs2,
            "n=juliet,r=a",
            "r0meo-pw",
            gs2.as_bytes(),
        );
        assert!(success("juliet")(&step), "{gs2}: {step:?}");
    }
    for gs2 in [
        "n,a=romeo@example.com,",
        "n,a=juliet@example.org,",
        "n,a=juliet@example.com/balcony,",
        "n,a=example.com,",
        "n,a=@@,",
    ] {
        let step = run_scram(
            &f,
            Mechanism::ScramSha256,
            ChannelBinding::default(),
            gs2,
            "n=juliet,r=a",
            "r0meo-pw",
            gs2.as_bytes(),
        );
        assert_eq!(step, Step::Failure(SaslFailure::InvalidAuthzid, None), "{gs2}");
    }
}

#[test]
fn malformed_client_first() {
    let f = Fixture::new();
    let start = |first: &[u8]| {
        SaslExchange::start(Mechanism::ScramSha256, DOMAIN, &f.accounts, ChannelBinding::default(), Some(first)).1
    };
    assert_eq!(start(b"n,,n=juli\xffet,r=a"), failure(SaslFailure::MalformedRequest, "not UTF-8"));
    assert_eq!(start(b"n,,r=a,n=juliet"), failure(SaslFailure::MalformedRequest, "expected n= first"));
    assert_eq!(start(b"n,,n=juliet"), failure(SaslFailure::MalformedRequest, "expected r= after n="));
    assert_eq!(start(b"n=juliet,r=a"), failure(SaslFailure::MalformedRequest, "no gs2 header"));
    assert_eq!(
        start(b"n,,m=x,n=juliet,r=a"),
        failure(SaslFailure::MalformedRequest, "mandatory extensions are not supported")
    );
    assert_eq!(start(&[b'a'; MAX_MESSAGE + 1]), failure(SaslFailure::MalformedRequest, "message too long"));
    // A name nodeprep refuses cannot be an account.
    assert_eq!(start(b"n,,n=jul iet,r=a"), Step::Failure(SaslFailure::NotAuthorized, None));
    // After a failure the exchange stays failed.
    let (mut ex, step) =
        SaslExchange::start(Mechanism::ScramSha256, DOMAIN, &f.accounts, ChannelBinding::default(), Some(b"bogus"));
    assert!(matches!(step, Step::Failure(SaslFailure::MalformedRequest, _)));
    assert_eq!(
        ex.step(&f.accounts, b"n,,n=juliet,r=a"),
        failure(SaslFailure::MalformedRequest, "the exchange is over")
    );
}

#[test]
fn malformed_client_final() {
    let f = Fixture::new();
    let bare = "n=juliet,r=cnonce";
    // An exchange after its first round, and the final message a correct client would send.
    let fresh = || {
        let first = format!("n,,{bare}");
        let (ex, s) = SaslExchange::start(
            Mechanism::ScramSha256,
            DOMAIN,
            &f.accounts,
            ChannelBinding::default(),
            Some(first.as_bytes()),
        );
        let good = client_final(ScramHash::Sha256, "r0meo-pw", b"n,,", bare, &challenge(s));
        (ex, good)
    };
    type Build = Box<dyn Fn(&str, &str) -> Vec<u8>>;
    let malformed = |text| failure(SaslFailure::MalformedRequest, text);
    let cases: Vec<(Build, Step)> = vec![
        (Box::new(|_, _| b"c=biws,r=\xff,p=AAAA".to_vec()), malformed("not UTF-8")),
        (Box::new(|n, p| format!("r={n},c=biws,p={p}").into_bytes()), malformed("expected c= first")),
        (Box::new(|n, _| format!("c=biws,r={n}").into_bytes()), malformed("expected p= last")),
        (Box::new(|_, p| format!("c=biws,p={p}").into_bytes()), malformed("expected r= after c=")),
        (Box::new(|n, p| format!("c=biws,r={n},p={p}=").into_bytes()), malformed("p= is not base64")),
        (Box::new(|n, _| format!("c=biws,r={n},p=AAAA").into_bytes()), malformed("proof has the wrong length")),
        (
            Box::new(|n, p| format!("c=biws,r={n}x,p={p}").into_bytes()),
            failure(SaslFailure::NotAuthorized, "nonce does not match"),
        ),
        (
            Box::new(|_, p| format!("c=biws,r=cnonce,p={p}").into_bytes()),
            failure(SaslFailure::NotAuthorized, "nonce does not match"),
        ),
    ];
    for (build, expected) in cases {
        let (mut ex, good) = fresh();
        let msg = build(attr(&good, "r="), attr(&good, "p="));
        assert_eq!(ex.step(&f.accounts, &msg), expected, "{}", String::from_utf8_lossy(&msg));
    }
    // The untouched message does succeed, so each case above failed for its own reason.
    let (mut ex, good) = fresh();
    assert!(success("juliet")(&ex.step(&f.accounts, good.as_bytes())));
}

#[test]
fn plain() {
    let f = Fixture::new();
    let start =
        |msg: &[u8]| SaslExchange::start(Mechanism::Plain, DOMAIN, &f.accounts, ChannelBinding::default(), Some(msg)).1;
    let ok = Step::Success { username: "juliet".into(), additional_data: None };
    assert_eq!(start(b"\0juliet\0r0meo-pw"), ok);
    assert_eq!(start(b"\0Juliet\0r0meo-pw"), ok);
    assert_eq!(start(b"juliet@example.com\0juliet\0r0meo-pw"), ok);
    let denied = Step::Failure(SaslFailure::NotAuthorized, None);
    assert_eq!(start(b"\0juliet\0tybalt"), denied);
    assert_eq!(start(b"\0ghost\0r0meo-pw"), denied);
    assert_eq!(start(b"\0jul iet\0r0meo-pw"), denied);
    assert_eq!(start(b"\0juliet\0\x07"), denied, "a password SASLprep refuses matches nothing");
    assert_eq!(start(b"romeo@example.com\0juliet\0r0meo-pw"), Step::Failure(SaslFailure::InvalidAuthzid, None));
    assert_eq!(start(b"juliet@example.com/r\0juliet\0r0meo-pw"), Step::Failure(SaslFailure::InvalidAuthzid, None));
    let split = failure(SaslFailure::MalformedRequest, "expected authzid, authcid and password separated by NUL");
    assert_eq!(start(b"juliet\0r0meo-pw"), split);
    assert_eq!(start(b"\0juliet\0r0meo-pw\0"), split);
    assert_eq!(start(b"\0\0r0meo-pw"), failure(SaslFailure::MalformedRequest, "empty username or password"));
    assert_eq!(start(b"\0juliet\0"), failure(SaslFailure::MalformedRequest, "empty username or password"));
    assert_eq!(start(b"\0juliet\0r0m\xffeo"), failure(SaslFailure::MalformedRequest, "not UTF-8"));

    let (mut ex, step) =
        SaslExchange::start(Mechanism::Plain, DOMAIN, &f.accounts, ChannelBinding::default(), Some(b""));
    assert_eq!(step, Step::Challenge(Vec::new()));
    assert_eq!(ex.step(&f.accounts, b"\0juliet\0r0meo-pw"), ok);
    assert_eq!(
        ex.step(&f.accounts, b"\0juliet\0r0meo-pw"),
        failure(SaslFailure::MalformedRequest, "the exchange is over")
    );
}

#[test]
fn unusable_domain_is_a_temporary_failure() {
    let f = Fixture::new();
    let (mut ex, step) =
        SaslExchange::start(Mechanism::Plain, "bad/domain", &f.accounts, ChannelBinding::default(), None);
    assert_eq!(step, Step::Failure(SaslFailure::TemporaryAuthFailure, None));
    assert!(matches!(ex.step(&f.accounts, b"\0juliet\0r0meo-pw"), Step::Failure(SaslFailure::MalformedRequest, _)));
}

#[test]
fn mechanism_names() {
    for m in Mechanism::ALL {
        assert_eq!(Mechanism::from_name(m.name()), Some(m));
    }
    assert_eq!(Mechanism::from_name("scram-sha-1"), None);
    assert_eq!(Mechanism::from_name("DIGEST-MD5"), None);
    assert_eq!(Mechanism::from_name(""), None);
}

#[test]
fn offered_mechanisms() {
    use Mechanism::*;
    assert_eq!(Mechanism::offered(false, false, true), [ScramSha256, ScramSha1]);
    assert_eq!(Mechanism::offered(false, true, true), [ScramSha256, ScramSha1], "no binding without TLS");
    assert_eq!(Mechanism::offered(true, false, false), [ScramSha256, ScramSha1]);
    assert_eq!(Mechanism::offered(true, false, true), [ScramSha256, ScramSha1, Plain]);
    assert_eq!(Mechanism::offered(true, true, true), [ScramSha256Plus, ScramSha1Plus, ScramSha256, ScramSha1, Plain]);
}

#[test]
fn failure_names() {
    use SaslFailure::*;
    let all = [
        Aborted,
        AccountDisabled,
        CredentialsExpired,
        EncryptionRequired,
        IncorrectEncoding,
        InvalidAuthzid,
        InvalidMechanism,
        MalformedRequest,
        MechanismTooWeak,
        NotAuthorized,
        TemporaryAuthFailure,
    ];
    let names: Vec<&str> = all.iter().map(|f| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "aborted",
            "account-disabled",
            "credentials-expired",
            "encryption-required",
            "incorrect-encoding",
            "invalid-authzid",
            "invalid-mechanism",
            "malformed-request",
            "mechanism-too-weak",
            "not-authorized",
            "temporary-auth-failure"
        ]
    );
    assert_eq!(NotAuthorized.to_string(), "not-authorized");
}
