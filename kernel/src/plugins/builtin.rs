//! The default plugins, built from `plugins/` by `kernel/build.rs` and
//! embedded in the binary, so `source = "builtin"` needs no file on disk.

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// The component bytes of the embedded plugin `name`.
pub fn find(name: &str) -> Option<&'static [u8]> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, bytes)| *bytes)
}

/// Names of the embedded plugins.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `\0asm`, then the component-model layer (0x0d 0x00 0x01 0x00): a core
    /// module would have been built by a toolchain without component support.
    const COMPONENT_HEADER: &[u8] = b"\0asm\x0d\x00\x01\x00";

    #[test]
    fn the_default_plugins_are_embedded_as_components() {
        for name in crate::config::DEFAULT_PLUGINS {
            let bytes = find(name).unwrap_or_else(|| panic!("{name} is not embedded"));
            assert!(bytes.starts_with(COMPONENT_HEADER), "{name} is not a component");
        }
        assert_eq!(names().count(), crate::config::DEFAULT_PLUGINS.len());
    }

    #[test]
    fn test_plugins_are_not_embedded() {
        for name in ["echo_v1", "spin", "trap", "snoop", ""] {
            assert!(find(name).is_none(), "{name:?} must not be embedded");
        }
    }
}
