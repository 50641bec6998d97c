# The two commands of the README:
#   make run    set up a virtual environment and run the main job on the embedded digits data
#   make test   set up the same environment, lint, type-check and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installed before the package so that set-up never pulls a multi-GB CUDA build of torch on a
# CPU-only machine. Override for another build, e.g. make test TORCH_SPEC='torch==2.5.1'.
TORCH_SPEC ?= torch==2.13.0
RUN_DIR ?= runs/digits-train
ARCH ?= w1-relu:k3e4|w1-relu:k3e4,k3e4|w1-relu:k3e4,k3e4|w1-relu:k3e4|w1-relu:k3e4

.PHONY: install run test lint typecheck clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/hwnas train mbconv '$(ARCH)' --data digits --epochs 30 --seed 0 --out $(RUN_DIR)

lint: install
	$(BIN)/ruff check hwnas tests benchmarks
	$(BIN)/ruff format --check hwnas tests benchmarks

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
