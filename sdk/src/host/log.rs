//! The server log, tagged by the kernel with the plugin's name and host.
//! Always available.

use super::sys;

pub use crate::bindings::waxwing::plugin::host::Level;

/// A line at `level`.
pub fn log(level: Level, message: &str) {
    sys::host::log(level, message);
}

/// A line at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// A line at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// A line at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// A line at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// A line at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
