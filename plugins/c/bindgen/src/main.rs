//! The C plugins' build tool (plugins/c/build.sh runs it):
//!
//!   c-bindgen gen <wit-dir> <world> <out-dir>   C bindings: <world>.h, <world>.c, <world>_component_type.o
//!   c-bindgen new <core.wasm> <out.wasm>        the component of a core module (`wasm-tools component new`)
//!   c-bindgen wit <component.wasm>              the component's WIT world (`wasm-tools component wit`)

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_bindgen_core::{Files, wit_parser::Resolve};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["gen", wit, world, out] => generate(wit, world, out),
        ["new", core, out] => component(core, out),
        ["wit", component] => print_wit(component),
        _ => bail!(
            "usage: c-bindgen gen <wit-dir> <world> <out-dir> | new <core.wasm> <out.wasm> | wit <component.wasm>"
        ),
    }
}

fn generate(wit: &str, world: &str, out: &str) -> Result<()> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve.push_path(wit).with_context(|| format!("reading the WIT in {wit}"))?;
    let world = resolve.select_world(&[pkg], Some(world)).with_context(|| format!("world {world} in {wit}"))?;
    let mut files = Files::default();
    wit_bindgen_c::Opts::default().build().generate(&mut resolve, world, &mut files)?;
    fs::create_dir_all(out).with_context(|| format!("creating {out}"))?;
    for (name, bytes) in files.iter() {
        let path = Path::new(out).join(name);
        fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn component(core: &str, out: &str) -> Result<()> {
    let module = fs::read(core).with_context(|| format!("reading {core}"))?;
    // The adapter is offered, not forced: a module that imports nothing from
    // wasi_snapshot_preview1 (no stdio, clocks or files) gets a component
    // without it, byte for byte what it would be with no adapter given.
    let bytes = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .with_context(|| format!("{core}: not a core module with component type information"))?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)?
        .encode()
        .with_context(|| format!("making a component of {core}"))?;
    fs::write(out, bytes).with_context(|| format!("writing {out}"))
}

fn print_wit(component: &str) -> Result<()> {
    let bytes = fs::read(component).with_context(|| format!("reading {component}"))?;
    let decoded = wit_component::decode(&bytes).with_context(|| format!("{component}: not a component"))?;
    let mut printer = wit_component::WitPrinter::default();
    printer.print(decoded.resolve(), decoded.package(), &[])?;
    print!("{}", printer.output);
    Ok(())
}
