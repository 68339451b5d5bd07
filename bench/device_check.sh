#!/usr/bin/env bash
# The checks that need a CUDA GPU (tests/test_cuda.py), for a machine that has PyTorch,
# Lightning and transformers but cannot reach PyPI (such as the development project's
# lent GPU machines, whose image has Python 3.12 without soundfile and soxr).
#
#   bench/device_check.sh fetch   # here, with network: wheels of what such a machine lacks -> .whl/
#   bench/device_check.sh run     # there, in the repository root (carry .whl/); log to $OUT or /tmp
#
# `run` installs .whl/*.whl into /tmp/site when present, runs sier from src/ (no install),
# prints the GPU and versions, then the CUDA tests, then bench_top.py on the GPU; its status
# is pytest's.
set -euo pipefail
WHEELS=(soundfile soxr cffi pycparser)

case "${1:-}" in
  fetch)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
    ls .whl
    ;;
  run)
    if compgen -G ".whl/*.whl" >/dev/null; then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
      export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
    log="${OUT:-/tmp}/cuda_tests.log"
    python3 - <<'EOF'
import lightning, torch, transformers
print(f"torch {torch.__version__}, lightning {lightning.__version__}, transformers {transformers.__version__}")
print("CUDA:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
EOF
    set -o pipefail
    status=0
    python3 -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py 2>&1 | tee "$log" || status=$?
    # figures only: the fine-tuned top's step packed and padded on the GPU (about a minute)
    python3 bench/bench_top.py --device cuda 2>&1 | tee "${OUT:-/tmp}/bench_top_cuda.log" || true
    exit "$status"
    ;;
  *)
    echo "usage: bench/device_check.sh fetch|run" >&2
    exit 2
    ;;
esac
