"""The notebook regression suite as a maintainer runs it: `pytest --nbval notebooks/`.

conftest.py makes the plain command strict and reproducible from any folder (this
environment's kernel, the one sanitize file) and adds a readable diff of a drifted output;
the last tests run notebooks under other conditions than `make test`'s.
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


def ignored(code_cell):
    """The cell tagged as the notebooks tag a cell whose output is not compared."""
    code_cell.metadata["tags"] = ["nbval-ignore-output"]
    return code_cell


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
          # a cell tagged nbval-ignore-output runs, but its output is not compared
          ignored(cell("print(3)", stdout("2\n"), count=3)))
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


# Where make test's settings do not hold: no NCF_* variable, two threads, no terminal.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def elsewhere(*notebooks):
    """``pytest --nbval notebooks`` without the project's variables, on two threads."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NCF_") and k not in THREAD_VARIABLES}
    env["OMP_NUM_THREADS"] = "2"  # what a laptop with more cores does by default
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "--nbval", *map(str, notebooks)], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)


def test_the_classic_peers_lessons_pass_elsewhere():
    # implicit's models warn on stderr, into the outputs, when OpenBLAS may use more threads.
    # (The whole series runs this way in the nbval-plain job of .github/workflows/ci.yml;
    # here only the lessons that import implicit: two threads on two busy cores are slow.)
    lessons = [p for p in series() if p.parent.name == "notebooks" and any(
        re.search(r"^(from|import) implicit\b", c.source, flags=re.M)
        for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")]
    assert lessons, "no lesson fits implicit's models any more: choose another one here"
    run = elsewhere(*lessons)
    assert run.returncode == 0, run.stdout[-5000:]


def test_training_draws_no_progress_bar_into_a_notebook(scratch):
    write(scratch, "train.ipynb",
          cell("import numpy as np\n"
               "from ncf_helpers.models import MLP\n"
               "from ncf_helpers.training import TrainConfig, fit\n"
               "users, items = np.arange(40) % 5, np.arange(40) % 7\n"
               "model = MLP(num_users=5, num_items=7, latent_dim=4, layers=[8, 4])\n"
               "history = fit(model, (users, items, np.full(40, 4.0, np.float32)),\n"
               "              TrainConfig(epochs=2, batch_size=16))\n"
               "print(len(history), 'epochs')", stdout("2 epochs\n")))
    run = elsewhere(scratch / "train.ipynb")
    assert run.returncode == 0, run.stdout[-5000:]
