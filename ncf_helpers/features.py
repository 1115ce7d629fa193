"""Side features of users and movies, one row per encoder index.

The original's embedding layer takes ``one-hot(id)`` followed by ``m_uf`` user (or
``n_if`` item) features. These functions build those feature blocks from the
``users`` and ``movies`` frames of :func:`ncf_helpers.data.load_movielens`, with
row ``k`` describing the user (movie) of encoder index ``k``, ready for
``NCF(..., user_features=..., item_features=...)``.

Each function returns a float32 DataFrame indexed by the encoder's ids in row
order, with readable column names (``"age:25-34"``, ``"genre:Drama"``, ...);
``frame.to_numpy()`` is the matrix. Categorical values become one-hot columns
(genres multi-hot). The vocabularies are the values present among the encoder's
users/movies, sorted (all seven age groups), so the columns depend only on the data.
"""
import numpy as np
import pandas as pd

from .checks import finite_array, fitted, instance, positive_int, require_columns

# The ml-1m age groups, as (label, lowest age) pairs; ml-100k gives exact ages.
AGE_BUCKETS = (("<18", 0), ("18-24", 18), ("25-34", 25), ("35-44", 35),
               ("45-49", 45), ("50-55", 50), ("56+", 56))
NO_GENRES = "(no genres listed)"
UNKNOWN_YEAR = "year:unknown"


# --------------------------------------------------------------------------- checks
def _rows(frame, id_column, columns, ids, kind):
    """The rows of ``frame`` for ``ids``, in that order, after checking its columns.

    ``frame`` is indexed by ``id_column`` (as the loaders return it) or holds it as a
    column.
    """
    instance(frame, pd.DataFrame, f"{kind}s", f"pass the {kind}s frame of load_movielens()")
    if frame.index.name != id_column and id_column in frame.columns:
        frame = frame.set_index(id_column)
    require_columns(frame, columns, f"{kind}s frame")
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()][0]
        raise ValueError(f"{kind}s frame has {kind} id {dup} more than once; keep one row each")
    absent = ~pd.Index(ids).isin(frame.index)
    if absent.any():
        raise KeyError(f"{kind} id {int(ids[absent][0])} is in the encoder but not in the "
                       f"{kind}s frame ({int(absent.sum())} missing in all)")
    rows = frame.loc[ids, columns]
    for column in columns:
        if column != "year" and rows[column].isna().any():
            raise ValueError(f"column {column!r} is missing for {kind} id "
                             f"{rows[column].isna().idxmax()}; fill it in")
    return rows


def _one_hot(values, prefix, vocabulary=None):
    """One column per category: the values present, sorted, or ``vocabulary`` (which must
    hold every value) in its order."""
    values = pd.Series(values).astype(str)
    vocabulary = sorted(values.unique()) if vocabulary is None else list(vocabulary)
    codes = pd.Index(vocabulary).get_indexer(values)
    return np.eye(len(vocabulary), dtype=np.float32)[codes], [f"{prefix}:{v}" for v in vocabulary]


def _frame(blocks, index):
    matrix = np.hstack([m for m, _ in blocks]).astype(np.float32)
    names = [n for _, ns in blocks for n in ns]
    return pd.DataFrame(matrix, index=index, columns=names)


# --------------------------------------------------------------------------- values
def age_bucket(ages):
    """The ml-1m age-group label of each age (``"<18"``, ``"18-24"``, ..., ``"56+"``).

    Raises ValueError on a negative or non-finite age.
    """
    ages = finite_array(ages, "ages")
    if (ages < 0).any():
        raise ValueError(f"ages must be non-negative, got {ages[ages < 0][0]}")
    labels, lows = zip(*AGE_BUCKETS)
    return np.array(labels, dtype=object)[np.searchsorted(lows, ages, side="right") - 1]


def decade_label(years):
    """``"year:1990s"`` for 1990-1999, ``"year:unknown"`` for a missing year."""
    years = pd.Series(years).astype("Int64")
    decades = (years // 10 * 10).astype(str) + "s"
    return ("year:" + decades).where(years.notna(), UNKNOWN_YEAR).to_numpy(dtype=object)


# ------------------------------------------------------------------------- features
def user_features(users, encoder):
    """One-hot age bucket, gender and occupation of each encoder user.

    Parameters
    ----------
    users : pandas.DataFrame
        Indexed by ``userId`` (or with a ``userId`` column), with columns ``age``,
        ``gender`` and ``occupation``, as :func:`~ncf_helpers.data.load_movielens`
        returns it.
    encoder : IdEncoder
        Fitted; row ``k`` of the result is the user of index ``k``.

    Returns
    -------
    pandas.DataFrame of float32, shape (n_users, m_uf)
        Indexed by ``userId`` in encoder order. Columns: the seven
        :data:`AGE_BUCKETS` (always all seven), then ``gender:*``, then
        ``occupation:*`` (the values of the encoder's users, sorted). Each row has
        exactly one 1 in each group.

    Raises
    ------
    KeyError
        If a user of the encoder is not in ``users`` (the message names the id).
    ValueError
        If a column is missing (named), a value is missing or an age is negative.
    """
    ids = fitted(encoder, "item_ids", "call IdEncoder().fit(ratings) first").user_ids
    rows = _rows(users, "userId", ["age", "gender", "occupation"], ids, "user")
    blocks = [
        _one_hot(age_bucket(rows["age"].to_numpy(dtype=float)), "age",
                 [label for label, _ in AGE_BUCKETS]),
        _one_hot(rows["gender"], "gender"),
        _one_hot(rows["occupation"], "occupation"),
    ]
    return _frame(blocks, pd.Index(ids, name="userId"))


def item_features(movies, encoder):
    """Multi-hot genres and one-hot release decade of each encoder movie.

    Parameters
    ----------
    movies : pandas.DataFrame
        Indexed by ``movieId`` (or with a ``movieId`` column), with ``genres``
        (``"Action|Comedy"``; ``"(no genres listed)"`` gives no genre) and
        ``year`` (missing allowed).
    encoder : IdEncoder
        Fitted; row ``k`` of the result is the movie of index ``k``.

    Returns
    -------
    pandas.DataFrame of float32, shape (n_items, n_if)
        Indexed by ``movieId`` in encoder order. Columns ``genre:*`` (the genres of
        the encoder's movies, sorted), then ``year:<decade>s`` (their decades) and
        ``year:unknown`` (always); exactly one year column is 1.

    Raises
    ------
    KeyError
        If a movie of the encoder is not in ``movies`` (the message names the id).
    ValueError
        If a column is missing (named) or genres are missing.
    """
    ids = fitted(encoder, "item_ids", "call IdEncoder().fit(ratings) first").item_ids
    rows = _rows(movies, "movieId", ["genres", "year"], ids, "movie")
    genres = rows["genres"].astype(str).replace(NO_GENRES, "").str.get_dummies(sep="|")
    genres = genres.drop(columns="", errors="ignore")  # pandas 3 names a column "" for ""
    years = pd.to_numeric(rows["year"], errors="coerce").astype("Int64")
    decades = sorted({int(y) // 10 * 10 for y in years.dropna()})
    year_vocab = [f"year:{d}s" for d in decades] + [UNKNOWN_YEAR]
    year_matrix, _ = _one_hot(decade_label(years), "year", year_vocab)
    blocks = [(genres.to_numpy(np.float32), [f"genre:{g}" for g in genres.columns]),
              (year_matrix, year_vocab)]
    return _frame(blocks, pd.Index(ids, name="movieId"))


# ------------------------------------------------------------------- rating counts
def count_buckets(counts, edges):
    """Label each count with its bucket: ``"0"``, ``"1-e1"``, ``"e1+1-e2"``, ..., ``"eK+1+"``.

    Used to group test ratings by how many training ratings their user (or
    movie) has. ``count_buckets([0, 5, 30, 200], [20, 50, 100])`` gives
    ``["0", "1-20", "21-50", "101+"]``, as an ordered Categorical whose
    categories are all the buckets (so empty ones still show up).

    Parameters
    ----------
    counts : array-like of int
        Non-negative counts.
    edges : sequence of int
        Increasing positive upper bounds of all buckets but the last.
    """
    counts = np.asarray(counts)
    edges = [positive_int(e, "each of edges") for e in edges]
    if not edges or any(a >= b for a, b in zip(edges, edges[1:])):
        raise ValueError(f"edges must be increasing positive integers, got {edges}")
    if counts.dtype.kind not in "iu" or (counts < 0).any():
        raise ValueError("counts must be non-negative integers")
    lows = [1] + [e + 1 for e in edges]
    labels = ["0"] + [f"{lo}-{hi}" for lo, hi in zip(lows, edges)] + [f"{lows[-1]}+"]
    # Right-closed bins (-1, 0], (0, e1], (e1, e2], ..., (eK, inf): one per label.
    return pd.cut(counts, [-1, 0, *edges, np.inf], labels=labels)
