//! `waxwing plugin new NAME`: a Rust plugin crate that builds outside the
//! repository against the SDK, answers one iq, declares one setting and has
//! a unit test on the SDK's fake host.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../templates/rust/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("../../templates/rust/src/lib.rs.tmpl")),
    ("README.md", include_str!("../../templates/rust/README.md.tmpl")),
];

/// The SDK this binary was built with, when its source is still there.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk")
}

/// `my-plugin` → `MyPlugin`, the plugin's type in the template.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!("plugin name {name:?}: use lowercase letters, digits, '-' and '_', starting with a letter");
    }
    Ok(())
}

/// Writes the crate into `dir` (default: `./NAME`), which must not exist yet.
pub fn run(name: &str, dir: Option<&Path>, sdk: Option<&Path>) -> anyhow::Result<ExitCode> {
    check_name(name)?;
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists() {
        bail!("{} already exists: choose another --dir, or remove it", dir.display());
    }
    let sdk = sdk.map_or_else(default_sdk, Path::to_path_buf);
    let sdk = sdk.canonicalize().ok().filter(|p| p.join("Cargo.toml").is_file()).with_context(|| {
        format!("the Waxwing SDK is not at {}: give its folder (the repository's sdk/) with --sdk", sdk.display())
    })?;
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("creating {}", dir.display()))?;
    let abs_dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    let crate_name = name.replace('-', "_");
    for (file, template) in FILES {
        let text = template
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{type}}", &type_name(name))
            .replace("{{sdk}}", &sdk.display().to_string())
            .replace("{{dir}}", &abs_dir.display().to_string());
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "created plugin {name} in {}\nbuild it: cd {} && cargo build --release --target wasm32-wasip2\n\
         then load target/wasm32-wasip2/release/{crate_name}.wasm (see its README.md)",
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types() {
        assert_eq!(type_name("my-plugin"), "MyPlugin");
        assert_eq!(type_name("motd"), "Motd");
        assert!(check_name("motd_2").is_ok());
        for bad in ["", "Motd", "2fa", "a b", "../x"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn writes_a_crate_and_refuses_to_overwrite() {
        let dir = crate::testutil::tempdir("scaffold").join("motd");
        run("motd", Some(&dir), None).unwrap();
        let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"motd\"") && cargo.contains("waxwing-sdk = { path = "), "{cargo}");
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("struct Motd;") && !lib.contains("{{"), "{lib}");
        let again = run("motd", Some(&dir), None).unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
        let no_sdk = run("other", Some(&dir.with_file_name("other")), Some(Path::new("/nonexistent"))).unwrap_err();
        assert!(format!("{no_sdk:#}").contains("--sdk"), "{no_sdk:#}");
    }
}
