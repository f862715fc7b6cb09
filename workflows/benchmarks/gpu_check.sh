#!/bin/bash
# The device checks of issue 3 as one script (for a session that is lent a GPU):
#   the CUDA test, then the engine benchmark on both structure sets with --device cuda.
# Figures land in ${OUT:-gpu-check}/ (JSON + logs). About 10 minutes on an H100.
set -u
out="${OUT:-gpu-check}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv > "$out/gpu.txt" 2>&1
python -m pytest -q -m gpu tests/engine/test_gpu.py > "$out/pytest_gpu.log" 2>&1
echo "pytest -m gpu: rc=$?" | tee -a "$out/summary.txt"
for set in mp prototypes; do
  timeout 240 python workflows/benchmarks/bench_engine.py --set "$set" --device cuda \
    --json "$out/bench_${set}_cuda.json" > "$out/bench_${set}_cuda.log" 2>&1
  echo "bench $set: rc=$?" | tee -a "$out/summary.txt"
done
tail -n 3 "$out"/bench_*_cuda.log
