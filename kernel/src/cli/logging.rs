//! Where logs go and in what form: stderr, at `server.log_level` or
//! `$WAXWING_LOG`, as a terminal, a file, journald or a log shipper reads
//! them best.

use std::io::IsTerminal as _;
use std::str::FromStr as _;
use std::sync::{Mutex, OnceLock, PoisonError};

use anyhow::anyhow;
use tracing::Dispatch;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::reload;

/// The environment variable that overrides `server.log_level`.
const LOG_ENV: &str = "WAXWING_LOG";

/// The installed subscriber's level, changeable while the server runs;
/// unset until [`init_logging`] installed one (tests, other commands).
static LIVE: OnceLock<LiveLevel> = OnceLock::new();

struct LiveLevel {
    handle: reload::Handle<LevelFilter, Registry>,
    /// `$WAXWING_LOG` as it was at start: it keeps winning over the config.
    env: Option<String>,
    /// What `server.log_level` last said (`None`: not a level), so a
    /// reload that leaves it alone changes and logs nothing.
    configured: Mutex<Option<LevelFilter>>,
}

/// Logs go to stderr at `level`, or at `$WAXWING_LOG` when set, in the form
/// [`log_format`] picks for whoever reads them.
pub fn init_logging(level: &str) -> anyhow::Result<()> {
    // `Environment=WAXWING_LOG=` in a unit file means unset, not "error".
    let env = std::env::var(LOG_ENV).ok().filter(|v| !v.trim().is_empty());
    let configured = parse_level(level);
    let level = match &env {
        Some(env) => parse_level(env).map_err(|e| anyhow!("{LOG_ENV}: {e}"))?,
        None => configured.clone().map_err(|e| anyhow!("server.log_level: {e}"))?,
    };
    let requested = std::env::var(LOG_FORMAT_ENV).ok();
    let format = log_format(requested.as_deref(), stderr_is_journal(), std::io::stderr().is_terminal())
        .map_err(|e| anyhow!("{LOG_FORMAT_ENV}: {e}"))?;
    let (dispatch, handle) = subscriber(format, level, std::io::stderr);
    // A second initialisation (tests, or a caller that set its own) keeps
    // the first, and the first's level stays the one to change.
    if tracing::dispatcher::set_global_default(dispatch).is_ok() {
        let _ = LIVE.set(LiveLevel { handle, env, configured: Mutex::new(configured.ok()) });
    }
    Ok(())
}

/// Lines in `format` to `writer`. The level is a layer of its own under the
/// formatter, so one handle type changes it whatever the format.
fn subscriber<W>(format: LogFormat, level: LevelFilter, writer: W) -> (Dispatch, reload::Handle<LevelFilter, Registry>)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let (filter, handle) = reload::Layer::new(level);
    let base = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    let dispatch = match format {
        LogFormat::Terminal => Dispatch::new(base.with(layer.with_ansi(true))),
        LogFormat::Plain => Dispatch::new(base.with(layer.with_ansi(false))),
        LogFormat::Journal => Dispatch::new(base.with(layer.with_ansi(false).event_format(JournalFormat::default()))),
        LogFormat::Json => Dispatch::new(base.with(layer.with_ansi(false).event_format(JsonFormat))),
    };
    (dispatch, handle)
}

/// A reload's `server.log_level`: the level from now on, unless
/// `$WAXWING_LOG` was set at start, which keeps winning (the reload then
/// says so in the log). Nothing happens where [`init_logging`] installed
/// no subscriber, but a bad level is still an error naming the key.
pub fn set_log_level(level: &str) -> anyhow::Result<()> {
    let wanted = parse_level(level).map_err(|e| anyhow!("server.log_level: {e}"))?;
    let Some(live) = LIVE.get() else { return Ok(()) };
    let mut configured = live.configured.lock().unwrap_or_else(PoisonError::into_inner);
    if *configured == Some(wanted) {
        return Ok(());
    }
    *configured = Some(wanted);
    let name = level.trim().to_ascii_lowercase();
    if let Some(env) = &live.env {
        tracing::info!("server.log_level is now {name}, but ${LOG_ENV}={env:?} overrides it: logging stays as it was");
        return Ok(());
    }
    // Said at the more verbose of the two levels, so whoever reads either
    // sees the change: before lowering the level, after raising it.
    let louder = live.handle.clone_current().is_none_or(|current| wanted > current);
    if !louder {
        tracing::info!("log level is now {name}");
    }
    live.handle.reload(wanted).map_err(|e| anyhow!("changing the log level to {name}: {e}"))?;
    if louder {
        tracing::info!("log level is now {name}");
    }
    Ok(())
}

/// `json` for log shippers; anything else is chosen from where stderr goes.
const LOG_FORMAT_ENV: &str = "WAXWING_LOG_FORMAT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogFormat {
    /// A person at a terminal: timestamps and colours.
    Terminal,
    /// A file or a pipe: timestamps, no colours.
    Plain,
    /// journald, which stamps each line itself and reads a `<N>` syslog
    /// priority at its start, so `journalctl -p warning` works.
    Journal,
    /// One JSON object a line.
    Json,
}

fn log_format(requested: Option<&str>, journal: bool, terminal: bool) -> Result<LogFormat, String> {
    match requested.map(str::trim) {
        Some("json") => Ok(LogFormat::Json),
        None | Some("") | Some("auto") => Ok(if journal {
            LogFormat::Journal
        } else if terminal {
            LogFormat::Terminal
        } else {
            LogFormat::Plain
        }),
        Some(other) => Err(format!("{other:?} is not a log format: use json, or auto (the default)")),
    }
}

/// systemd sets `JOURNAL_STREAM=DEV:INODE` for a service whose output goes
/// to the journal; a child that inherited the variable but writes
/// elsewhere (a shell redirect) has another stderr, so the two are compared.
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::MetadataExt as _;
    let Some(var) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Ok(stderr) = std::io::stderr().as_fd().try_clone_to_owned() else { return false };
    let Ok(meta) = std::fs::File::from(stderr).metadata() else { return false };
    var.to_str() == Some(format!("{}:{}", meta.dev(), meta.ino()).as_str())
}

/// sd-daemon(3)'s priority prefixes.
fn syslog_priority(level: &tracing::Level) -> u8 {
    match *level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

/// The usual line without its timestamp, after a `<N>` priority.
struct JournalFormat(tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Full, ()>);

impl Default for JournalFormat {
    fn default() -> Self {
        JournalFormat(tracing_subscriber::fmt::format().without_time().with_ansi(false))
    }
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JournalFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", syslog_priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// `{"timestamp":…,"level":…,"target":…,"spans":[…],"fields":{"message":…}}`,
/// written with serde_json (tracing-subscriber's own `json` feature would
/// bring tracing-serde into the build for the same lines).
struct JsonFormat;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use tracing_subscriber::fmt::time::FormatTime as _;
        let mut time = String::new();
        tracing_subscriber::fmt::time::SystemTime
            .format_time(&mut tracing_subscriber::fmt::format::Writer::new(&mut time))?;
        let mut fields = JsonFields(serde_json::Map::new());
        event.record(&mut fields);
        let meta = event.metadata();
        let mut line = serde_json::Map::new();
        line.insert("timestamp".into(), time.into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<serde_json::Value> = scope.from_root().map(|s| s.name().into()).collect();
            line.insert("spans".into(), spans.into());
        }
        line.insert("fields".into(), fields.0.into());
        writeln!(writer, "{}", serde_json::Value::Object(line))
    }
}

struct JsonFields(serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for JsonFields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
}

/// Only the names: tracing also reads "" as error and digits as levels,
/// which no one writing a config means.
fn parse_level(text: &str) -> Result<LevelFilter, String> {
    let name = text.trim();
    let digits = name.bytes().all(|b| b.is_ascii_digit());
    (!digits)
        .then(|| LevelFilter::from_str(name).ok())
        .flatten()
        .ok_or_else(|| format!("{text:?} is not a log level: use one of off, error, warn, info, debug, trace"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_format_follows_the_reader() {
        assert_eq!(log_format(None, true, true), Ok(LogFormat::Journal), "journald wins over a terminal");
        assert_eq!(log_format(None, false, true), Ok(LogFormat::Terminal));
        assert_eq!(log_format(Some(""), false, false), Ok(LogFormat::Plain));
        assert_eq!(log_format(Some("auto"), true, false), Ok(LogFormat::Journal));
        assert_eq!(log_format(Some("json"), true, true), Ok(LogFormat::Json), "asked for: even under systemd");
        assert!(log_format(Some("xml"), false, false).unwrap_err().contains("\"xml\""));
        // Where stderr is no journal stream (a test's pipe), none is assumed.
        assert!(!stderr_is_journal() || std::env::var_os("JOURNAL_STREAM").is_some());
    }

    use crate::testutil::LogBuf as Buf;

    /// What a subscriber with `format` writes for one warning with a field.
    fn one_line<F>(format: F) -> String
    where
        F: tracing_subscriber::fmt::FormatEvent<
                tracing_subscriber::Registry,
                tracing_subscriber::fmt::format::DefaultFields,
            > + Send
            + Sync
            + 'static,
    {
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber =
            tracing_subscriber::fmt().with_writer(move || buf.clone()).with_ansi(false).event_format(format).finish();
        tracing::subscriber::with_default(subscriber, || tracing::warn!(peer = "b.example", n = 3, "queue full"));
        out.text()
    }

    #[test]
    fn journal_lines_carry_a_priority_and_no_timestamp() {
        let line = one_line(JournalFormat::default());
        assert!(line.starts_with("<4> WARN ") || line.starts_with("<4>WARN "), "{line:?}");
        assert!(line.contains("queue full") && line.contains("peer=\"b.example\""), "{line:?}");
        assert!(!line.contains(":00") && !line.chars().take(8).any(|c| c.is_ascii_digit() && c != '4'), "{line:?}");
        assert_eq!(syslog_priority(&tracing::Level::ERROR), 3);
        assert_eq!(syslog_priority(&tracing::Level::TRACE), 7);
    }

    #[test]
    fn json_lines_are_one_object_each() {
        let line = one_line(JsonFormat);
        assert_eq!(line.lines().count(), 1, "{line:?}");
        let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["fields"]["message"], "queue full");
        assert_eq!(v["fields"]["peer"], "b.example");
        assert_eq!(v["fields"]["n"], 3);
        assert!(v["timestamp"].as_str().is_some_and(|t| t.contains('T')), "{v}");
    }

    #[test]
    fn levels() {
        assert_eq!(parse_level("debug").unwrap(), LevelFilter::DEBUG);
        assert_eq!(parse_level("WARN").unwrap(), LevelFilter::WARN);
        assert!(parse_level("loud").unwrap_err().contains("\"loud\""));
        assert!(parse_level(" ").is_err() && parse_level("3").is_err(), "tracing's own readings of these");
    }

    #[test]
    fn the_level_changes_under_every_format() {
        for format in [LogFormat::Terminal, LogFormat::Plain, LogFormat::Journal, LogFormat::Json] {
            let buf = Buf::default();
            let out = buf.clone();
            let (dispatch, handle) = subscriber(format, LevelFilter::WARN, move || buf.clone());
            tracing::dispatcher::with_default(&dispatch, || {
                // One callsite for both, so its cached interest must follow the change.
                let say = |text: &str| tracing::debug!("{text}");
                say("before the change");
                handle.reload(LevelFilter::DEBUG).unwrap();
                say("after raising");
                handle.reload(LevelFilter::ERROR).unwrap();
                say("after lowering");
                tracing::warn!("a warning");
            });
            let text = out.text();
            assert!(text.contains("after raising"), "{format:?}: {text:?}");
            assert!(!text.contains("before the change") && !text.contains("after lowering"), "{format:?}: {text:?}");
            assert!(!text.contains("a warning"), "{format:?}: {text:?}");
        }
    }

    #[test]
    fn a_reload_with_a_bad_level_names_the_key() {
        for bad in ["loud", "", "verbose", "all", "2"] {
            let e = set_log_level(bad).unwrap_err().to_string();
            assert!(e.contains("server.log_level") && e.contains(&format!("{bad:?}")), "{e}");
            assert!(e.contains("error, warn, info, debug, trace"), "the allowed values: {e}");
        }
        // Without a subscriber of its own (unit tests), a good level changes nothing and is fine.
        assert!(set_log_level(" WARN ").is_ok());
    }
}
