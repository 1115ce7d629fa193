"""pytest configuration for the notebook regression tests (nbval).

``pytest --nbval notebooks/`` runs them exactly as ``make test`` does, from any folder of
the checkout: in this environment's kernel (``--nbval-current-env``), with the project's
one sanitize file, and with a readable diff (nbdime's) of every compared output that
drifted, beside nbval's own report. Options given on the command line win. Without
``--nbval`` (``pytest tests``), nothing here does anything.

``--nbdime`` (one process, no ``-n``) opens nbval's side-by-side web view of the failed
cells in a browser when the run ends; its reporter is mended here for pytest 9.
"""
import io
from pathlib import Path

import pytest

SANITIZE = Path(__file__).resolve().parent / "notebooks" / "sanitize.cfg"
# nbval does not compare these in strict mode (without --nbdime); neither does the diff.
NOT_COMPARED = ("image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json")


@pytest.hookimpl(trylast=True)  # after nbval's own, which registers its reporter
def pytest_configure(config):
    option = config.option
    if not (getattr(option, "nbval", False) or getattr(option, "nbval_lax", False)):
        return
    if option.nbval_sanitize_with is None:
        option.nbval_sanitize_with = str(SANITIZE)
    if not option.nbval_kernel_name:
        option.nbval_current_env = True
    if option.nbdime:  # nbval's side-by-side web view of the failed cells
        config.pluginmanager.unregister(name="nbdimereporter")
        config.pluginmanager.register(nbdime_reporter(config), "nbdimereporter")


def nbdime_reporter(config):
    """nbval 0.11's ``--nbdime`` reporter, mended for pytest 9 (it left out the ``config``
    argument of a hook call, which pytest 9 requires)."""
    from nbval.nbdime_reporter import NbdimeReporter

    class Reporter(NbdimeReporter):
        def pytest_runtest_logreport(self, report):
            category = self.config.hook.pytest_report_teststatus(report=report, config=config)[0]
            self.stats.setdefault(category, []).append(report)

    return Reporter(config)


def comparable(outputs, item):
    """A cell's outputs as nbval compares them: sanitized, without images, execution counts
    or metadata, and consecutive writes to one stream joined (the kernel may split them)."""
    kept = []
    for output in item.sanitize_outputs(outputs):
        output = {k: v for k, v in output.items() if k not in ("execution_count", "metadata")}
        if "data" in output:
            output["data"] = {k: v for k, v in output["data"].items() if k not in NOT_COMPARED}
        previous = kept[-1] if kept else {}
        if output["output_type"] == "stream" and previous.get("output_type") == "stream" \
                and previous["name"] == output["name"]:
            previous["text"] += output["text"]
        else:
            kept.append(output)
    return kept


def output_diff(item):
    """nbdime's plain-text diff of the committed outputs (-) against this run's (+)."""
    import nbformat
    from nbdime.diffing.notebooks import diff_notebooks
    from nbdime.prettyprint import PrettyPrintConfig, pretty_print_diff

    def one_cell(outputs):
        notebook = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell(item.cell.source)
        cell.id, cell.outputs = "cell", nbformat.from_dict(comparable(outputs, item))
        notebook.cells = [cell]
        return notebook

    committed, ran = one_cell(item.cell.outputs), one_cell(item.test_outputs)
    out = io.StringIO()
    config = PrettyPrintConfig(out=out, use_git=False, use_diff=False, use_color=False)
    pretty_print_diff(committed, diff_notebooks(committed, ran), "", config)
    return out.getvalue() or "(no difference in the compared outputs)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    compared = getattr(item, "options", {}).get("check", False)
    if (report.failed and call.when == "call" and compared
            and getattr(item, "test_outputs", None) is not None):
        report.sections.append(("outputs: committed (-) against this run (+), by nbdime",
                                output_diff(item)))
    return report
