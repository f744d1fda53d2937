#!/usr/bin/env bash
# The GPU checks of fleets and precision, as one short script for a lent GPU machine
# (`device` tool; see benchmarks/README.md, "Fleets"). It needs a Python with a CUDA build of
# torch and graphens' dependencies; pass it as PYTHON (default: python3).
#   bash benchmarks/gpu_check.sh          # ~5 minutes on an H100
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
# --device cuda end to end (solo and fleet, fp32 and bf16) and the CUDA augmentation tests.
"$PYTHON" -m pytest -q -p no:cacheprovider tests/test_fleet.py tests/test_augment.py -k "cuda"
# Member-samples/s of one ensemble against fleets of 16 and 64, fp32 and bf16.
"$PYTHON" benchmarks/bench_fleet.py --mode steps --device cuda --fleets 1 16 64 \
    --precisions fp32 bf16 --repeats 5 --steps 20
