"""Every step of the project as one command, with or without make (Windows, macOS, Colab).

    python -m tools.tasks setup      # create .venv and install the pinned packages
    python -m tools.tasks run        # execute the series into build/, timed
    python -m tools.tasks test       # lint (when ruff is installed), unit tests + strict nbval
    python -m tools.tasks lab        # JupyterLab on notebooks/, progress bars on
    python -m tools.tasks book       # the HTML book, from the committed outputs
    python -m tools.tasks notebooks  # re-execute the notebooks in place
    python -m tools.tasks bench      # the performance benchmark
    python -m tools.tasks --dry-run test   # print the commands, run nothing

Every task but ``clean`` first brings .venv up to date (as ``setup`` does, only when a
requirements file or pyproject.toml is newer than the last install). The Makefile's
targets call this module, so ``make X`` and ``python -m tools.tasks X`` run the same
commands. Standard library only: it runs with the system's Python before .venv exists.

PyTorch's CPU build: ``--torch-index https://download.pytorch.org/whl/cpu`` (or the
environment variable TORCH_INDEX, which ``make ... TORCH_INDEX=...`` sets) adds that index
to the install; choose it before the first install (or delete .venv to switch).
"""
import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
INSTALL_INPUTS = ("requirements.txt", "requirements-data.txt", "pyproject.toml")
# The optional peers of the experiments (Cornac, LensKit): only tune and compare install
# them, so run and test never need them (see the file's comment for --no-deps).
PEERS_FILE = "requirements-peers.txt"
PEER_TASKS = ("tune", "compare")
# pytest-xdist: one worker per core; --dist loadfile keeps each file on one worker, so a
# notebook's cells run in order in one kernel. The nbval options that make the run strict
# and reproducible (this environment's kernel, notebooks/sanitize.cfg) come from
# conftest.py, so this is the command a maintainer types, plus the workers.
PARALLEL = ["-n", "auto", "--dist", "loadfile"]
LINT_PATHS = ["ncf_helpers", "tests", "tools", "benchmarks", "experiments"]
# Task names as the Makefile's targets spell them (make venv == setup).
MAKE_TARGETS = {"venv": "setup", "run": "run", "test": "test", "lint": "lint", "unit": "unit",
                "nbval": "nbval", "notebooks": "notebooks", "lab": "lab", "book": "book",
                "bench": "bench", "scale": "scale", "tune": "tune", "compare": "compare",
                "clean": "clean"}
# The long-running scripts: performance (benchmarks/) and experiments (experiments/).
SCRIPTS = {"bench": "benchmarks.bench", "scale": "benchmarks.scale", "tune": "experiments.tune",
           "compare": "experiments.compare"}
# pytest exits 5 when it collects nothing: not a failure of the suite.
NOTHING_COLLECTED = 5


class Step:
    """One command: its argv, extra environment, and the exit codes that count as success."""

    def __init__(self, argv, env=None, ok=(0,), note=None, marks=None):
        self.argv, self.env, self.ok, self.note = [str(a) for a in argv], env or {}, ok, note
        self.marks = marks  # a file to touch once the step has succeeded

    def __str__(self):
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return (env + " " if env else "") + " ".join(self.argv)


def venv_dir(root=ROOT):
    return root / ".venv"


def venv_bin(root=ROOT):
    return venv_dir(root) / ("Scripts" if os.name == "nt" else "bin")


def venv_python(root=ROOT):
    return venv_bin(root) / ("python.exe" if os.name == "nt" else "python")


def stamp(root=ROOT):
    return venv_dir(root) / ".installed"


def install_is_current(root=ROOT):
    """Whether the last install is newer than every file that says what to install."""
    done = stamp(root)
    return done.exists() and all(
        (root / f).stat().st_mtime <= done.stat().st_mtime for f in INSTALL_INPUTS)


def setup_steps(root=ROOT, torch_index=""):
    """Create .venv if needed and install the pinned packages, the data wheel and the package."""
    python = venv_python(root)
    steps = [] if python.exists() else [Step([sys.executable, "-m", "venv", venv_dir(root)])]
    pip = [python, "-m", "pip", "install", "--quiet"]
    extra = ["--extra-index-url", torch_index] if torch_index else []
    steps += [
        Step(pip + extra + ["-r", "requirements.txt"],
             note="Installing the pinned packages into .venv: this takes a few minutes the "
                  "first time (PyTorch is the largest part: ~190 MB as the CPU build, several "
                  "GB as PyPI's Linux CUDA build; see README). Later runs skip it."),
        # The embedded ml-100k: recbole's wheel only, never its long dependency list.
        Step(pip + ["--no-deps", "-r", "requirements-data.txt"]),
        Step(pip + ["--no-deps", "--no-build-isolation", "-e", "."], marks=stamp(root)),
    ]
    return steps


def peers_stamp(root=ROOT):
    return venv_dir(root) / ".peers-installed"


def peers_steps(root=ROOT):
    """Install requirements-peers.txt into .venv when it changed since its last install."""
    wanted, done = root / PEERS_FILE, peers_stamp(root)
    if not wanted.exists() or (done.exists() and wanted.stat().st_mtime <= done.stat().st_mtime):
        return []
    return [Step([venv_python(root), "-m", "pip", "install", "--quiet", "--no-deps", "-r",
                  PEERS_FILE], marks=done,
                 note="Installing the optional peers of tune and compare (Cornac, LensKit) "
                      f"from {PEERS_FILE}, without their dependencies (see the file).")]


def lab_args():
    """JupyterLab refuses to start as root without --allow-root (containers, Colab)."""
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    return ["--allow-root"] if is_root else []


def task_steps(task, root=ROOT):
    """The commands of one task (without the install that precedes it)."""
    python = venv_python(root)
    pytest = [python, "-m", "pytest", "-q", *PARALLEL]
    if task == "lint":
        ruff = shutil.which("ruff", path=str(venv_bin(root)))
        if ruff is None:
            return [Step([], note="lint: ruff is not installed in .venv; skipped")]
        return [Step([ruff, "check", *LINT_PATHS])]
    if task == "unit":
        return [Step(pytest + ["tests"], ok=(0, NOTHING_COLLECTED))]
    if task == "nbval":
        return [Step(pytest + ["--nbval", "notebooks"], ok=(0, NOTHING_COLLECTED))]
    if task == "test":
        # One session for the notebooks and the unit tests: the workers share all of it.
        # The notebooks come first: the longest files start first and end the run sooner.
        return task_steps("lint", root) + [
            Step(pytest + ["--nbval", "notebooks", "tests"], ok=(0, NOTHING_COLLECTED))]
    if task == "run":
        return [Step([python, "-m", "tools.run_notebooks"])]
    if task == "notebooks":
        # Only this task writes the committed figures (ncf_helpers.plots.save_figure).
        return [Step([python, "-m", "tools.run_notebooks", "--inplace"],
                     env={"NCF_FIGURES": str(root / "images")})]
    if task == "book":
        return [Step([python, "-m", "tools.book"])]
    if task in SCRIPTS:
        return [Step([python, "-m", SCRIPTS[task]])]
    if task == "lab":
        # Progress bars on for readers; kernels get CurveZMQ keys instead of logging
        # that they run "over TCP without encryption".
        return [Step([python, "-m", "jupyterlab", "notebooks", *lab_args(),
                      "--KernelManager.transport_encryption=auto"], env={"NCF_PROGRESS": "1"})]
    if task == "setup":
        return []
    raise ValueError(f"unknown task {task!r}; choose one of {sorted(set(MAKE_TARGETS.values()))}")


def plan(task, root=ROOT, torch_index=""):
    """Every command `task` would run now, the install first when it is out of date."""
    if task == "clean":
        return []
    install = [] if install_is_current(root) else setup_steps(root, torch_index)
    peers = peers_steps(root) if task in PEER_TASKS else []
    return install + peers + task_steps(task, root)


def environment(step):
    """The environment every step runs in: reproducible outputs, one torch thread."""
    env = dict(os.environ)
    # No progress bars in executed notebooks and logs: their timing text is not reproducible.
    env["NCF_PROGRESS"] = "0"
    # One thread: as fast as two for these small models, far faster when the cores are
    # shared, and the same float results on every machine.
    env["OMP_NUM_THREADS"] = "1"
    env.update(step.env)
    return env


def execute(steps, root=ROOT):
    """Run the steps in order; stop at the first that fails and return its exit code."""
    for step in steps:
        if step.note:
            print(step.note, flush=True)
        if not step.argv:
            continue
        print(f"+ {step}", flush=True)
        code = subprocess.run(step.argv, cwd=root, env=environment(step)).returncode
        if code not in step.ok:
            return code
        if step.marks:
            step.marks.touch()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(set(MAKE_TARGETS.values())))
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--torch-index", default=os.environ.get("TORCH_INDEX", ""),
                        help=f"extra package index for PyTorch, e.g. {CPU_INDEX} (CPU build); "
                             "default: $TORCH_INDEX, else PyPI only")
    args = parser.parse_args(argv)
    steps = plan(args.task, ROOT, args.torch_index)
    if args.dry_run:
        for step in steps:
            print(*([f"# {step.note}"] if step.note else []), *([step] if step.argv else []),
                  sep="\n")
        return 0
    if args.task == "clean":
        for path in ("build", ".pytest_cache"):
            shutil.rmtree(ROOT / path, ignore_errors=True)
        return 0
    return execute(steps)


if __name__ == "__main__":
    sys.exit(main())
