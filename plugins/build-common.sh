# Sourced by plugins/{c,python,js}/build.sh, from the repository root, with
# $wit, $out and $stamp set and the array `plugins` listing the plugin names
# whose components go to $out/<name>.wasm.

# The hash of a toolchain's version text ($1), every file under the source
# folder $2 and the WIT (leaving out folders named $3), and this file.
inputs_hash() { # VERSION-TEXT SRC-DIR PRUNED-NAME
    {
        echo "$1"
        find "$2" "$wit" plugins/build-common.sh -name "$3" -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
}

# Whether the last whole build used these inputs and left every component.
built_from() { # INPUTS
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$1" ] || return 1
    local name
    for name in "${plugins[@]}"; do
        [ -f "$out/$name.wasm" ] || return 1
    done
}

# Moves a component built next to its destination into place: a failed
# build never leaves a wasm behind that looks current.
install_built() { # OUT.wasm (built as OUT.wasm.tmp)
    mv "$1.tmp" "$1"
}
