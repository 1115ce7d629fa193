from pathlib import Path

from tools.code_lines import code_lines, main, sources

ROOT = Path(__file__).resolve().parent.parent

MODULE = '''"""A module docstring
over two lines."""
import os  # a comment


def f(x):
    """A docstring."""
    # a whole-line comment
    return (x +
            1)
'''


def test_docstrings_comments_and_blank_lines_do_not_count():
    assert code_lines(MODULE) == 4  # the import, the def and the two lines of the return


def test_the_total_is_the_sum_of_the_package_modules(capsys):
    main([])
    *modules, total = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert total[0] == "total" and int(total[1]) == sum(int(n) for _, n in modules)
    package = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "ncf_helpers").glob("*.py"))
    assert [name for name, _ in modules] == package
    assert all(int(n) == code_lines((ROOT / name).read_text()) for name, n in modules)


def test_named_definitions_and_modules_can_be_left_out(capsys):
    assert code_lines(MODULE, without={"f"}) == 1  # only the import is left
    main(["--without", "cli", "losses.BPRLoss"])
    out = capsys.readouterr().out
    assert "ncf_helpers/cli.py" not in out and "ncf_helpers/losses.py" in out
    full = {name: code_lines(text) for name, text in sources().items()}
    line = next(x for x in out.splitlines() if x.startswith("ncf_helpers/losses.py"))
    assert int(line.split()[-1]) < full["ncf_helpers/losses.py"]
