"""Count the code lines of ncf_helpers: non-blank, non-comment lines outside docstrings.

    python -m tools.code_lines            # the working tree
    python -m tools.code_lines aaba8c6    # the package at a git revision
    python -m tools.code_lines --without cli losses.BPRLoss
                                               # leaving out modules or top-level definitions
"""
import argparse
import ast
import io
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
        tokenize.ENDMARKER}


def docstring_lines(tree):
    """Line numbers covered by module, class and function docstrings."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(source, without=()):
    """Number of lines holding code, for the text of one module, leaving out the top-level
    functions and classes named in ``without``."""
    tree = ast.parse(source)
    docs = docstring_lines(tree)
    for node in tree.body:
        if getattr(node, "name", None) in without:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            docs.update(range(first, node.end_lineno + 1))
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in SKIP:
            lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docs)
    return len(lines)


def sources(revision=None):
    """``{path: text}`` of the package's modules, now or at ``revision``."""
    if revision is None:
        return {p.relative_to(ROOT).as_posix(): p.read_text()
                for p in sorted((ROOT / "ncf_helpers").glob("*.py"))}
    names = subprocess.run(["git", "ls-tree", "--name-only", revision, "ncf_helpers/"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return {name: subprocess.run(["git", "show", f"{revision}:{name}"], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout
            for name in names if name.endswith(".py")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", nargs="?", help="a git revision (default: the working tree)")
    parser.add_argument("--without", nargs="+", default=[], metavar="MODULE[.NAME]",
                        help="leave out whole modules (cli) or top-level definitions "
                             "of a module (losses.BPRLoss)")
    args = parser.parse_args(argv)
    counts = {}
    for name, text in sources(args.revision).items():
        module = Path(name).stem
        if module not in args.without:
            left_out = {w.split(".", 1)[1] for w in args.without if w.startswith(module + ".")}
            counts[name] = code_lines(text, left_out)
    for name, n in counts.items():
        print(f"{name:<40}{n:>6}")
    print(f"{'total':<40}{sum(counts.values()):>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
