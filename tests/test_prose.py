"""The prose check: every number a notebook's markdown quotes is backed."""
import json

import pytest

from tools import prose_check


def notebook(*cells):
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def md(text):
    return {"cell_type": "markdown", "source": [text], "metadata": {}}


def code(source, output="", ignored=False):
    outputs = [{"output_type": "stream", "name": "stdout", "text": [output]}] if output else []
    metadata = {"tags": ["nbval-ignore-output"]} if ignored else {}
    return {"cell_type": "code", "source": [source], "outputs": outputs, "metadata": metadata,
            "execution_count": 1}


def check(tmp_path, nb, sources=frozenset()):
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    return [(c.kind, c.text) for c in prose_check.unbacked(path, set(sources), root=tmp_path)]


def test_a_number_printed_by_a_compared_output_is_backed_at_the_prose_precision(tmp_path):
    nb = notebook(code("print(rmse)", "test RMSE 0.92738"), md("The RMSE is 0.927, about 0.93."))
    assert check(tmp_path, nb) == []
    nb = notebook(code("print(rmse)", "test RMSE 0.92738"), md("The RMSE is 0.937."))
    assert check(tmp_path, nb) == [("decimal", "0.937")]


def test_an_ignored_output_backs_nothing_but_a_nearby_assert_does(tmp_path):
    cells = [code("print(rmse)", "test RMSE 0.92738", ignored=True),
             md("Training reaches 0.927 after 12 epochs.")]
    assert check(tmp_path, notebook(*cells)) == [("epochs", "12"), ("decimal", "0.927")]
    cells.append(code("assert abs(rmse - 0.927) < 0.005 and best_epoch == 12"))
    assert check(tmp_path, notebook(*cells)) == []
    far = cells[:2] + [md("filler")] * (prose_check.WINDOW + 1) + cells[2:]
    assert len(check(tmp_path, notebook(*far))) == 2  # too far away to be its check
    marked = code("# NBVAL_IGNORE_OUTPUT\nprint(rmse)", "test RMSE 0.92738")  # the comment form
    assert len(check(tmp_path, notebook(marked, cells[1]))) == 2


def test_percentages_ratios_counts_and_durations(tmp_path):
    nb = notebook(code("print(share, ratio, n)", "0.0631 1.6 74760"),
                  md("6.3 % of pairs, 1.6 times as many, 74,760 ratings in about 40 s."))
    assert check(tmp_path, nb) == [("duration", "40")]
    assert check(tmp_path, nb, {("nb.ipynb", "40")}) == []


def test_code_math_links_and_plain_integers_are_not_claims(tmp_path):
    nb = notebook(md("Call `fit(lr=0.003)`, see [notebook 05](05_models.ipynb#3.1), "
                     "$\\sigma(0.5)$ and\n```python\nx = 1.5\n```\nin step 3 of 9."))
    assert check(tmp_path, nb) == []


def test_the_sources_file_needs_a_source_for_each_row(tmp_path):
    path = tmp_path / "sources.csv"
    path.write_text("notebook,number,source\nnb.ipynb,0.959,NVIDIA NCF README\n")
    assert prose_check.load_sources(path) == {("nb.ipynb", "0.959")}
    path.write_text("notebook,number,source\nnb.ipynb,0.959,\n")
    with pytest.raises(ValueError, match="no source"):
        prose_check.load_sources(path)


def test_every_notebook_of_the_series_is_backed():
    problems = [str(c) for path in prose_check.series() for c in prose_check.unbacked(path)]
    assert problems == [], "\n".join(problems)


def test_changing_a_number_in_real_prose_turns_the_check_red(tmp_path):
    """Take a backed decimal of a real notebook, change it, and the check must fail."""
    for path in prose_check.series():
        nb = json.loads(path.read_text(encoding="utf-8"))
        backed = [c for c in prose_check.claims(nb, path.name) if c.kind == "decimal"
                  and c not in prose_check.unbacked(path)]
        if backed:
            break
    else:
        pytest.skip("no notebook quotes a decimal")
    claim = backed[0]
    cell = nb["cells"][claim.cell]
    text = "".join(cell["source"])
    changed = f"{claim.value + 0.1234:.4f}"  # a value no output of the notebook prints
    cell["source"] = [text.replace(claim.text, changed, 1)]
    (tmp_path / "notebooks").mkdir()
    copy = tmp_path / "notebooks" / path.name
    copy.write_text(json.dumps(nb))
    assert changed in [c.text for c in prose_check.unbacked(copy, set(), root=tmp_path)]
