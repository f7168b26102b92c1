# `make demo` and `make test` each set up .venv once (a second run reinstalls nothing unless
# pyproject.toml changed), then run the demo job or the test suite.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-output

.PHONY: demo test bench weights clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		"torch==2.14.1" "torchvision==0.29.1" -e ".[test]" 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -c "import image_core, video_decorruptor, torch, diffusers"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/video-decorruptor corruptions --gallery $(DEMO_OUT)/corruption_gallery.png

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The benchmarks that need no trained weights (each prints a table and writes benchmarks/results/*.json).
bench: $(STAMP)
	$(BIN)/python benchmarks/corruptions.py
	$(BIN)/python benchmarks/pair_sampler.py
	$(BIN)/python benchmarks/video_corruptions.py
	$(BIN)/python benchmarks/editor_speed.py
	$(BIN)/python benchmarks/action_robustness.py

# Reproduce the embedded Decorruptor-Tiny from scratch (resumable; about 8 hours on 2 CPU cores).
weights: $(STAMP)
	$(BIN)/python -m image_core.training.train_all --profile cpu --ship

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
