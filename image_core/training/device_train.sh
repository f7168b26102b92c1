#!/usr/bin/env bash
# Train Decorruptor-Tiny on a lent GPU machine (the `device` tool) in one call and send the results back.
#
# Here, once per checkout (the device image has torch, accelerate, OpenCV, scikit-image and
# scikit-learn, but not diffusers or PyAV):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl diffusers==0.42.1 av==18.1.0
# Then: device run, carry [".whl"], timeout_s 600, command "bash image_core/training/device_train.sh 2.5,3.5,2.0"
# The argument gives each stage (autoencoder, editor, distill) its minutes; a stage that runs out of
# time stops at a checkpoint and exports what it has. A machine starts bare, so every call trains
# from scratch. Untested so far: no session has had a GPU yet.
set -euo pipefail
budgets=${1:-2.5,3.5,2.0}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD VIDEO_DECORRUPTOR_CACHE=/tmp/video-decorruptor-cache
out=${OUT:-/tmp/out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -m image_core.training.train_all --profile gpu --ship --minutes "$budgets" 2>&1 \
    | tr '\r' '\n' | grep -v -E 'it/s\]|step/s\]|batch/s\]|pic/s\]' | tee "$out/train.txt"
python3 benchmarks/restoration_quality.py --crops 2 --output "$out/restoration_quality.json" > "$out/restoration_quality.txt" 2>&1 || true
# The weights and the training logs, in pieces under the 16 MiB a returned file may have.
tar czf - image_core/weights runs/tiny-gpu/*/log.csv runs/tiny-gpu/*/config.yaml | split -b 15m - "$out/weights.tgz.part-"
ls -la "$out"
