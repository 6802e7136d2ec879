#!/usr/bin/env bash
# Builds every C plugin, plugins/c/<name>/ (the directory holding <name>.c),
# into target/plugins/c/<name>.wasm:
#   1. plugins/c/bindgen, a small Rust tool on wit-bindgen's C generator, is
#      built into target/c-tools (cargo, pinned by its own Cargo.lock);
#   2. it generates the C bindings of plugin-abi/wit into
#      target/plugins/c/bindings/ (plugin.h: read it for the API);
#   3. Debian's clang-19 compiles the plugin's .c files with them into a core
#      wasm module (wasm32-wasi, reactor: no main, exports called at will);
#   4. the tool makes that a component, adding the WASI adapter only if the
#      module calls WASI (stdio, clocks, files): a plugin that does not
#      imports nothing but what it calls of plugin-abi/wit.
# Installs nothing: ./dev setup installs the compiler. Does nothing when the
# sources, the WIT, this script and the compiler are what the last build used.
#
#   plugins/c/build.sh SRC_DIR OUT.wasm
# builds one plugin instead, from anywhere (`waxwing plugin new --lang c`
# writes one): every .c file in SRC_DIR, with the same tool, bindings and
# flags, into OUT.wasm. It always compiles; the bindings are regenerated only
# when the WIT or the tool changed.
set -euo pipefail

single=0
if [ $# -eq 2 ]; then
    single=1
    # Absolute before the cd below, so relative paths mean the caller's.
    src=$(cd "$1" 2>/dev/null && pwd) || { echo "error: $1 is not a directory (SRC_DIR)" >&2; exit 2; }
    dest=$(realpath -m "$2")
    compgen -G "$src/*.c" >/dev/null || { echo "error: $src has no .c file to build" >&2; exit 2; }
elif [ $# -ne 0 ]; then
    echo "usage: $0 [SRC_DIR OUT.wasm]   (no arguments: every plugins/c/<name>/)" >&2
    exit 2
fi
cd "$(dirname "$0")/../.."
. plugins/build-common.sh

wit=plugin-abi/wit
out=target/plugins/c
bindings=$out/bindings
tool=target/c-tools/debug/c-bindgen
stamp=$out/.inputs.sha256

# What ./dev setup installs, by a file each Debian package ships.
missing=()
command -v clang-19 >/dev/null || missing+=(clang-19)
[ -x /usr/lib/llvm-19/bin/wasm-ld ] || missing+=(lld-19)
[ -f /usr/lib/wasm32-wasi/crt1-reactor.o ] || missing+=(wasi-libc)
[ -f /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a ] || missing+=(libclang-rt-19-dev-wasm32)
if [ ${#missing[@]} -gt 0 ]; then
    echo "error: the C plugins need ${missing[*]}: run ./dev setup as root (it installs them with apt)," \
        "or apt-get install ${missing[*]}" >&2
    exit 1
fi
if ! command -v cargo >/dev/null; then
    echo "error: cargo is missing: the C plugins' binding generator (plugins/c/bindgen) is built with it" >&2
    exit 1
fi

build_tool() {
    cargo build --locked --quiet --manifest-path plugins/c/bindgen/Cargo.toml --target-dir target/c-tools
}

# The bindings depend only on the WIT and the tool; the stamp lives inside
# them, so they are regenerated exactly when one of those changed.
bindings_for_this_wit() {
    local wit_inputs fresh
    wit_inputs=$(find "$wit" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | cat - "$tool" | sha256sum)
    if [ "$(cat "$bindings/.wit.sha256" 2>/dev/null)" != "$wit_inputs" ]; then
        # Generated aside and moved in: no half-written bindings left behind.
        mkdir -p "$out"
        fresh=$(mktemp -d "$out/bindings.XXXXXX")
        "$tool" gen "$wit" plugin "$fresh"
        echo "$wit_inputs" >"$fresh/.wit.sha256"
        rm -rf "$bindings"
        mv "$fresh" "$bindings"
    fi
}

build_one() { # SRC_DIR OUT.wasm
    local core imports
    core=$(mktemp "${TMPDIR:-/tmp}/c-plugin-core.XXXXXX")
    # -mexec-model=reactor: crt1-reactor.o, whose _initialize (run constructors)
    # the component calls once at instantiation; the exports are the entry points.
    # --strip-debug: Debian's wasi-libc carries DWARF, three times the code's size.
    clang-19 --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -std=c17 -O2 -Wall -Wextra -Werror \
        -I "$bindings" "$1"/*.c "$bindings/plugin.c" "$bindings/plugin_component_type.o" \
        -Wl,--strip-debug -o "$core"
    mkdir -p "$(dirname "$2")"
    "$tool" new "$core" "$2.tmp"
    rm -f "$core"
    install_built "$2"
    imports=$("$tool" wit "$2" | sed -n 's/^ *import \(.*\);$/\1/p' | paste -sd' ')
    echo "c plugin: built $2 ($(du -k "$2" | cut -f1) KiB; imports ${imports:-nothing})"
}

if [ "$single" = 1 ]; then
    build_tool
    bindings_for_this_wit
    build_one "$src" "$dest"
    exit 0
fi

plugins=()
for dir in plugins/c/*/; do
    name=$(basename "$dir")
    [ -f "$dir/$name.c" ] && plugins+=("$name")
done

inputs=$(inputs_hash "$(clang-19 --version)" plugins/c target)
if built_from "$inputs" && [ -x "$tool" ]; then
    echo "c plugins: up to date (${plugins[*]})"
    exit 0
fi

build_tool
rm -f "$stamp"
bindings_for_this_wit
for name in "${plugins[@]}"; do
    build_one "plugins/c/$name" "$out/$name.wasm"
done
echo "$inputs" >"$stamp"
