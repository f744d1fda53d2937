#!/usr/bin/env bash
# The GPU checks, as one short script for a lent GPU machine (`device` tool; see
# benchmarks/README.md, "GPU"). It needs a Python with a CUDA build of torch and graphens'
# dependencies; pass it as PYTHON (default: python3). Each step has its own time limit so that a
# slow one cannot starve the rest; logs go to LOGS (default: benchmarks/out/gpu_check).
# BUDGET (seconds, default 400) bounds the whole script: the last step, the suite, gets what is left.
#   bash benchmarks/gpu_check.sh          # ~6 minutes on an H100/H200
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
LOGS=${LOGS:-benchmarks/out/gpu_check}
BUDGET=${BUDGET:-400}
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, report the exit status
    local name=$1 limit=$2
    shift 2
    echo "=== $name (limit ${limit}s) ==="
    local tick=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
    echo "=== $name: exit ${PIPESTATUS[0]} after $((SECONDS - tick)) s ==="
}

"$PYTHON" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print(torch.cuda.get_device_name(), 'torch', torch.__version__)" || exit 1
# graphens itself, without touching the machine's packages (its dependencies must be there).
"$PYTHON" -m pip install -q --no-deps --no-build-isolation -e . \
    || export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
# 1. --device cuda end to end (solo and fleet, fp32 and bf16) and the CUDA augmentation tests.
step cuda_tests 60 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_fleet.py \
    tests/test_augment.py tests/test_graph.py -k cuda -rs
# 2. Member-samples/s of one ensemble against fleets of 16 and 64, fp32 and bf16 (the MLP).
step bench_fleet 80 "$PYTHON" benchmarks/bench_fleet.py --mode steps --device cuda \
    --fleets 1 16 64 --precisions fp32 bf16 --repeats 5 --steps 20
# 3. ViT-lite step: node bank against a per-node loop, at B 128 and 1024.
step bench_vit_b128 40 "$PYTHON" benchmarks/bench_vit.py --device cuda --repeats 7 --steps 20 \
    --out "$LOGS/vit_step_b128.md"
step bench_vit_b1024 40 "$PYTHON" benchmarks/bench_vit.py --device cuda --repeats 7 \
    --steps 20 --batch-size 1024 --out "$LOGS/vit_step_b1024.md"
# 4. torch.compile against eager on the GPU (no gain on the CPU).
step bench_compile 60 "$PYTHON" benchmarks/bench_compile.py --device cuda --repeats 5 --steps 20
# 5. The whole suite where device "auto" resolves to the GPU (what a user with a GPU runs);
# needs pytest-xdist. -v names each test as it finishes, so a run cut at BUDGET still says
# which tests failed (-rfE's summary comes only at the end).
step suite_on_gpu $((BUDGET > SECONDS + 60 ? BUDGET - SECONDS : 60)) "$PYTHON" -m pytest -v \
    -p no:cacheprovider -p no:benchmark -n 14 -rfE --tb=line
