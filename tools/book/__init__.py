"""Build the series as a static HTML book, from the committed outputs (nothing is executed).

    python -m tools.book            # -> build/book/html/index.html

The notebooks are copied, with the repository's layout (``notebooks/``,
``notebooks/solutions/``, ``images/``), into ``build/book/src/`` beside a generated
``index.md``; Sphinx with myst-nb (execution off) and the configuration in
``tools/book/conf.py`` turns them into pages with navigation, a table of contents and
search. Math is rendered by MathJax 3 copied from the installed ``django-static-mathjax``
wheel (SVG output: no web fonts, nothing fetched), so the book reads offline, also when
opened as a ``file://`` page.
"""
import argparse
import filecmp
import shutil
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = Path(__file__).resolve().parent
BOOK = ROOT / "build" / "book"
SRC, HTML = BOOK / "src", BOOK / "html"
WARNINGS = BOOK / "warnings.txt"
# MathJax's single-file TeX + SVG component; its lazily loaded parts sit in es5/'s folders.
MATHJAX_ENTRY = "tex-svg-full.js"

INDEX = """\
# Neural Collaborative Filtering, step by step

An ordered series of notebooks that teaches neural collaborative filtering (NCF) on
MovieLens with PyTorch, from loading the ratings to an honest evaluation against strong
baselines. The pages show each notebook with the outputs of its last run. To run the
notebooks yourself, see the README of the repository.

Read the notebooks in order; each one ends with recap questions and exercises, and the
worked solutions follow the series in their own part.

```{{toctree}}
:caption: The series
:maxdepth: 1

{lessons}
```
{solutions}"""

SOLUTIONS_TOC = """
```{{toctree}}
:caption: Solutions to the exercises
:maxdepth: 1

{}
```
"""


def lessons(root=ROOT):
    """The lesson notebooks, in order."""
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def solutions(root=ROOT):
    """The solutions notebooks, in order (whichever exist)."""
    return sorted((root / "notebooks" / "solutions").glob("[0-9][0-9]_*.ipynb"))


def pages(root=ROOT):
    """Every notebook in the book as a path relative to the repository, lessons first."""
    return [p.relative_to(root) for p in lessons(root) + solutions(root)]


def index_text(root=ROOT):
    """The book's front page: an introduction and the two tables of contents."""
    doc = lambda p: p.relative_to(root).with_suffix("").as_posix()  # noqa: E731
    sols = solutions(root)
    return INDEX.format(
        lessons="\n".join(doc(p) for p in lessons(root)),
        solutions=SOLUTIONS_TOC.format("\n".join(doc(p) for p in sols)) if sols else "")


def _sync(src, dst):
    """Copy src to dst unless identical."""
    if dst.exists() and filecmp.cmp(src, dst, shallow=False):
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _write(path, text):
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def mathjax_dir():
    """The es5/ folder of the installed MathJax, with a clear error when it is missing."""
    spec = find_spec("mathjax")
    es5 = Path(spec.submodule_search_locations[0]) / "static" / "mathjax" / "es5" if spec else None
    if es5 is None or not (es5 / MATHJAX_ENTRY).is_file():
        raise SystemExit("MathJax not found: install the pinned django-static-mathjax "
                         "(pip install -r requirements.txt) to build the book.")
    return es5


def stage(root=ROOT, src=SRC):
    """Lay out the book's sources in ``src``: notebooks, images, index.md and MathJax."""
    wanted = {src / p for p in pages(root)}
    for old in src.glob("notebooks/**/*.ipynb"):  # notebooks removed from the repository
        if old not in wanted:
            old.unlink()
    for rel in pages(root):
        _sync(root / rel, src / rel)
    for image in (root / "images").glob("*"):
        if image.is_file():
            _sync(image, src / "images" / image.name)
    _write(src / "index.md", index_text(root))
    _sync(CONF_DIR / "book.css", src / "_static" / "book.css")
    es5, static = mathjax_dir(), src / "_static" / "mathjax"
    _sync(es5 / MATHJAX_ENTRY, static / MATHJAX_ENTRY)
    for folder in es5.iterdir():  # components the entry file may load on demand
        if folder.is_dir():
            for f in folder.rglob("*"):
                if f.is_file():
                    _sync(f, static / f.relative_to(es5))


def build(quiet=True):
    """Stage and run Sphinx; return the path of the front page."""
    stage()
    # -E: read every notebook afresh (seconds): an incremental build keeps a link to a
    # notebook added since as unresolved on the pages that did not change.
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-E", "-c", str(CONF_DIR),
           "-w", str(WARNINGS), str(SRC), str(HTML)] + (["-q"] if quiet else [])
    subprocess.run(cmd, check=True, cwd=ROOT)
    return HTML / "index.html"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true",
                        help="delete build/book first (staged sources and pages)")
    args = parser.parse_args(argv)
    if args.clean:
        shutil.rmtree(BOOK, ignore_errors=True)
    start = time.perf_counter()
    index = build()
    warnings = WARNINGS.read_text(encoding="utf-8").count("WARNING") if WARNINGS.exists() else 0
    print(f"book: {len(pages())} notebooks in {time.perf_counter() - start:.0f} s, "
          f"{warnings} warning(s) (listed above and in {WARNINGS.relative_to(ROOT)})")
    print(f"open it in a browser: {index.as_uri()}")
    return 0
