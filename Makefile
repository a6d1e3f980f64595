# scalinglab: `make demo` and `make test` install everything they need from scratch.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# A machine whose python already has a (CUDA) torch keeps it: the venv then sees system
# packages. Otherwise torch 2.13.0 is installed FIRST, from the CPU wheel on disk, so that no
# dependency resolves a multi-GB CUDA build.
SYSTEM_TORCH := $(shell python3 -c "import torch" 2>/dev/null && echo yes)

.PHONY: install demo test test-cluster test-all lint bench ui clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(if $(SYSTEM_TORCH),--system-site-packages) $(VENV)
	$(if $(SYSTEM_TORCH),,$(PY) -m pip install --quiet torch==2.13.0)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/scalinglab run configs/sweeps/demo.yaml --workdir runs/demo
	$(VENV)/bin/scalinglab phase -e demo --workdir runs/demo -o out/demo
	@echo "Open out/demo/phase_diagram.png; browse runs with: make ui"

test: $(STAMP)
	$(VENV)/bin/pytest -m "not slow and not gpu and not cluster" -q

# Two Ray nodes, an MLflow server, SIGKILLed drivers: minutes of real processes (CI runs it).
test-cluster: $(STAMP)
	$(VENV)/bin/pytest -m "cluster" -q

test-all: $(STAMP)
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(PY) -m pip install --quiet -e ".[lint]"
	$(VENV)/bin/mypy --strict configs analysis
	$(VENV)/bin/mypy trainers cluster

bench: $(STAMP)
	$(PY) bench/train_throughput.py
	$(PY) bench/fit_speed.py
	$(PY) bench/data_throughput.py
	$(PY) bench/probe_overhead.py
	$(PY) bench/sweep_overhead.py

ui: $(STAMP)
	$(VENV)/bin/scalinglab ui --workdir runs/demo

clean:
	rm -rf runs out .pytest_cache
