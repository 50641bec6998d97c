#!/usr/bin/env bash
# Profile the GPU of the device machine and fit its latency predictors, in one call.
#
#   On the GPU machine (the device tool; docs/gpu.md), with the wheels carried:
#     bash benchmarks/gpu/prepare_wheels.sh          # once, here: fills .whl/
#     run(command="bash benchmarks/gpu/run.sh", carry=[".whl"], timeout_s=540)
#   On any CPU, the same steps at tiny sizes with torch-cpu (tests/profiling/test_gpu_script.py):
#     OUT=/tmp/gpu-dry bash benchmarks/gpu/run.sh --dry-run
#
# Writes under $OUT: results.json, hwnas-gpu.tar.gz (profiles/ and predictors/, to unpack at
# the repository root) and log.txt. Exit code 0 when every profile was measured and fitted.
# Extra arguments go to benchmarks/gpu/run.py (--budget-s SECONDS, --seed N).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

dry_run=0
for arg in "$@"; do [ "$arg" = --dry-run ] && dry_run=1; done

if [ "$dry_run" = 0 ]; then
    # The packages hwnas needs that the GPU image lacks (benchmarks/gpu/wheels.txt), into a
    # folder of their own put before the image's site-packages; nothing is fetched there.
    if ! ls .whl/*.whl >/dev/null 2>&1; then
        echo "run.sh: no wheels in .whl/: run benchmarks/gpu/prepare_wheels.sh here and carry .whl" >&2
        exit 2
    fi
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/hwnas-site .whl/*.whl
    export PYTHONPATH=/tmp/hwnas-site${PYTHONPATH:+:$PYTHONPATH}
    # Threads for building models and their BatchNorm statistics on the host CPU.
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
fi
# hwnas itself runs from this checkout, without installing its dependencies again: the
# source tree on the path is what `pip install --no-deps -e .` would give, and it cannot
# be a stale copy of the code.
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

"$PYTHON" benchmarks/gpu/run.py --out "$OUT" "$@" 2>&1 | tee "$OUT/log.txt"
