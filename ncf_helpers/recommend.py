"""Turn a trained model into readable answers: top-N movies for a user, and the
movies nearest to a given one in embedding space.

Both functions speak MovieLens ids (``userId``, ``movieId``) at the boundary and use
the split's :class:`~ncf_helpers.encoding.IdEncoder` to reach the model's indices; the
ranking itself is the model's ``recommend`` (:mod:`ncf_helpers.base`).
"""
import numpy as np
import pandas as pd

from . import checks
from .base import Recommender


def _top_n(scores, n):
    """Indices of the ``n`` highest finite scores, best first (ties: lower index first)."""
    # A stable sort of all scores, not argpartition: it keeps the tie rule at the cut-off too.
    return np.argsort(-scores, kind="stable")[:min(n, int(np.isfinite(scores).sum()))]


def _movie_table(encoder, items, movies):
    """movieId (and title/genres when ``movies`` is given) for item indices."""
    movie_ids = np.asarray(encoder.item_ids)[items]
    if movies is None:
        return pd.DataFrame({"movieId": movie_ids})
    if "movieId" in checks.require_columns(movies, ["title"], "movies").columns:
        movies = movies.set_index("movieId")
    if movies.index.has_duplicates:
        raise ValueError(f"movies lists movieId {movies.index[movies.index.duplicated()][0]} "
                         "more than once; keep one row per movie "
                         "(movies[~movies.index.duplicated()])")
    # reindex, not loc: a movie missing from `movies` gets NaN rather than failing.
    info = movies.reindex(movie_ids)
    columns = [c for c in ("title", "genres") if c in info.columns]
    return pd.DataFrame({"movieId": movie_ids} | {c: info[c].to_numpy() for c in columns})


def recommend(model, split, user_id, n=10):
    """Top-``n`` movies for one user, among those the user has not rated in train.

    Parameters
    ----------
    model : Recommender
        Any fitted model or baseline of the package (its ``recommend`` ranks the items).
    split : PreparedSplit
        Where the user's training ratings, the id encoder and the movie titles come from
        (:func:`~ncf_helpers.prepare.original_split`, ``last_item_split``, ...).
    user_id : int
        The MovieLens ``userId``.
    n : int, default 10
        Number of movies; fewer come back if the user has rated almost everything.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank`` (1 = best), ``movieId``, ``title`` and ``genres`` (when the
        split's movies provide them) and ``score``, sorted by score, descending.

    Raises
    ------
    KeyError
        If ``user_id`` is unknown to the split's encoder.
    """
    checks.instance(model, Recommender, "model", "pass a fitted model or baseline")
    n = checks.positive_int(n, "n")
    encoder = split.encoder
    user = encoder.user_index([user_id])
    train_users, train_items, _ = split.arrays("train")
    mine = train_users == user[0]
    items, scores = model._recommend(user, n, (train_users[mine], train_items[mine]))
    keep = items[0] >= 0
    table = _movie_table(encoder, items[0][keep], split.movies).assign(score=scores[0][keep])
    table.insert(0, "rank", np.arange(1, int(keep.sum()) + 1))
    return table


def similar_movies(model, split, movie_id, n=10):
    """The ``n`` movies whose item embeddings are closest (cosine) to ``movie_id``'s.

    Parameters
    ----------
    model : RecModel
        A trained model; its ``item_embeddings()`` are compared.
    split : PreparedSplit
        Its encoder maps ``movie_id`` to the model's index and back; its movies give the
        titles.
    movie_id : int
        The MovieLens ``movieId`` to find neighbours of (it is not returned).
    n : int, default 10

    Returns
    -------
    pandas.DataFrame
        Columns ``movieId``, ``title`` and ``genres`` (when the split's movies provide
        them) and ``similarity`` (cosine, in [-1, 1]), most similar first.

    Raises
    ------
    KeyError
        If ``movie_id`` is unknown to the encoder.
    """
    checks.callable_arg(getattr(model, "item_embeddings", None), "model.item_embeddings",
                        "pass a trained model of ncf_helpers.models")
    n = checks.positive_int(n, "n")
    encoder = split.encoder
    embeddings = np.asarray(model.item_embeddings(), dtype=np.float64)
    if embeddings.ndim != 2 or embeddings.shape[0] != encoder.n_items:
        raise ValueError(f"the model has {embeddings.shape[0]} item embeddings but the split's "
                         f"encoder knows {encoder.n_items} movies: use the split the model "
                         "was trained on")
    if not np.isfinite(embeddings).all():
        raise ValueError("the item embeddings contain NaN or infinite values: the model diverged")
    item = encoder.item_index([movie_id])[0]

    # Zero vectors have no direction: give them similarity 0 instead of NaN.
    norms = np.linalg.norm(embeddings, axis=1)
    unit = embeddings / np.where(norms > 0, norms, 1.0)[:, None]
    similarity = unit @ unit[item]
    similarity[item] = -np.inf
    top = _top_n(similarity, n)

    return _movie_table(encoder, top, split.movies).assign(similarity=similarity[top])
