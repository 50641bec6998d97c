#!/usr/bin/env bash
# Download, here, the wheels that benchmarks/gpu/run.sh installs on the GPU machine (which
# reaches no package index): every NAME==VERSION of benchmarks/gpu/wheels.txt as a wheel for
# CPython 3.12 on x86-64 Linux, into .whl/ at the repository root (ignored by git; carry it:
# run(..., carry=[".whl"])). A package published only as source (fvcore, iopath) is built
# into a pure-Python wheel here. Re-running skips what is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
DEST=.whl
mkdir -p "$DEST"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 \
    manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
grep -v '^\s*#' benchmarks/gpu/wheels.txt | grep -v '^\s*$' | while read -r spec; do
    name=${spec%%==*}
    version=${spec##*==}
    # Wheel file names use underscores and any case for the project name.
    pattern=$(echo "$name" | tr '-' '_')
    if ls "$DEST" | grep -qi "^${pattern}-${version}-"; then
        continue
    fi
    if ! "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp "${platforms[@]}" -d "$DEST" "$spec" 2>/dev/null; then
        echo "prepare_wheels: no binary wheel of $spec; building a pure-Python one" >&2
        "$PYTHON" -m pip wheel -q --no-deps -w "$DEST" "$spec"
    fi
done
count=$(ls "$DEST"/*.whl | wc -l)
echo "prepare_wheels: $count wheels, $(du -sh "$DEST" | cut -f1) in $DEST/"
