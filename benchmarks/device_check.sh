#!/usr/bin/env bash
# The GPU figures of issue #10 in one device call (about 8 minutes on one H100):
#
#   here, once:  echo /.whl/ >> .git/info/exclude
#                for p in soundfile==0.14.0 soxr==1.1.0 pedalboard==0.9.26 mido==1.3.3 pyloudnorm==0.2.0 \
#                         cffi==2.1.1 pycparser==3.12 av==18.1.0; do
#                  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#                    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#                    -d .whl "$p"; done
#   device run:  command "bash benchmarks/device_check.sh", carry [".whl"], timeout_s 590
#
# Everything printed also lands in $OUT/device_check.txt; copy it to benchmarks/results/<device>.txt.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
log=${OUT:-/tmp}/device_check.txt
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
    echo "== parity and kernel tests on CUDA"
    timeout 120 python3 -m pytest -x -q -p no:cacheprovider tests/kernels tests/model 2>&1 | tail -3
    echo "== end to end, small default model, 900 s"
    timeout 150 python3 benchmarks/bench_pipeline.py --seconds 900 --checkpoint default
    echo "== end to end, medium (random weights), 900 s"
    timeout 200 python3 benchmarks/bench_pipeline.py --seconds 900 --config medium
    echo "== batch invariance (fp32, random medium weights), per TF32 setting"
    timeout 60 python3 benchmarks/batch_invariance.py --config medium
    echo "== kernels, and the table auto chooses from (copy $OUT/measured.json to kernels/)"
    cp kernels/measured.json "${OUT:-/tmp}/measured.json"
    timeout 120 python3 benchmarks/bench_kernels.py --write-table "${OUT:-/tmp}/measured.json"
    echo "== end to end, medium, kernels by measurement (auto) against off (0)"
    TUSS_FX_KERNELS=0 timeout 60 python3 benchmarks/bench_pipeline.py --seconds 300 --config medium | tail -1
    cp "${OUT:-/tmp}/measured.json" kernels/measured.json
    TUSS_FX_KERNELS=auto timeout 60 python3 benchmarks/bench_pipeline.py --seconds 300 --config medium | tail -1
} 2>&1 | tee "$log"
