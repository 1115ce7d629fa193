"""`make X` and `python -m tools.tasks X` run the same commands, and those commands do their job."""
import importlib.util
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

from tools import run_notebooks, tasks

ROOT = Path(__file__).resolve().parent.parent


def dry_run(task):
    """What ``python -m tools.tasks --dry-run task`` prints in the checkout."""
    return subprocess.run([sys.executable, "-m", "tools.tasks", "--dry-run", task], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("make") is None or os.name == "nt", reason="no make here")
def test_every_make_target_runs_its_task(tmp_path):
    # make's Python is a wrapper that adds --dry-run: make then prints the plan of the task
    # its recipe runs, which must be the plan of the task the target is named after.
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@" --dry-run\n')
    python.chmod(0o755)
    for target, task in tasks.MAKE_TARGETS.items():
        made = subprocess.run(["make", "-s", "-C", str(ROOT), target, f"PYTHON={python}"],
                              capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        assert made.stdout == dry_run(task), f"make {target}"


@pytest.fixture
def project(tmp_path):
    """A checkout with an up-to-date install: plans hold only the task's own commands."""
    for name in tasks.INSTALL_INPUTS:
        (tmp_path / name).write_text("")
    tasks.venv_python(tmp_path).parent.mkdir(parents=True)
    tasks.venv_python(tmp_path).touch()
    past = time.time() - 60
    for name in tasks.INSTALL_INPUTS:
        os.utime(tmp_path / name, (past, past))
    tasks.stamp(tmp_path).touch()
    return tmp_path


def test_the_test_task_runs_every_unit_test_and_every_notebook_cell():
    [lint, suite] = tasks.task_steps("test")
    assert lint.note or Path(lint.argv[0]).stem == "ruff"
    args = [a for a in suite.argv[3:] if a not in (*tasks.PARALLEL, "-q")]  # without workers
    paths = [ROOT / a for a in args if (ROOT / a).exists()]
    assert all(any(t.is_relative_to(p) for p in paths) for t in (ROOT / "tests").glob("test_*.py"))
    # every code cell of every notebook of the series is an item (-p no:python: cells only)
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                                "-p", "no:cacheprovider", "-p", "no:python", *args], cwd=ROOT,
                               capture_output=True, text=True).stdout.splitlines()
    for notebook in run_notebooks.series():
        cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
        name = notebook.relative_to(ROOT).as_posix()
        assert sum(line.startswith(name + "::Cell ") for line in collected) == len(cells), name


def test_every_python_folder_is_linted():
    folders = {d.name for d in ROOT.iterdir() if d.is_dir() and not d.name.startswith(".")
               and d.name != "build" and any(d.rglob("*.py"))}
    assert folders <= set(tasks.LINT_PATHS)


def test_the_long_scripts_are_modules_of_the_checkout(project):
    for task in tasks.SCRIPTS:
        [step] = tasks.plan(task, project)
        assert step.argv[1] == "-m"
        assert importlib.util.find_spec(step.argv[2]) is not None, task


def test_only_make_notebooks_writes_the_committed_figures(project):
    for task in ("run", "test", "nbval", "unit", "book"):
        for step in tasks.plan(task, project):
            assert "NCF_FIGURES" not in tasks.environment(step), task
    [step] = tasks.plan("notebooks", project)
    assert tasks.environment(step)["NCF_FIGURES"] == str(project / "images")


def test_a_stale_install_comes_first_and_says_it_takes_minutes(project):
    later = time.time() + 10
    os.utime(project / "requirements.txt", (later, later))  # edited after the last install
    steps = tasks.plan("run", project)
    assert "a few minutes" in steps[0].note  # said before pip starts
    assert [s.argv[-2:] for s in steps[:3]] == [
        ["-r", "requirements.txt"], ["-r", "requirements-data.txt"], ["-e", "."]]
    assert "--no-deps" in steps[1].argv and steps[2].marks == tasks.stamp(project)
    assert [str(s) for s in steps[3:]] == [str(s) for s in tasks.task_steps("run", project)]


def test_setup_creates_the_venv_only_when_missing(tmp_path):
    first = tasks.setup_steps(tmp_path)[0]
    assert first.argv == [sys.executable, "-m", "venv", str(tmp_path / ".venv")]
    tasks.venv_python(tmp_path).parent.mkdir(parents=True)
    tasks.venv_python(tmp_path).touch()
    assert "venv" not in tasks.setup_steps(tmp_path)[0].argv


def test_torch_index_goes_to_the_requirements_install_only(tmp_path):
    steps = tasks.setup_steps(tmp_path, torch_index=tasks.CPU_INDEX)
    with_index = [s for s in steps if "--extra-index-url" in s.argv]
    assert len(with_index) == 1 and "requirements.txt" in with_index[0].argv
    assert with_index[0].argv[with_index[0].argv.index("--extra-index-url") + 1] == tasks.CPU_INDEX
    assert not any("--extra-index-url" in s.argv for s in tasks.setup_steps(tmp_path))


@pytest.mark.parametrize("uid, allowed", [(0, True), (1000, False)])
def test_lab_allows_root_only_as_root_with_progress_bars_on(project, monkeypatch, uid, allowed):
    monkeypatch.setattr(os, "geteuid", lambda: uid, raising=False)
    [step] = tasks.plan("lab", project)
    assert ("--allow-root" in step.argv) == allowed
    assert "--KernelManager.transport_encryption=auto" in step.argv
    assert tasks.environment(step)["NCF_PROGRESS"] == "1"


def test_every_other_step_runs_without_progress_bars_on_one_thread(project, monkeypatch):
    monkeypatch.setenv("NCF_PROGRESS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    for step in tasks.plan("test", project) + tasks.plan("run", project):
        env = tasks.environment(step)
        assert (env["NCF_PROGRESS"], env["OMP_NUM_THREADS"]) == ("0", "1")


def test_execute_stops_at_the_first_failure_and_accepts_nothing_collected(tmp_path):
    exit_with = lambda code: [sys.executable, "-c", f"raise SystemExit({code})"]  # noqa: E731
    mark = tmp_path / "done"
    ok = [tasks.Step(exit_with(5), ok=(0, 5)), tasks.Step(exit_with(0), marks=mark)]
    assert tasks.execute(ok, tmp_path) == 0 and mark.exists()
    after = tmp_path / "after"
    failing = [tasks.Step(exit_with(3)), tasks.Step(exit_with(0), marks=after)]
    assert tasks.execute(failing, tmp_path) == 3 and not after.exists()


def test_dry_run_prints_the_plan_and_runs_nothing(capsys, monkeypatch):
    removed = []
    monkeypatch.setattr(shutil, "rmtree", lambda path, **kw: removed.append(path))
    assert tasks.main(["--dry-run", "clean"]) == 0 and removed == []
    assert tasks.main(["--dry-run", "test"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line for line in printed if not line.startswith("# ")] == [
        str(s) for s in tasks.plan("test") if s.argv]


def test_unknown_task_is_refused():
    with pytest.raises(SystemExit):
        tasks.main(["--dry-run", "deploy"])


def test_the_series_runs_lessons_then_solutions(tmp_path):
    for name in ["02_b.ipynb", "01_a.ipynb", "solutions/02_b_solutions.ipynb",
                 "solutions/01_a_solutions.ipynb", "sanitize.cfg", "scratch.ipynb"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("{}")
    assert [p.relative_to(tmp_path).as_posix() for p in run_notebooks.series(tmp_path)] == [
        "01_a.ipynb", "02_b.ipynb", "solutions/01_a_solutions.ipynb",
        "solutions/02_b_solutions.ipynb"]


def test_kernels_get_transport_encryption():
    import zmq
    expected = "auto" if zmq.has("curve") else "disabled"
    assert run_notebooks.kernel_manager().transport_encryption == expected


def test_the_runner_shuts_each_kernel_down(tmp_path, monkeypatch):
    # A kernel left running outlives the runner and logs "Parent appears to have exited".
    managers, make = [], run_notebooks.kernel_manager

    def recorded():
        managers.append(make())
        return managers[-1]

    monkeypatch.setattr(run_notebooks, "kernel_manager", recorded)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("6 * 7")])
    nbformat.write(notebook, tmp_path / "answer.ipynb")
    executed, _ = run_notebooks.execute(tmp_path / "answer.ipynb")
    assert executed.cells[0].outputs[0]["data"]["text/plain"] == "42"
    assert len(managers) == 1 and not managers[0].is_alive()


def pinned():
    """{name: version} pinned in requirements*.txt."""
    pins = {}
    for name in ("requirements.txt", "requirements-data.txt"):
        for line in (ROOT / name).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                req = Requirement(line)
                pins[req.name.lower()] = next(iter(req.specifier)).version
    return pins


def test_pyproject_dependencies_admit_the_pinned_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = pinned()
    declared = [Requirement(r) for r in project["dependencies"]]
    declared += [Requirement(r) for reqs in project["optional-dependencies"].values() for r in reqs]
    for req in declared:
        assert req.name.lower() in pins, f"{req.name} is declared but not pinned"
        assert req.specifier.contains(pins[req.name.lower()]), f"{req} excludes the pin"
    torch = next(r for r in declared if r.name == "torch")
    assert not torch.specifier.contains("2.14.0")  # no newer (CUDA) download by a range
    assert "recbole" not in {r.name for r in declared}  # installed with --no-deps instead
