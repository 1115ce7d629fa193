"""Plots the notebooks share. Each function draws on an axis and returns it."""
import os
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from .checks import non_empty, positive_int, positive_ints


def _axis(ax, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


# Readable names for the columns of a fit history.
LABELS = {"train_loss": "training loss", "val_rmse": "validation RMSE",
          "val_auc": "validation AUC (sampled)", "val_sampled_hr": "validation HR@10 (sampled)",
          "val_full_hr": "validation HR@10 (full ranking)", "lr": "learning rate"}


BOOK_WIDTH_INCHES = 10  # wider figures are shrunk to the book's column, and their text too


def use_book_style():
    """Font sizes that stay readable when a figure is shown at the book's column width.

    A figure up to ``BOOK_WIDTH_INCHES`` wide is scaled down by about a quarter in the
    book, so text starts at 12 points. The notebooks call this once, in their first cell.
    """
    plt.rcParams.update({"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12,
                         "xtick.labelsize": 11, "ytick.labelsize": 11, "legend.fontsize": 11,
                         "figure.titlesize": 14, "figure.dpi": 100})


def label(column):
    """A reader's name for a history or results column (``val_rmse`` -> "validation RMSE")."""
    return LABELS.get(column, column.replace("_", " "))


def plot_histories(histories, column, ax=None, title=None):
    """One curve per run: ``histories`` maps a label to a :func:`fit` history frame.

    The best epoch of each run (the weights it keeps) is marked with a dot. Epochs
    are whole numbers, so the x axis has integer ticks only.
    """
    ax = _axis(ax)
    for name, history in histories.items():
        line, = ax.plot(history.index, history[column], label=name)
        best = history.attrs.get("best_epoch")
        if best in history.index:
            ax.plot(best, history.loc[best, column], "o", color=line.get_color())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel=label(column), title=title or label(column))
    ax.legend(fontsize="small")
    return ax


def plot_learning_curves(histories, metric, axes=None, title=None):
    """Training loss (left) and a validation metric (right) per epoch, one line per run.

    Returns the two axes. The dot on each curve is the best validation epoch.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    plot_histories(histories, "train_loss", ax=axes[0], title="training loss")
    plot_histories(histories, metric, ax=axes[1], title=label(metric))
    if title:
        axes[0].figure.suptitle(title)
    axes[0].figure.tight_layout()
    return axes


def plot_results(results, column, ax=None, title=None, error=None, reference=None, decimals=3):
    """Dot plot of one metric column of a results table (index = model), best on top.

    ``error``: a column of the table (or a Series) with each model's seed-to-seed
    standard deviation, drawn as error bars. The x axis spans only the values, so
    read gaps against the error bars: dots, not bars, because a bar on a cut axis
    makes a small gap look huge.
    ``reference``: a value to draw as a dashed vertical line (e.g. a baseline).
    ``decimals``: digits of the value printed above each dot.
    """
    ax = _axis(ax, figsize=(6, 0.4 * len(results) + 1.2))
    ordered = results.sort_values(column, ascending=False)
    values = ordered[column].to_numpy()
    if error is not None:
        error = ordered[error] if isinstance(error, str) else error.reindex(ordered.index)
        error = error.fillna(0).to_numpy()
    ys = range(len(ordered))
    ax.errorbar(values, ys, xerr=error, fmt="o", color="tab:blue", capsize=3)
    for y, value in zip(ys, values):
        ax.annotate(f"{value:.{decimals}f}", (value, y), textcoords="offset points", xytext=(0, 7),
                    ha="center", fontsize="small")
    ax.set_yticks(list(ys), ordered.index.astype(str))
    ax.set_ylim(-0.6, len(ordered) - 0.4)
    if reference is not None:
        ax.axvline(reference, ls="--", color="tab:red")
    ax.grid(axis="x", alpha=0.4)
    ax.set(xlabel=label(column), title=title or label(column))
    return ax


# --------------------------------------------------------------------------
# Block diagrams of the models: variant 1 (NCF) and NeuMF
# --------------------------------------------------------------------------
_COLORS = {"input": "#dbe9f6", "layer": "#fde3c8", "vector": "#e2f0d9", "output": "#f4d6de"}


def _box(ax, x, y, text, kind, width=1.55, height=0.62, fontsize=10.5):
    """A rounded box centred on (x, y); returns its (left, right) edges."""
    ax.add_patch(FancyBboxPatch(
        (x - width / 2, y - height / 2), width, height,
        boxstyle="round,pad=0.02,rounding_size=0.08",
        facecolor=_COLORS[kind], edgecolor="0.25", linewidth=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, linespacing=1.35)
    return x - width / 2, x + width / 2


def _arrow(ax, start, end):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14,
                                 color="0.2", linewidth=1.2, shrinkA=2, shrinkB=2))


def _row(ax, boxes, y=2.5):
    """Boxes ``(x, text, kind, width, height)`` centred at height ``y``, left to right, each
    with an arrow to the next."""
    edges = [_box(ax, x, y, text, kind, width, height) for x, text, kind, width, height in boxes]
    for (_, right), (left, _) in zip(edges, edges[1:]):
        _arrow(ax, (right, y), (left, y))


def _canvas(ax):
    """A frameless 13 x 5 axis for a block diagram (on a new figure unless ``ax`` is given)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(13.0, 5.0))
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.9)
    ax.set_xlim(0, 13)
    ax.set_ylim(0, 5)
    ax.set_axis_off()
    return ax


# Where save_figure writes: $NCF_FIGURES (``make notebooks`` sets it to the committed
# images/), else the checkout's build/figures/ (the current folder's, for an installed copy).
FIGURES_VARIABLE = "NCF_FIGURES"
_CHECKOUT = Path(__file__).resolve().parent.parent
BUILD_FIGURES = (_CHECKOUT if (_CHECKOUT / "pyproject.toml").exists() else Path.cwd()) \
    / "build" / "figures"


def save_figure(fig, name, dpi=100):
    """Save ``fig`` as a PNG file named ``name`` and return its path.

    Running or testing the notebooks never rewrites a committed file: the figure goes to
    the folder named by the environment variable ``NCF_FIGURES``, which only
    ``make notebooks`` sets (to the repository's ``images/``), and otherwise to
    ``build/figures/``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save.
    name : str
        A file name without folders, e.g. ``"09_rmse_by_bucket.png"``.
    dpi : int, default 100
        Resolution in dots per inch.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If ``name`` holds a folder or does not end in ``.png``.
    """
    if Path(name).name != name or not name.endswith(".png"):
        raise ValueError(f"name must be a file name ending in .png, without folders; got {name!r}")
    folder = Path(os.environ.get(FIGURES_VARIABLE) or BUILD_FIGURES)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    # No "Software" metadata: the PNG bytes depend only on the drawing.
    fig.savefig(path, dpi=dpi, format="png", metadata={"Software": None})
    return path


def _save(fig, path):
    if path is not None:
        # No "Software"/date metadata: the PNG bytes depend only on the drawing.
        fig.savefig(path, dpi=120, format="png", metadata={"Software": None})
    return fig


def draw_architecture(path=None, embedding_dim="d", cf_layers=(128, 128), ax=None):
    """Draw model variant 1 (:class:`~ncf_helpers.models.NCF`) as a block diagram.

    One-hot user id (length ``m``) and user features (``m_uf``) go through the
    user embedding layer to ``u`` in R^d; the item side likewise (``n``,
    ``n_if``) to ``v``; ``concat(u, v)`` goes through the CF layers (fully
    connected, ReLU) and the output head to the predicted rating.

    Parameters
    ----------
    path : str or path-like, optional
        Where to save the figure as PNG (``dpi=120``, fixed size, no
        timestamp in the metadata, so reruns write identical pixels).
    embedding_dim : str or int, default "d"
        The latent dimension shown on the diagram.
    cf_layers : sequence of int, default (128, 128)
        Widths of the CF layers, shown on the diagram.
    ax : matplotlib.axes.Axes, optional
        Draw here instead of on a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    is_symbol = isinstance(embedding_dim, str) and embedding_dim.strip()
    d = embedding_dim.strip() if is_symbol else str(positive_int(embedding_dim, "embedding_dim"))
    widths = [str(w) for w in positive_ints(cf_layers, "cf_layers")]
    non_empty(widths, "cf_layers", "give the width of each CF layer, e.g. (128, 128)")
    ax = _canvas(ax)

    x_in, x_emb, x_lat, x_cat = 1.0, 3.1, 4.9, 6.5
    sides = {  # y of the one-hot box, the feature box and the side's latent row
        "user": (4.25, 3.35, 3.8, "m", r"m_{uf}", r"\mathbf{u}"),
        "item": (1.65, 0.75, 1.2, "n", r"n_{if}", r"\mathbf{v}"),
    }
    for side, (y_id, y_feat, y_mid, n_ids, n_feat, vec) in sides.items():
        _, r_id = _box(ax, x_in, y_id, f"{side} id\n(one-hot, ${n_ids}$)", "input", 1.85)
        _, r_ft = _box(ax, x_in, y_feat, f"{side} features\n(${n_feat}$ values)", "input", 1.85)
        l_emb, r_emb = _box(ax, x_emb, y_mid, f"embedding\n${n_ids} + {n_feat} \\to {d}$"
                            "\n(linear)", "layer", 1.75, 0.95)
        _arrow(ax, (r_id, y_id), (l_emb, y_mid + 0.2))
        _arrow(ax, (r_ft, y_feat), (l_emb, y_mid - 0.2))
        l_lat, r_lat = _box(ax, x_lat, y_mid, rf"${vec} \in \mathbb{{R}}^{{{d}}}$", "vector",
                            width=1.3, height=0.55, fontsize=11)
        _arrow(ax, (r_emb, y_mid), (l_lat, y_mid))
        _arrow(ax, (r_lat, y_mid), (x_cat - 0.75, 2.5 + (0.2 if side == "user" else -0.2)))

    two_d = f"2{d}" if not d.isdigit() else str(2 * int(d))
    _row(ax, [(x_cat, "concat\n" + r"$[\mathbf{u}, \mathbf{v}]$" + "\n"
               + rf"$\in \mathbb{{R}}^{{{two_d}}}$", "vector", 1.5, 1.0),
              (8.35, "CF layers\nLinear, ReLU\n" + " → ".join(widths), "layer", 1.8, 1.3),
              (10.35, f"output\nLinear({widths[-1]}, 1)\n+ head", "layer", 1.8, 1.3),
              (12.2, "predicted\nrating " + r"$\hat{r}_{ui}$", "output", 1.4, 0.8)])
    ax.set_title("Model variant 1 (NCF): embedding layers, then CF layers", fontsize=12)
    return _save(ax.figure, path)


def draw_neumf(path=None, ax=None):
    """Draw NeuMF (:class:`~ncf_helpers.models.NeuMF`) as a block diagram.

    The GMF tower multiplies its user and item embeddings element-wise; the MLP tower
    concatenates its own embeddings and passes them through ``Linear + ReLU`` layers;
    the two results are concatenated into one ``Linear(., 1)``, plus the optional
    biases, then the head.

    Parameters
    ----------
    path : str or path-like, optional
        Where to save the figure as PNG (fixed size and dpi, no metadata).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    ax = _canvas(ax)
    x_in, x_emb, x_op, x_cat = 0.9, 3.0, 5.6, 8.0
    _, r_u = _box(ax, x_in, 3.6, "user id $u$", "input", 1.3)
    _, r_i = _box(ax, x_in, 1.4, "movie id $i$", "input", 1.3)
    towers = {  # y of the tower, its two embeddings, its operation
        "GMF": (4.0, r"$\mathbf{p}^G_u,\ \mathbf{q}^G_i$" + "\n(gmf_dim)",
                r"$\mathbf{p}^G_u \odot \mathbf{q}^G_i$" + "\n(element-wise)"),
        "MLP": (1.0, r"$\mathbf{p}^M_u,\ \mathbf{q}^M_i$" + "\n(mlp_dim)",
                r"$[\mathbf{p}^M_u, \mathbf{q}^M_i]$" + "\nLinear + ReLU"),
    }
    for tower, (y, embeddings, operation) in towers.items():
        l_emb, r_emb = _box(ax, x_emb, y, f"{tower} tables\n" + embeddings, "layer", 2.0, 1.0)
        _arrow(ax, (r_u, 3.6), (l_emb, y + 0.15))
        _arrow(ax, (r_i, 1.4), (l_emb, y - 0.15))
        l_op, r_op = _box(ax, x_op, y, operation, "vector", 2.3, 1.0)
        _arrow(ax, (r_emb, y), (l_op, y))
        _arrow(ax, (r_op, y), (x_cat - 0.8, 2.5 + (0.25 if tower == "GMF" else -0.25)))
    _row(ax, [(x_cat, "concat\n" + r"$[\phi^{GMF}, \phi^{MLP}]$", "vector", 1.6, 0.9),
              (10.05, "Linear(·, 1)\n" + r"$+\ \mu + b_u + b_i$" + "\n(optional)\n+ head",
               "layer", 1.9, 1.3),
              (12.1, "prediction\n" + r"$\hat{y}_{ui}$", "output", 1.3, 0.8)])
    ax.set_title("NeuMF: a GMF tower and an MLP tower with their own embeddings, "
                 "fused by one output layer", fontsize=12)
    return _save(ax.figure, path)


# --------------------------------------------------------------------------
# Beyond accuracy (ncf_helpers.beyond_accuracy)
# --------------------------------------------------------------------------
def plot_popularity_bins(bins, ax=None, title=None):
    """What is recommended against what is rated, by item-popularity group.

    ``bins`` maps a model name to its :func:`~ncf_helpers.beyond_accuracy.popularity_bins`
    table; all must come from the same training data. Grey bars: each group's share of
    the train ratings; one line per model: its share of the recommendations. A line
    above the bars on the left leans on the most popular items.
    """
    non_empty(bins, "bins", "pass {model name: popularity_bins(...)}")
    tables = list(bins.values())
    rated = tables[0]["ratings_share"]
    if any(not t["ratings_share"].equals(rated) for t in tables[1:]):
        raise ValueError("the popularity_bins tables differ in their groups or ratings shares: "
                         "compute them all on the same training interactions and n_bins")
    ax = _axis(ax, figsize=(7, 4))
    ax.bar(rated.index, rated.to_numpy(), color="0.8", label="share of the ratings (train)")
    for name, table in bins.items():
        ax.plot(table.index, table["recommendations_share"].to_numpy(), "o-", label=name)
    ax.set_xticks(list(rated.index))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(xlabel=f"item popularity group (1 = most rated; {len(rated)} groups of equal size)",
           ylabel="share of the recommendations or ratings",
           title=title or "Popularity of what is recommended against what is rated")
    ax.legend(fontsize="small")
    return ax


def plot_coverage_curves(curves, ax=None, title=None):
    """Catalogue coverage against the list length K, one line per model.

    ``curves`` maps a model name to its :func:`~ncf_helpers.beyond_accuracy.coverage_curve`
    (a Series indexed by k).
    """
    non_empty(curves, "curves", "pass {model name: coverage_curve(...)}")
    ax = _axis(ax)
    for name, curve in curves.items():
        ax.plot(curve.index, curve.to_numpy(), "o-", markersize=3, label=name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(xlabel="K (items per list)", ylabel="catalogue coverage",
           title=title or "Catalogue coverage against K")
    ax.legend(fontsize="small")
    return ax
