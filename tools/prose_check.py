"""Every number the prose of a notebook quotes must be backed.

    python -m tools.prose_check                     # every notebook of the series
    python -m tools.prose_check notebooks/06_*.ipynb

A markdown cell's *claims* are its decimals (``0.927``), percentages (``12 %``), ratios
(``1.6 times``, ``3x``), epoch counts (``8 epochs``), durations (``about 40 s``) and
counts with thousands separators (``74,760``). Text in code spans, code blocks, links
and LaTeX is code, not prose, and is skipped. A claim is backed when

1. it appears in an output the regression tests compare exactly: a code cell of the
   notebook without the ``nbval-ignore-output`` tag (or ``# NBVAL_IGNORE_OUTPUT``
   comment) printed the number (rounded to the prose's decimals; a percentage may come
   from a fraction), or
2. an ``assert`` in a code cell near the markdown cell (``WINDOW`` cells either side)
   contains the number itself, which is how a value from training -- whose output is
   not compared -- is tied to its prose with a tolerance, e.g.
   ``assert abs(rmse - 0.927) < 0.005``, or
3. it is listed, with its source, in ``notebooks/prose_sources.csv`` (published figures,
   constants of a method such as "10 % held out").

Words about a figure ("keeps improving", "flattens after epoch 3") cannot be found by a
pattern: back them by an assert on the plotted data and quote its numbers.
"""
import argparse
import csv
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "notebooks" / "prose_sources.csv"
WINDOW = 6
IGNORE_MARKER = "NBVAL_IGNORE_OUTPUT"
IGNORE_TAG = "nbval-ignore-output"

_SKIP = re.compile(r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]+\$|\]\([^)]*\)|<[^>\n]+>"
                   r"|https?://\S+", re.S)
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_CLAIMS = [  # (kind, pattern); the first group is the number
    ("percent", re.compile(rf"(?<![\w.])({_NUMBER})\s?%")),
    ("ratio", re.compile(rf"(?<![\w.])({_NUMBER})\s?(?:times\b|×|x\b)")),
    ("epochs", re.compile(rf"(?<![\w.])({_NUMBER})\s+epochs?\b")),
    ("duration", re.compile(rf"\babout\s+({_NUMBER})\s?(?:s|ms|seconds?|minutes?|min)\b")),
    ("count", re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?)(?!\w|,\d|\.\d)")),
    ("decimal", re.compile(r"(?<![\w.,])(\d+\.\d+)(?!\w|\.\d|,\d)")),
]
_OUTPUT_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Claim:
    notebook: str
    cell: int
    kind: str
    text: str  # the number as the prose writes it

    @property
    def value(self):
        return float(self.text.replace(",", ""))

    @property
    def decimals(self):
        return len(self.text.split(".")[1]) if "." in self.text else 0

    def __str__(self):
        return f"{self.notebook}: cell {self.cell}: {self.kind} {self.text!r} is not backed"


def prose(text):
    """Markdown text without code, math, links and HTML tags."""
    return _SKIP.sub(" ", text)


def claims(notebook, name):
    """Every claim of the notebook's markdown cells, in order."""
    found = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text, seen = prose("".join(cell["source"])), set()
        for kind, pattern in _CLAIMS:
            for match in pattern.finditer(text):
                if match.start(1) in seen:  # one claim per number: its first (strongest) kind
                    continue
                seen.add(match.start(1))
                found.append(Claim(name, index, kind, match.group(1)))
    return found


def _output_text(cell):
    parts = []
    for output in cell.get("outputs", []):
        text = output.get("text") or output.get("data", {}).get("text/plain", "")
        parts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(parts)


def _ignored(cell):
    """Whether nbval runs ``cell`` without comparing its output."""
    return (IGNORE_TAG in cell.get("metadata", {}).get("tags", [])
            or IGNORE_MARKER in "".join(cell["source"]))


def compared_numbers(notebook):
    """Numbers printed by code cells whose outputs the regression tests compare."""
    values = set()
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and not _ignored(cell):
            for token in _OUTPUT_NUMBER.findall(_output_text(cell)):
                try:
                    values.add(float(token.replace(",", "")))
                except ValueError:
                    continue
    return values


def asserted_numbers(notebook, index, window=WINDOW):
    """Numbers written in ``assert`` lines of the code cells near cell ``index``."""
    cells = notebook["cells"][max(0, index - window):index + window + 1]
    values = set()
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for line in "".join(cell["source"]).splitlines():
            if line.lstrip().startswith("assert") or "np.testing.assert" in line:
                values.update(float(t.replace("_", "")) for t in
                              re.findall(r"(?<![\w.])\d[\d_]*(?:\.\d+)?(?:e-?\d+)?", line))
    return values


def _matches(claim, values):
    """Whether a number of ``values`` rounds to the claim at the prose's precision."""
    targets = [(claim.value, claim.decimals)]
    if claim.kind == "percent":  # 6.3 % may be printed as 0.063
        targets.append((claim.value / 100, claim.decimals + 2))
    return any(abs(v - target) <= 0.5 * 10 ** -decimals + 1e-12
               for target, decimals in targets for v in values)


def load_sources(path=SOURCES):
    """``{(notebook, number)}`` listed in the sources file (each row names its source)."""
    if not path.exists():
        return set()
    listed = set()
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if not row.get("source", "").strip():
                raise ValueError(f"{path}: {row['notebook']} {row['number']} has no source")
            listed.add((row["notebook"], row["number"]))
    return listed


def unbacked(path, sources=None, root=ROOT):
    """The claims of one notebook that nothing backs."""
    path = Path(path)
    name = path.resolve().relative_to(root).as_posix() if path.resolve().is_relative_to(
        root) else path.name
    notebook = json.loads(path.read_text(encoding="utf-8"))
    sources = load_sources() if sources is None else sources
    outputs = compared_numbers(notebook)
    return [c for c in claims(notebook, name)
            if (name, c.text) not in sources and not _matches(c, outputs)
            and not _matches(c, asserted_numbers(notebook, c.cell))]


def series(root=ROOT):
    notebooks = root / "notebooks"
    return sorted(notebooks.glob("[0-9][0-9]_*.ipynb")) + sorted(
        (notebooks / "solutions").glob("[0-9][0-9]_*.ipynb"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: the whole series")
    args = parser.parse_args(argv)
    sources = load_sources()
    problems = [c for path in (args.notebooks or series()) for c in unbacked(path, sources)]
    for claim in problems:
        print(claim)
    print(f"{len(problems)} unbacked number(s)" if problems else "every number is backed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
