# Everything a fresh machine needs: `make run` and `make test` create .venv themselves.
# Each target runs `python -m tools.tasks <task>`, the same commands that readers
# without make (Windows, macOS) run by hand; `python -m tools.tasks --dry-run <task>`
# prints them. The tasks set NCF_PROGRESS=0 (no progress bars in outputs; lab turns them
# on) and OMP_NUM_THREADS=1 (one torch thread: same floats everywhere, fast on shared cores).
PYTHON ?= python3
# PyTorch's CPU wheels, ~190 MB instead of PyPI's multi-GB Linux CUDA build:
#   make run TORCH_INDEX=https://download.pytorch.org/whl/cpu   (before the first install)
TORCH_INDEX ?=
export TORCH_INDEX
TASKS := $(PYTHON) -m tools.tasks

.PHONY: venv run test lint unit nbval notebooks lab book bench scale tune compare clean

venv:  ## create .venv and install the pinned packages (when out of date)
	$(TASKS) setup

run:  ## execute every notebook (lessons, then solutions) into build/, timed
	$(TASKS) run

notebooks:  ## re-execute the notebooks in place to refresh committed outputs
	$(TASKS) notebooks

test:  ## lint (when ruff is installed), unit tests, then strict nbval over notebooks/
	$(TASKS) test

lint:
	$(TASKS) lint

unit:
	$(TASKS) unit

nbval:
	$(TASKS) nbval

lab:  ## JupyterLab on notebooks/, progress bars on (works as root too)
	$(TASKS) lab

book:  ## the HTML book of the series from the committed outputs: build/book/html/
	$(TASKS) book

bench:  ## data pipeline vs the original's, negative sampler at scale, stored scale rows
	$(TASKS) bench

scale:  ## epoch time and memory as the data grows -> build/scale.csv (~30 min; --store: data/measured/)
	$(TASKS) scale

tune:  ## seeded Optuna studies on validation, ours and the classic peers (~30 min)
	$(TASKS) tune

compare:  ## classic peers vs the NCF family on several splits -> experiments/results/ (~12 min)
	$(TASKS) compare

clean:
	$(TASKS) clean
