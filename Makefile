# `make demo` and `make test` each set up .venv once (a second run reinstalls nothing unless
# pyproject.toml changed), then run the demo job or the test suite.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-output

.PHONY: demo test lint bench weights clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		"torch==2.14.1" "torchvision==0.29.1" -e ".[test]" 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -c "import image_core, video_decorruptor, torch, diffusers"
	touch $(STAMP)

# Corrupt a camera pan, restore it with the embedded Decorruptor-Tiny, print quality before / after.
demo: $(STAMP)
	$(BIN)/python -m video_decorruptor.demo --out $(DEMO_OUT)
	$(BIN)/video-decorruptor corruptions --gallery $(DEMO_OUT)/corruption_gallery.png

test: $(STAMP)
	$(BIN)/python -m pytest -q

# ruff's lint and format checks (rules and the 120-character limit in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every benchmark (each prints a table and writes benchmarks/results/*.json); over an hour on 2 cores.
bench: $(STAMP)
	$(BIN)/python benchmarks/corruptions.py
	$(BIN)/python benchmarks/pair_sampler.py
	$(BIN)/python benchmarks/video_corruptions.py
	$(BIN)/python benchmarks/editor_speed.py
	$(BIN)/python benchmarks/action_robustness.py
	$(BIN)/python benchmarks/restoration_quality.py
	$(BIN)/python benchmarks/temporal.py
	$(BIN)/python benchmarks/video_speed.py
	$(BIN)/python benchmarks/tta_accuracy.py
	$(BIN)/python benchmarks/compressed.py
	$(BIN)/python benchmarks/peers.py
	$(BIN)/python benchmarks/dataset_restore.py

# Reproduce the embedded Decorruptor-Tiny from scratch (resumable; about 2 hours on 2 CPU cores).
weights: $(STAMP)
	$(BIN)/python -m image_core.training.train_all --profile cpu --ship

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
