#!/bin/bash
# The device checks of issue 3 as one script (for a session that is lent a GPU):
#   the CUDA test, the cuEquivariance parity (issue 13: e3nn vs cueq on CUDA, float64,
#   energy/forces/stress/P/Z*/chi/force constants to 1e-9), then the engine benchmark on
#   both structure sets with --device cuda.
# cuEquivariance is the optional extra 'gpu'. The device machine has no internet: carry
# wheels (cuequivariance, cuequivariance-torch, cuequivariance-ops-torch-cu12) in .whl/ and
# install them first (see /work/.library/device/README.md); without them the parity step
# reports "skipped" and the rest runs.
# Figures land in ${OUT:-gpu-check}/ (JSON + logs). About 10 minutes on an H100.
set -u
out="${OUT:-gpu-check}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv > "$out/gpu.txt" 2>&1
python -m pytest -q -m gpu tests/engine/test_gpu.py > "$out/pytest_gpu.log" 2>&1
echo "pytest -m gpu: rc=$?" | tee -a "$out/summary.txt"
if python -c "import cuequivariance_torch" > /dev/null 2>&1; then
  python -m pytest -q -rs tests/model/test_backends.py > "$out/pytest_cueq.log" 2>&1
  echo "cueq parity (CPU + CUDA): rc=$?" | tee -a "$out/summary.txt"
else
  echo "cueq parity: skipped (cuequivariance-torch not installed)" | tee -a "$out/summary.txt"
fi
for set in mp prototypes; do
  timeout 240 python workflows/benchmarks/bench_engine.py --set "$set" --device cuda \
    --json "$out/bench_${set}_cuda.json" > "$out/bench_${set}_cuda.log" 2>&1
  echo "bench $set: rc=$?" | tee -a "$out/summary.txt"
done
tail -n 3 "$out"/bench_*_cuda.log
