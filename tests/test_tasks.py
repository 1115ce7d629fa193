"""The make targets and `python -m tools.tasks` run the same commands; what they run."""
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tools import run_notebooks, tasks

ROOT = Path(__file__).resolve().parent.parent
STRICT_NBVAL = ("-m pytest -q --nbval --nbval-current-env "
                "--nbval-sanitize-with notebooks/sanitize.cfg notebooks")


def makefile_recipes():
    """{target: [recipe lines]} of the Makefile."""
    recipes, target = {}, None
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([a-z]+):", line)
        if match:
            target = match.group(1)
            recipes[target] = []
        elif line.startswith("\t") and target:
            recipes[target].append(line.strip())
    return recipes


def test_every_make_target_runs_its_task_and_nothing_else():
    recipes = makefile_recipes()
    assert set(tasks.MAKE_TARGETS) <= set(recipes)
    for target, task in tasks.MAKE_TARGETS.items():
        assert recipes[target] == [f"$(TASKS) {task}"], target
    assert "TASKS := $(PYTHON) -m tools.tasks" in (ROOT / "Makefile").read_text()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_dry_run_prints_the_task_command():
    for target, task in [("test", "test"), ("run", "run"), ("venv", "setup"), ("book", "book")]:
        out = subprocess.run(["make", "-n", "-C", str(ROOT), target, "PYTHON=python3"],
                             capture_output=True, text=True, check=True).stdout
        assert f"python3 -m tools.tasks {task}" in out.splitlines()


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


def commands(steps):
    return [str(s) for s in steps if s.argv]


def test_test_task_is_lint_then_unit_then_strict_nbval(project):
    python = tasks.venv_python(project)
    steps = tasks.plan("test", project)
    assert commands(steps)[-2:] == [f"{python} -m pytest -q tests", f"{python} {STRICT_NBVAL}"]
    assert steps[0].note.startswith("lint: ruff is not installed")  # no ruff in this checkout
    assert all(s.ok == (0, tasks.NOTHING_COLLECTED) for s in steps[1:])


def test_lint_runs_ruff_on_the_code_when_installed(project):
    ruff = tasks.venv_bin(project) / "ruff"
    ruff.write_text("#!/bin/sh\n")
    ruff.chmod(0o755)
    assert commands(tasks.plan("lint", project)) == [
        f"{ruff} check ncf_helpers tests tools benchmarks experiments"]


def test_run_and_notebooks_execute_the_series(project):
    python = tasks.venv_python(project)
    assert commands(tasks.plan("run", project)) == [f"{python} -m tools.run_notebooks"]
    assert commands(tasks.plan("notebooks", project)) == [
        f"{python} -m tools.run_notebooks --inplace"]
    assert commands(tasks.plan("book", project)) == [f"{python} -m tools.book"]
    for script in ("bench", "scale", "tune", "compare"):
        [command] = commands(tasks.plan(script, project))
        module = command.split()[-1]
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file()


def test_a_stale_install_comes_first_and_says_it_takes_minutes(project):
    later = time.time() + 10
    os.utime(project / "requirements.txt", (later, later))  # edited after the last install
    steps = tasks.plan("run", project)
    assert "a few minutes" in steps[0].note  # said before pip starts
    assert [s.argv[-2:] for s in steps[:3]] == [
        ["-r", "requirements.txt"], ["-r", "requirements-data.txt"], ["-e", "."]]
    assert "--no-deps" in steps[1].argv and steps[2].marks == tasks.stamp(project)
    assert commands(steps)[-1].endswith("-m tools.run_notebooks")


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


def test_dry_run_prints_the_plan(capsys):
    assert tasks.main(["--dry-run", "test"]) == 0
    assert STRICT_NBVAL in capsys.readouterr().out


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
