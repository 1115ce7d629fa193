import matplotlib

matplotlib.use("Agg")

import shutil  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ncf_helpers import plots  # noqa: E402
from ncf_helpers.plots import (  # noqa: E402
    draw_architecture,
    draw_neumf,
    plot_histories,
    plot_learning_curves,
    plot_results,
    save_figure,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def all_text(fig):
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title])


# --------------------------------------------------------------------------
# draw_architecture
# --------------------------------------------------------------------------
def test_draw_architecture_returns_figure_without_saving(tmp_path):
    fig = draw_architecture()
    assert isinstance(fig, Figure)
    assert list(tmp_path.iterdir()) == []


def test_draw_architecture_saves_the_figure_it_returns_the_same_every_time(tmp_path):
    path = tmp_path / "arch.png"
    fig = draw_architecture(path)
    fig.savefig(tmp_path / "returned.png", dpi=120)
    np.testing.assert_array_equal(mpimg.imread(path), mpimg.imread(tmp_path / "returned.png"))
    # a committed image changes only when the drawing does
    draw_architecture(tmp_path / "again.png")
    assert (tmp_path / "again.png").read_bytes() == path.read_bytes()


def test_draw_architecture_labels():
    text = all_text(draw_architecture())
    for label in ["user id\n(one-hot", "item id\n(one-hot", "user features", "item features",
                  "embedding\n", "concat", "CF layers", "ReLU", "+ head", "predicted",
                  "128 → 128", "m_{uf}", "n_{if}",
                  r"\mathbf{u}", r"\mathbf{v}"]:
        assert label in text, label


def test_draw_architecture_numeric_dims():
    text = all_text(draw_architecture(embedding_dim=40, cf_layers=[64, 32, 16]))
    assert "64 → 32 → 16" in text
    assert "Linear(16, 1)" in text
    assert r"\mathbb{R}^{40}" in text and r"\mathbb{R}^{80}" in text


def test_draw_architecture_texts_do_not_overlap():
    fig = draw_architecture()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts]
    for k, a in enumerate(boxes):
        for b in boxes[k + 1:]:
            assert not a.overlaps(b)


def test_draw_architecture_on_given_axis():
    fig, ax = plt.subplots()
    assert draw_architecture(ax=ax) is fig
    assert "CF layers" in all_text(fig)


@pytest.mark.parametrize("kwargs", [
    dict(embedding_dim=0), dict(embedding_dim=""), dict(embedding_dim=2.5),
    dict(cf_layers=[]), dict(cf_layers="128"), dict(cf_layers=[128, 0]),
    dict(cf_layers=[128, "x"]),
])
def test_draw_architecture_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        draw_architecture(**kwargs)


# --------------------------------------------------------------------------
# plot_histories, plot_results
# --------------------------------------------------------------------------
def history(values, best):
    frame = pd.DataFrame({"val_rmse": values}, index=pd.RangeIndex(1, len(values) + 1,
                                                                   name="epoch"))
    frame.attrs["best_epoch"] = best
    return frame


def test_plot_histories_marks_best_epoch():
    ax = plot_histories({"a": history([1.0, 0.9, 0.95], best=2),
                         "b": history([1.1, 1.0, 0.97, 0.99], best=3)}, "val_rmse")
    curves = [line for line in ax.lines if line.get_marker() in ("None", "", None)]
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(curves) == 2 and len(dots) == 2
    assert [(float(d.get_xdata()[0]), float(d.get_ydata()[0])) for d in dots] == [
        (2.0, 0.9), (3.0, 0.97)]
    # each dot has its curve's colour
    assert [d.get_color() for d in dots] == [c.get_color() for c in curves]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "validation RMSE"
    assert all(float(t).is_integer() for t in ax.get_xticks())  # epochs are whole numbers
    assert [t.get_text() for t in ax.get_legend().get_texts()][:1] == ["a"]


def test_plot_histories_without_best_epoch_draws_no_dot():
    frame = history([1.0, 0.9], best=None)
    ax = plot_histories({"a": frame}, "val_rmse")
    assert not [line for line in ax.lines if line.get_marker() == "o"]


def test_plot_results_orders_models_and_draws_error_bars():
    results = pd.DataFrame({"rmse": [0.95, 1.12, 0.92], "std": [0.01, np.nan, 0.02]},
                           index=["NCF", "mean", "MLP"])
    ax = plot_results(results, "rmse", error="std", reference=1.0)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # descending from the bottom: the best (lowest) RMSE ends on top of the chart
    assert labels == ["mean", "NCF", "MLP"]
    assert [t.get_text() for t in ax.texts] == ["1.120", "0.950", "0.920"]
    (bars,) = ax.collections  # one set of horizontal error bars
    half_widths = [abs(seg[1][0] - seg[0][0]) / 2 for seg in bars.get_segments()]
    np.testing.assert_allclose(half_widths, [0.0, 0.01, 0.02])  # a missing std draws none
    assert np.isclose(ax.lines[-1].get_xdata()[0], 1.0)  # the reference line


def test_plot_learning_curves_puts_loss_left_and_metric_right():
    frame = history([1.0, 0.9, 0.95], best=2).assign(train_loss=[1.3, 0.9, 0.8])
    left, right = plot_learning_curves({"a": frame}, "val_rmse")
    assert left.get_ylabel() == "training loss" and right.get_ylabel() == "validation RMSE"
    assert list(left.lines[0].get_ydata()) == [1.3, 0.9, 0.8]


def test_draw_neumf_shows_both_towers(tmp_path):
    fig = draw_neumf(tmp_path / "neumf.png")
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "GMF tables" in text and "MLP tables" in text and "concat" in text
    fig.savefig(tmp_path / "returned.png", dpi=120)
    np.testing.assert_array_equal(mpimg.imread(tmp_path / "neumf.png"),
                                  mpimg.imread(tmp_path / "returned.png"))


# --------------------------------------------------------------------------
# save_figure
# --------------------------------------------------------------------------
@pytest.fixture
def curve():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [1, 0])
    return fig


def test_save_figure_writes_under_build_unless_a_folder_is_named(curve, tmp_path, monkeypatch):
    monkeypatch.delenv(plots.FIGURES_VARIABLE, raising=False)
    monkeypatch.setattr(plots, "BUILD_FIGURES", tmp_path / "build" / "figures")
    path = save_figure(curve, "curve.png")
    assert path == tmp_path / "build" / "figures" / "curve.png"
    assert mpimg.imread(path).shape[:2] == (300, 400)  # 4 x 3 inches at the default 100 dpi
    monkeypatch.setenv(plots.FIGURES_VARIABLE, str(tmp_path / "images"))  # make notebooks
    assert save_figure(curve, "curve.png", dpi=50) == tmp_path / "images" / "curve.png"
    assert mpimg.imread(tmp_path / "images" / "curve.png").shape[:2] == (150, 200)


def test_figures_of_a_run_are_ignored_by_git():
    root = Path(__file__).resolve().parent.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    probe = plots.BUILD_FIGURES / "any.png"
    assert subprocess.run(["git", "check-ignore", "-q", str(probe)], cwd=root).returncode == 0


@pytest.mark.parametrize("name", ["../images/a.png", "sub/a.png", "a.svg", "", "images/"])
def test_save_figure_refuses_folders_and_other_formats(curve, name):
    with pytest.raises(ValueError, match="file name ending in .png"):
        save_figure(curve, name)
