#!/usr/bin/env bash
# Builds every Python plugin, plugins/python/<name>/app.py, into
# target/plugins/python/<name>.wasm with componentize-py (pinned in
# tests/python/requirements.txt, installed in .venv by `./dev setup`), and the
# Python bindings of plugin-abi/wit into target/plugins/python/bindings/ (the
# `wit_world` package app.py imports: read it for the API, point an editor at
# it). Does nothing when the sources, the WIT, this script and componentize-py's
# version are what the last build used.
#
#   plugins/python/build.sh SRC_DIR OUT.wasm
# builds one plugin instead, from anywhere (`waxwing plugin new --lang python`
# writes one): SRC_DIR/app.py and whatever it imports from SRC_DIR, into
# OUT.wasm. It always builds (~15 s).
set -euo pipefail

single=0
if [ $# -eq 2 ]; then
    single=1
    # Absolute before the cd below, so relative paths mean the caller's.
    src=$(cd "$1" 2>/dev/null && pwd) || { echo "error: $1 is not a directory (SRC_DIR)" >&2; exit 2; }
    dest=$(realpath -m "$2")
    [ -f "$src/app.py" ] || { echo "error: $src has no app.py (the module componentize-py builds)" >&2; exit 2; }
elif [ $# -ne 0 ]; then
    echo "usage: $0 [SRC_DIR OUT.wasm]   (no arguments: every plugins/python/<name>/)" >&2
    exit 2
fi
cd "$(dirname "$0")/../.."
. plugins/build-common.sh

cpy=${COMPONENTIZE_PY:-.venv/bin/componentize-py}
wit=plugin-abi/wit
out=target/plugins/python
stamp=$out/.inputs.sha256

if [ ! -x "$cpy" ]; then
    echo "error: $cpy is missing: run ./dev setup (it installs componentize-py into .venv)" >&2
    exit 1
fi

build_one() { # SRC_DIR OUT.wasm
    local started
    started=$(date +%s)
    mkdir -p "$(dirname "$2")"
    "$cpy" -d "$wit" -w plugin componentize app -p "$1" -o "$2.tmp" >/dev/null
    install_built "$2"
    echo "python plugin: built $2 ($(du -k "$2" | cut -f1) KiB, $(($(date +%s) - started)) s)"
}

if [ "$single" = 1 ]; then
    build_one "$src" "$dest"
    exit 0
fi

plugins=()
for app in plugins/python/*/app.py; do
    [ -f "$app" ] && plugins+=("$(basename "$(dirname "$app")")")
done

inputs=$(inputs_hash "$("$cpy" --version)" plugins/python __pycache__)
if built_from "$inputs"; then
    echo "python plugins: up to date (${plugins[*]})"
    exit 0
fi

mkdir -p "$out"
rm -f "$stamp"
rm -rf "$out/bindings"
"$cpy" -d "$wit" -w plugin bindings "$out/bindings" >/dev/null
for name in "${plugins[@]}"; do
    build_one "plugins/python/$name" "$out/$name.wasm"
done
echo "$inputs" >"$stamp"
