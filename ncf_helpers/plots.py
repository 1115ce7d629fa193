"""Plots the notebooks share. Each function draws on an axis and returns it."""
import matplotlib.pyplot as plt
import pandas as pd


def _axis(ax, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_histories(histories, column, ax=None, title=None):
    """One curve per run: ``histories`` maps a label to a :func:`fit` history frame.

    The best epoch of each run (the weights it keeps) is marked with a dot.
    """
    ax = _axis(ax)
    for label, history in histories.items():
        line, = ax.plot(history.index, history[column], label=label)
        best = history.attrs.get("best_epoch")
        if best in history.index:
            ax.plot(best, history.loc[best, column], "o", color=line.get_color())
    ax.set_xlabel("epoch")
    ax.set_ylabel(column)
    ax.set_title(title or column)
    ax.legend(fontsize="small")
    return ax


def plot_results(results, column, ax=None, title=None, reference=None):
    """Horizontal bars of one metric column of a results table (index = model).

    ``reference``: a value to draw as a dashed line (e.g. a target).
    """
    ax = _axis(ax, figsize=(6, 0.35 * len(results) + 1))
    ordered = results[column].sort_values(ascending=False)
    ax.barh(ordered.index.astype(str), ordered.to_numpy(), color="tab:blue")
    for y, value in enumerate(ordered.to_numpy()):
        ax.text(value, y, f" {value:.3f}", va="center", fontsize="small")
    if reference is not None:
        ax.axvline(reference, ls="--", color="tab:red")
    low = ordered.min()
    ax.set_xlim(low * 0.95 if pd.notna(low) and low > 0 else None, ordered.max() * 1.06)
    ax.set_xlabel(column)
    ax.set_title(title or column)
    return ax
