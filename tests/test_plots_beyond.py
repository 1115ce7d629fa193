"""The beyond-accuracy plots, checked by what they show: data, labels, legend."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ncf_helpers.beyond_accuracy import coverage_curve, popularity_bins  # noqa: E402
from ncf_helpers.plots import plot_coverage_curves, plot_popularity_bins  # noqa: E402

TRAIN_ITEMS = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 3, 4])
LISTS = {"popular": np.array([[0, 1], [0, 1], [0, 2]]),
         "varied": np.array([[5, 4], [3, 2], [1, 0]])}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_plot_popularity_bins_shows_ratings_as_bars_and_one_line_per_model():
    bins = {name: popularity_bins(top, TRAIN_ITEMS, 6, n_bins=3) for name, top in LISTS.items()}
    ax = plot_popularity_bins(bins)
    # groups by popularity {0, 1}, {2, 3}, {4, 5}; ratings 8/11, 2/11, 1/11
    np.testing.assert_allclose([bar.get_height() for bar in ax.patches], [8 / 11, 2 / 11, 1 / 11])
    assert [bar.get_x() + bar.get_width() / 2 for bar in ax.patches] == [1, 2, 3]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines) == ["popular", "varied"]
    np.testing.assert_allclose(lines["popular"].get_ydata(), [5 / 6, 1 / 6, 0])
    np.testing.assert_allclose(lines["varied"].get_ydata(), [1 / 3, 1 / 3, 1 / 3])
    assert list(lines["popular"].get_xdata()) == [1, 2, 3]
    assert sorted(legend_texts(ax)) == ["popular", "share of the ratings (train)", "varied"]
    assert "3 groups" in ax.get_xlabel() and "recommendations" in ax.get_ylabel()
    assert ax.yaxis.get_major_formatter()(0.5, 0) == "50%"


def test_plot_popularity_bins_refuses_tables_of_other_training_data():
    bins = {"a": popularity_bins(LISTS["popular"], TRAIN_ITEMS, 6, n_bins=3),
            "b": popularity_bins(LISTS["popular"], TRAIN_ITEMS[1:], 6, n_bins=3)}
    with pytest.raises(ValueError, match="same training interactions"):
        plot_popularity_bins(bins)
    with pytest.raises(ValueError, match="bins is empty"):
        plot_popularity_bins({})


def test_plot_coverage_curves_one_line_per_model():
    curves = {name: coverage_curve(top, 6) for name, top in LISTS.items()}
    fig, ax = plt.subplots()
    assert plot_coverage_curves(curves, ax=ax, title="toy") is ax
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["popular", "varied"]
    assert list(lines[0].get_xdata()) == [1, 2]
    np.testing.assert_allclose(lines[0].get_ydata(), [1 / 6, 3 / 6])
    np.testing.assert_allclose(lines[1].get_ydata(), [3 / 6, 1])
    assert legend_texts(ax) == ["popular", "varied"]
    assert ax.get_title() == "toy" and ax.get_ylabel() == "catalogue coverage"
    assert ax.get_xlabel().startswith("K")
