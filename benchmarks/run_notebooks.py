"""Execute the notebook series in order, headless, and time each notebook.

    python -m benchmarks.run_notebooks             # into build/: .ipynb + .html
    python -m benchmarks.run_notebooks --inplace   # refresh the committed outputs

Writes ``build/series_times.csv`` (notebook, seconds), reused by the benchmark.
"""
import argparse
import csv
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"


def execute(path, timeout=600):
    """Run one notebook top to bottom in a fresh kernel; return it and its wall time."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inplace", action="store_true",
                        help="overwrite the committed notebooks with fresh outputs")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: all of notebooks/, in order)")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    BUILD.mkdir(exist_ok=True)
    times = []
    for path in paths:
        print(f"{path.name:<32}", end="", flush=True)
        nb, seconds = execute(path)
        times.append((path.name, seconds))
        if args.inplace:
            nbformat.write(nb, path)
        else:
            nbformat.write(nb, BUILD / path.name)
            html, _ = HTMLExporter().from_notebook_node(nb)
            (BUILD / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
        print(f"{seconds:7.1f} s{'  (over the 60 s budget)' if seconds > 60 else ''}")
    total = sum(s for _, s in times)
    print(f"{'series':<32}{total:7.1f} s  ({len(times)} notebooks, slowest "
          f"{max(times, key=lambda t: t[1])[0]})")
    print("outputs written", "in place to notebooks/" if args.inplace else "to build/")
    with open(BUILD / "series_times.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["notebook", "seconds"])
        writer.writerows((name, f"{s:.2f}") for name, s in times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
