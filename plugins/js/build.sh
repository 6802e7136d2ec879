#!/usr/bin/env bash
# Builds every JavaScript plugin, plugins/js/<name>/app.js, into
# target/plugins/js/<name>.wasm with componentize-js (pinned in
# plugins/js/package.json and package-lock.json, installed into
# plugins/js/node_modules by `./dev setup`: `npm ci`). Does nothing when the
# sources, the WIT, this script and componentize-js's version are what the
# last build used.
#
#   plugins/js/build.sh SRC.js OUT.wasm
# builds one plugin instead, from anywhere: the ES module SRC.js (exporting
# `guest`) into OUT.wasm. It always builds (~10 s).
#
# The kernel links WASI without wasi:http, so the components are built with
# componentize-js's http and fetch-event features disabled.
set -euo pipefail

single=0
if [ $# -eq 2 ]; then
    single=1
    # Absolute before the cd below, so relative paths mean the caller's.
    src=$(realpath -m "$1")
    dest=$(realpath -m "$2")
    [ -f "$src" ] || { echo "error: $1 is not a file (the module componentize-js builds)" >&2; exit 2; }
elif [ $# -ne 0 ]; then
    echo "usage: $0 [SRC.js OUT.wasm]   (no arguments: every plugins/js/<name>/app.js)" >&2
    exit 2
fi
cd "$(dirname "$0")/../.."
. plugins/build-common.sh

cjs=${COMPONENTIZE_JS:-plugins/js/node_modules/.bin/componentize-js}
wit=plugin-abi/wit
out=target/plugins/js
stamp=$out/.inputs.sha256

if [ ! -x "$cjs" ]; then
    echo "error: $cjs is missing: run ./dev setup (it runs npm ci in plugins/js)" >&2
    exit 1
fi

build_one() { # SRC.js OUT.wasm
    local started
    started=$(date +%s)
    mkdir -p "$(dirname "$2")"
    "$cjs" "$1" --wit "$wit" --world-name plugin --disable http fetch-event -o "$2.tmp" >/dev/null
    install_built "$2"
    echo "js plugin: built $2 ($(du -k "$2" | cut -f1) KiB, $(($(date +%s) - started)) s)"
}

if [ "$single" = 1 ]; then
    build_one "$src" "$dest"
    exit 0
fi

plugins=()
for app in plugins/js/*/app.js; do
    [ -f "$app" ] && plugins+=("$(basename "$(dirname "$app")")")
done

inputs=$(inputs_hash "$("$cjs" --version)" plugins/js node_modules)
if built_from "$inputs"; then
    echo "js plugins: up to date (${plugins[*]})"
    exit 0
fi

rm -f "$stamp"
for name in "${plugins[@]}"; do
    build_one "plugins/js/$name/app.js" "$out/$name.wasm"
done
echo "$inputs" >"$stamp"
