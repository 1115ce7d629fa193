from tools.code_lines import code_lines, main, sources

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


def test_the_package_is_counted_module_by_module():
    counts = {name: code_lines(text) for name, text in sources().items()}
    assert "ncf_helpers/models.py" in counts and all(n >= 0 for n in counts.values())


def test_named_definitions_and_modules_can_be_left_out(capsys):
    assert code_lines(MODULE, without={"f"}) == 1  # only the import is left
    main(["--without", "distributed", "losses.BPRLoss"])
    out = capsys.readouterr().out
    assert "distributed" not in out and "ncf_helpers/losses.py" in out
    full = {name: code_lines(text) for name, text in sources().items()}
    line = next(x for x in out.splitlines() if x.startswith("ncf_helpers/losses.py"))
    assert int(line.split()[-1]) < full["ncf_helpers/losses.py"]
