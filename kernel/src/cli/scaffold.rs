//! `waxwing plugin new NAME`: a plugin that builds outside the repository,
//! answers one iq and declares one setting. In Rust, a crate on the SDK with
//! a unit test on its fake host; in C or Python, one source file built by the
//! repository's plugins/c/build.sh or plugins/python/build.sh.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::args::Lang;

/// (path, template) pairs; both get the placeholders replaced.
type Files = &'static [(&'static str, &'static str)];

const RUST: Files = &[
    ("Cargo.toml", include_str!("../../templates/rust/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("../../templates/rust/src/lib.rs.tmpl")),
    ("README.md", include_str!("../../templates/rust/README.md.tmpl")),
];
const C: Files = &[
    ("{{name}}.c", include_str!("../../templates/c/NAME.c.tmpl")),
    ("README.md", include_str!("../../templates/c/README.md.tmpl")),
];
const PYTHON: Files = &[
    ("app.py", include_str!("../../templates/python/app.py.tmpl")),
    ("README.md", include_str!("../../templates/python/README.md.tmpl")),
];

/// The build scripts a C or Python plugin is built with.
const BUILD_SCRIPTS: [&str; 2] = ["plugins/c/build.sh", "plugins/python/build.sh"];

/// The SDK this binary was built with, when its source is still there.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk")
}

/// The repository this binary was built from, when its source is still there.
fn default_repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `dir` (default: `default`) as an absolute path, if it holds `needs`;
/// else an error naming the `option` that points elsewhere.
fn locate(dir: Option<&Path>, default: PathBuf, needs: &[&str], what: &str, option: &str) -> anyhow::Result<PathBuf> {
    let dir = dir.map_or(default, Path::to_path_buf);
    dir.canonicalize().ok().filter(|d| needs.iter().all(|f| d.join(f).is_file())).with_context(|| {
        format!("{what} is not at {} (no {}): give its folder with {option}", dir.display(), needs.join(" or "))
    })
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

/// Writes the plugin into `dir` (default: `./NAME`), which must not exist yet.
pub fn run(
    name: &str,
    lang: Lang,
    dir: Option<&Path>,
    sdk: Option<&Path>,
    repo: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    check_name(name)?;
    // An option of another language would be silently ignored: say so instead.
    match (lang, sdk, repo) {
        (Lang::Rust, _, Some(_)) => bail!("--repo is for --lang c or python; a Rust plugin takes --sdk"),
        (Lang::C | Lang::Python, Some(_), _) => bail!("--sdk is for --lang rust; a C or Python plugin takes --repo"),
        _ => {}
    }
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists() {
        bail!("{} already exists: choose another --dir, or remove it", dir.display());
    }
    // (files, the placeholder for the folder they build with, that folder)
    let (files, key, root) = match lang {
        Lang::Rust => (RUST, "{{sdk}}", locate(sdk, default_sdk(), &["Cargo.toml"], "the Waxwing SDK", "--sdk")?),
        Lang::C | Lang::Python => {
            let files = if lang == Lang::C { C } else { PYTHON };
            (files, "{{repo}}", locate(repo, default_repo(), &BUILD_SCRIPTS, "the Waxwing repository", "--repo")?)
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let abs_dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    let ident = name.replace('-', "_"); // a Rust crate's or a C identifier's spelling
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate}}", &ident)
            .replace("{{ident}}", &ident)
            .replace("{{type}}", &type_name(name))
            .replace(key, &root.display().to_string())
            .replace("{{dir}}", &abs_dir.display().to_string())
    };
    for (file, template) in files {
        let path = dir.join(fill(file));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, fill(template)).with_context(|| format!("writing {}", path.display()))?;
    }
    let (dir, root) = (abs_dir.display(), root.display());
    let build = match lang {
        Lang::Rust => format!(
            "cd {dir} && cargo build --release --target wasm32-wasip2\n\
             then load {dir}/target/wasm32-wasip2/release/{ident}.wasm"
        ),
        Lang::C => format!("{root}/plugins/c/build.sh {dir} {dir}/{name}.wasm\nthen load {dir}/{name}.wasm"),
        Lang::Python => format!("{root}/plugins/python/build.sh {dir} {dir}/{name}.wasm\nthen load {dir}/{name}.wasm"),
    };
    println!("created plugin {name} in {dir}\nbuild it: {build} (see its README.md)");
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

    /// The files `run` wrote into `dir`, by path relative to it, checked to
    /// have every placeholder replaced.
    fn written(dir: &Path, files: &[&str]) -> Vec<String> {
        files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
                assert!(!text.contains("{{") && !text.contains("}}"), "{f} has a placeholder left:\n{text}");
                text
            })
            .collect()
    }

    #[test]
    fn writes_a_crate_and_refuses_to_overwrite() {
        let dir = crate::testutil::tempdir("scaffold").join("motd");
        run("motd", Lang::Rust, Some(&dir), None, None).unwrap();
        let [cargo, lib, _readme] = &written(&dir, &["Cargo.toml", "src/lib.rs", "README.md"])[..] else { panic!() };
        assert!(cargo.contains("name = \"motd\"") && cargo.contains("waxwing-sdk = { path = "), "{cargo}");
        assert!(lib.contains("struct Motd;"), "{lib}");
        let again = run("motd", Lang::Rust, Some(&dir), None, None).unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
        let other = dir.with_file_name("other");
        let no_sdk = run("other", Lang::Rust, Some(&other), Some(Path::new("/nonexistent")), None).unwrap_err();
        assert!(format!("{no_sdk:#}").contains("--sdk"), "{no_sdk:#}");
        let repo = run("other", Lang::Rust, Some(&other), None, Some(Path::new("/tmp"))).unwrap_err();
        assert!(repo.to_string().contains("--repo"), "{repo}");
        assert!(!other.exists(), "nothing written on an error");
    }

    #[test]
    fn writes_a_c_plugin_built_by_the_repositorys_script() {
        let dir = crate::testutil::tempdir("scaffold").join("my-hello");
        run("my-hello", Lang::C, Some(&dir), None, None).unwrap();
        let [c, readme] = &written(&dir, &["my-hello.c", "README.md"])[..] else { panic!() };
        assert!(c.contains("\"urn:example:my-hello\"") && c.contains("\"greeting\""), "{c}");
        let repo = default_repo().canonicalize().unwrap();
        let dir = dir.canonicalize().unwrap();
        let build = format!("{}/plugins/c/build.sh {} {}/my-hello.wasm", repo.display(), dir.display(), dir.display());
        assert!(readme.contains(&build), "{build}\n{readme}");
    }

    #[test]
    fn writes_a_python_plugin_and_checks_the_repository() {
        let dir = crate::testutil::tempdir("scaffold").join("hello_py");
        run("hello_py", Lang::Python, Some(&dir), None, None).unwrap();
        let [app, readme] = &written(&dir, &["app.py", "README.md"])[..] else { panic!() };
        assert!(app.contains("NS = \"urn:example:hello_py\"") && app.contains("name=\"hello_py\""), "{app}");
        assert!(readme.contains("/plugins/python/build.sh "), "{readme}");

        let other = dir.with_file_name("other");
        for lang in [Lang::C, Lang::Python] {
            let no_repo = run("other", lang, Some(&other), None, Some(Path::new("/tmp"))).unwrap_err();
            assert!(format!("{no_repo:#}").contains("--repo"), "{no_repo:#}");
            let sdk = run("other", lang, Some(&other), Some(&default_sdk()), None).unwrap_err();
            assert!(sdk.to_string().contains("--sdk"), "{sdk}");
        }
        assert!(!other.exists(), "nothing written on an error");
        // --repo given explicitly, not in canonical form: the README gets it resolved.
        let repo = default_repo().join("kernel/..");
        run("other", Lang::Python, Some(&other), None, Some(&repo)).unwrap();
        let [readme] = &written(&other, &["README.md"])[..] else { panic!() };
        assert!(readme.contains(&default_repo().canonicalize().unwrap().display().to_string()), "{readme}");
    }
}
