"""Execute the notebook series in order, headless, and time each notebook.

    python -m tools.run_notebooks             # into build/ (executed .ipynb), timed
    python -m tools.run_notebooks --inplace   # refresh the committed outputs

The lessons run first (``notebooks/NN_*.ipynb``), then the solutions to their exercises
(``notebooks/solutions/NN_*.ipynb``), each in a fresh kernel started in its own folder.
Writes ``build/series_times.csv`` (notebook, seconds), reused by the benchmark. To read
the series as HTML, build the book (``python -m tools.book``).
"""
import argparse
import csv
import sys
import time
from pathlib import Path

import nbformat
import zmq
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"


def series(notebooks=NOTEBOOKS):
    """Every notebook of the series in running order: the lessons, then their solutions."""
    return (sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))
            + sorted((notebooks / "solutions").glob("[0-9][0-9]_*.ipynb")))


def kernel_manager():
    """A python3 kernel manager that encrypts the kernel's local TCP channels.

    The kernel spec of ipykernel declares CurveZMQ support; with the manager's default
    (``transport_encryption="disabled"``) every kernel logs that it runs "over TCP without
    encryption". ``"auto"`` hands it keys instead, where pyzmq was built with CurveZMQ.
    """
    encryption = "auto" if zmq.has("curve") else "disabled"
    return KernelManager(kernel_name="python3", transport_encryption=encryption)


def execute(path, timeout=600):
    """Run one notebook top to bottom in a fresh kernel; return it and its wall time."""
    nb = nbformat.read(path, as_version=4)
    # No stored widget state: with it the book loads the widget manager from a CDN (lesson
    # 11's explorer); JupyterLab draws a widget by running its cell, and the book shows the
    # cell's printed tables instead.
    client = NotebookClient(nb, km=kernel_manager(), timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            store_widget_state=False)
    start = time.perf_counter()
    # A client given its kernel manager leaves the kernel running unless told to clean
    # up; kernels left to outlive this process log "Parent appears to have exited".
    client.execute(cleanup_kc=True)
    return nb, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inplace", action="store_true",
                        help="overwrite the committed notebooks with fresh outputs")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: the lessons, then the solutions)")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or series()
    BUILD.mkdir(exist_ok=True)
    times = []
    for path in paths:
        name = path.relative_to(NOTEBOOKS) if path.is_relative_to(NOTEBOOKS) else Path(path.name)
        print(f"{name.as_posix():<44}", end="", flush=True)
        nb, seconds = execute(path)
        times.append((name.as_posix(), seconds))
        out = path if args.inplace else BUILD / name
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)
        print(f"{seconds:7.1f} s{'  (over the 60 s budget)' if seconds > 60 else ''}")
    total = sum(s for _, s in times)
    print(f"{'series':<44}{total:7.1f} s  ({len(times)} notebooks, slowest "
          f"{max(times, key=lambda t: t[1])[0]})")
    print("outputs written", "in place to notebooks/" if args.inplace else "to build/")
    with open(BUILD / "series_times.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["notebook", "seconds"])
        writer.writerows((name, f"{s:.2f}") for name, s in times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
