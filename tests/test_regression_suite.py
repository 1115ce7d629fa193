"""The notebook regression suite as a maintainer runs it: `pytest --nbval notebooks/`.

conftest.py makes the plain command strict and reproducible from any folder (this
environment's kernel, the one sanitize file) and adds a readable diff of a drifted output;
the last test runs real notebooks under other conditions than `make test`'s.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from tools.run_notebooks import series

ROOT = Path(__file__).resolve().parent.parent
v4 = nbformat.v4


def cell(source, *outputs, count=1):
    """A code cell as a notebook stores it after a run: its outputs and execution count."""
    return v4.new_code_cell(source, outputs=list(outputs), execution_count=count)


def stdout(text):
    return v4.new_output("stream", name="stdout", text=text)


def write(folder, name, *cells):
    notebook = v4.new_notebook(cells=list(cells))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, folder / name)


@pytest.fixture
def scratch():
    """A folder inside the checkout (so its pytest configuration applies), removed after."""
    (ROOT / "build").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="nbval-", dir=ROOT / "build"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_plain_nbval_is_strict_sanitized_in_this_environment_and_shows_the_drift(scratch):
    python = Path(sys.executable)
    write(scratch, "good.ipynb",
          # the kernel is this environment's Python (--nbval-current-env)
          cell(f"import os, sys\nprint(os.path.samefile(sys.executable, {str(python)!r}))",
               stdout("True\n")),
          # memory addresses are sanitized (notebooks/sanitize.cfg)
          cell("print(object())", stdout("<object object at 0x7f3a2c1b9e40>\n"), count=2),
          # a marked cell runs, but its output is not compared
          cell("# NBVAL_IGNORE_OUTPUT\nprint(3)", stdout("2\n"), count=3))
    write(scratch, "drifted.ipynb",
          cell("print('model  rmse\\nNCF    0.9124\\nMLP    0.9345')",
               stdout("model  rmse\nNCF    0.9123\nMLP    0.9345\n")))
    # the command of nbval's documentation, from the notebooks' own folder
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval",
                          "."], cwd=scratch, capture_output=True, text=True)
    failed = re.findall(r"^FAILED (.+?) - ", run.stdout, flags=re.M)
    assert run.returncode == 1 and failed == ["drifted.ipynb::Cell 0"], run.stdout[-3000:]
    # beside nbval's report: the cell's outputs, committed (-) and this run's (+)
    assert "outputs: committed (-) against this run (+), by nbdime" in run.stdout
    assert "-  NCF    0.9123\n+  NCF    0.9124\n   MLP    0.9345" in run.stdout


def test_nbdime_view_runs_with_this_pytest(scratch):
    # nbval's --nbdime reporter sees every test report; unmended, pytest 9 stops the run
    # with an INTERNALERROR at the first one. (On a failure it would open a browser.)
    write(scratch, "passing.ipynb", cell("print(1 + 1)", stdout("2\n")))
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval",
                          "--nbdime", "passing.ipynb"], cwd=scratch, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout[-3000:]


# Run again where make test's settings do not hold: the lessons that fit implicit's models
# (which warn on stderr when OpenBLAS may use several threads) and lesson 06, whose
# training cells drew progress bars into their outputs unless NCF_PROGRESS=0 was set.
TRAINS = "06_loss_and_training.ipynb"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def elsewhere_subset():
    lessons = [p for p in series() if p.parent.name == "notebooks"]
    peers = [p for p in lessons if re.search(r"^\s*(from|import) implicit\b",
                                             p.read_text(encoding="utf-8"), flags=re.M)]
    return sorted({ROOT / "notebooks" / TRAINS, *peers})


def test_notebooks_pass_on_two_threads_without_the_project_variables():
    subset = elsewhere_subset()
    assert all(p.exists() for p in subset), subset
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NCF_") and k not in THREAD_VARIABLES}
    env["OMP_NUM_THREADS"] = "2"  # what a laptop with more cores does by default
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                          "--nbval", *map(str, subset)], cwd=ROOT, env=env,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True)  # no terminal
    assert run.returncode == 0, run.stdout[-5000:]
