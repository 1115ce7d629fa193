# Everything a fresh machine needs: `make run` and `make test` create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg
# No progress bars in executed notebooks and logs: their timing text is not reproducible.
export NCF_PROGRESS := 0
# One thread: as fast as two for these small models, far faster when the cores are
# shared, and the same float results on every machine.
export OMP_NUM_THREADS := 1

.PHONY: venv run test unit nbval notebooks lab bench clean

$(STAMP): requirements.txt requirements-data.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# The embedded ml-100k: recbole's wheel only, never its long dependency list.
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-data.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

run: $(STAMP)  ## execute every notebook into build/ (.ipynb + .html), timed
	$(BIN)/python -m benchmarks.run_notebooks

notebooks: $(STAMP)  ## re-execute the notebooks in place to refresh committed outputs
	$(BIN)/python -m benchmarks.run_notebooks --inplace

test: unit nbval

# pytest exits 5 when it collects nothing; that is not a failure of the suite.
unit: $(STAMP)
	$(BIN)/python -m pytest -q tests || [ $$? -eq 5 ]

nbval: $(STAMP)
	$(BIN)/python -m pytest -q $(NBVAL) notebooks || [ $$? -eq 5 ]

lab: $(STAMP)
	NCF_PROGRESS=1 $(BIN)/jupyter lab notebooks  # progress bars on for readers

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench

clean:
	rm -rf build .pytest_cache
