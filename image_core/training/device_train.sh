#!/usr/bin/env bash
# Train Decorruptor-Tiny on a lent GPU machine (the `device` tool) in one call and send the results back.
#
# Here, once per checkout (the device image has torch, accelerate, OpenCV, scikit-image and
# scikit-learn, but not diffusers or PyAV):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl diffusers==0.42.1 av==18.1.0
# Then: device run, carry [".whl"], timeout_s 600, command "bash image_core/training/device_train.sh 2.6,3.0,1.2".
# The tree that travels must stay under 64 MiB: move image_core/weights (36 MB) aside for the call.
#
# The first argument gives each stage (autoencoder, editor, distill) its minutes: the GPU configs are
# sized by time, a stage stops at its deadline with its cosine decay finished, checkpoints and
# exports. The tone corrector that follows has no budget (about 2 minutes, its bank drawn on the CPU). Further arguments go to train_all (e.g. --set editor.bank_size=512). A machine starts
# bare; a stage whose export travels with the call is skipped (carry runs/tiny-gpu/autoencoder to
# train only the editor and the student on an autoencoder from an earlier call). Back in $OUT: the GPU's name, the training output, the
# logs, and the shipped float16 weights in pieces under the 16 MiB a returned file may have (if
# shipping failed: the float32 autoencoder and teacher exports instead).
#   cat weights.tgz.part-* | tar xzf -     # in the repository root
# Rehearse it here first, in a copy of the tree without runs/ (about a minute on 2 cores):
#   OUT=/tmp/out TRAIN_SECONDS=120 bash image_core/training/device_train.sh 0.15,0.3,0.1 \
#       --set autoencoder.batch_size=4 --set autoencoder.num_workers=1 --set autoencoder.image_size=64 \
#       --set autoencoder.stats_batches=2 --set editor.bank_size=64 --set editor.bank_workers=1 \
#       --set editor.bank_batch_size=16 --set editor.batch_size=4 --set editor.image_size=64 --set distill.batch_size=4
set -uo pipefail
budgets=${1:-2.6,3.0,1.2}
shift || true
out=${OUT:-/tmp/device-train-out}
mkdir -p "$out"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export VIDEO_DECORRUPTOR_CACHE=/tmp/video-decorruptor-cache PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
fi
# Stop training (SIGINT) in time to pack the results before the device call's own limit.
timeout --signal=INT "${TRAIN_SECONDS:-550}" \
    python3 -m image_core.training.train_all --profile gpu --ship --minutes "$budgets" "$@" 2>&1 | tr '\r' '\n' | tee "$out/train.txt"
status=${PIPESTATUS[0]}
tar czf "$out/logs.tgz" runs/tiny-gpu/*/log.csv runs/tiny-gpu/*/config.yaml 2>/dev/null
if [ "$status" -eq 0 ]; then
    tar czf - image_core/weights | split -b 15m - "$out/weights.tgz.part-"
else
    tar czf - $(ls -d runs/tiny-gpu/autoencoder/vae runs/tiny-gpu/editor/dpm 2>/dev/null) | split -b 15m - "$out/exports.tgz.part-"
fi
ls -la "$out"
exit "$status"
