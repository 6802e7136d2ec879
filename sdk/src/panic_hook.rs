//! A panic in a plugin is a trap (`panic = "abort"`, and wasm32 never
//! unwinds), which the kernel can only report as "wasm unreachable
//! executed". This hook sends the message and where it happened to the
//! server log first, at error level.

use std::panic::{self, PanicHookInfo};
use std::sync::Once;

use crate::host::log;

static INSTALLED: Once = Once::new();

/// Installs the hook, once per instance; every export calls this on entry.
/// The previous hook still runs after it (natively, that is the test
/// harness's report).
pub(crate) fn install() {
    INSTALLED.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            log::error(&describe(info));
            previous(info);
        }));
    });
}

/// "panicked at src/lib.rs:42:5: index out of bounds".
fn describe(info: &PanicHookInfo<'_>) -> String {
    let message = info.payload_as_str().unwrap_or("(a panic without a message)");
    match info.location() {
        Some(at) => format!("panicked at {}:{}:{}: {message}", at.file(), at.line(), at.column()),
        None => format!("panicked: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;

    #[test]
    fn a_panic_reaches_the_log_with_its_location() {
        install();
        install();
        FakeHost::reset();
        let line = line!() + 1;
        let caught = std::panic::catch_unwind(|| panic!("index {} out of bounds", 7));
        assert!(caught.is_err());
        let errors = FakeHost::logs_at(log::Level::Error);
        let expected = format!("panicked at {}:{line}:", file!());
        assert!(
            errors.iter().any(|l| l.starts_with(&expected) && l.ends_with(": index 7 out of bounds")),
            "{errors:?}"
        );
    }
}
