#!/usr/bin/env bash
# Builds every Python plugin, plugins/python/<name>/app.py, into
# target/plugins/python/<name>.wasm with componentize-py (pinned in
# tests/python/requirements.txt, installed in .venv by `./dev setup`), and the
# Python bindings of plugin-abi/wit into target/plugins/python/bindings/ (the
# `wit_world` package app.py imports: read it for the API, point an editor at
# it). Does nothing when the sources, the WIT, this script and componentize-py's
# version are what the last build used.
set -euo pipefail
cd "$(dirname "$0")/../.."

cpy=${COMPONENTIZE_PY:-.venv/bin/componentize-py}
wit=plugin-abi/wit
out=target/plugins/python
stamp=$out/.inputs.sha256

if [ ! -x "$cpy" ]; then
    echo "error: $cpy is missing: run ./dev setup (it installs componentize-py into .venv)" >&2
    exit 1
fi

plugins=()
for app in plugins/python/*/app.py; do
    [ -f "$app" ] && plugins+=("$(basename "$(dirname "$app")")")
done

inputs=$(
    {
        "$cpy" --version
        find plugins/python "$wit" -name __pycache__ -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum
    } | sha256sum | cut -d' ' -f1
)
up_to_date=1
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] || up_to_date=0
for name in "${plugins[@]}"; do
    [ -f "$out/$name.wasm" ] || up_to_date=0
done
if [ "$up_to_date" = 1 ]; then
    echo "python plugins: up to date (${plugins[*]})"
    exit 0
fi

mkdir -p "$out"
rm -f "$stamp"
rm -rf "$out/bindings"
"$cpy" -d "$wit" -w plugin bindings "$out/bindings" >/dev/null
for name in "${plugins[@]}"; do
    started=$(date +%s)
    # Into a temporary file first: a failed build never leaves a wasm behind
    # that looks current.
    "$cpy" -d "$wit" -w plugin componentize app -p "plugins/python/$name" -o "$out/$name.wasm.tmp" >/dev/null
    mv "$out/$name.wasm.tmp" "$out/$name.wasm"
    size=$(du -k "$out/$name.wasm" | cut -f1)
    echo "python plugins: built $out/$name.wasm ($size KiB, $(($(date +%s) - started)) s)"
done
echo "$inputs" >"$stamp"
