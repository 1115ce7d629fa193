"""Turn a trained model into readable answers: top-N movies for a user, and the
movies nearest to a given one in embedding space.

Both functions speak MovieLens ids (``userId``, ``movieId``) at the boundary and
use the fitted :class:`~ncf_helpers.encoding.IdEncoder` to reach the model's indices.
"""
import numpy as np
import pandas as pd

from . import checks


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


def recommend(score_fn, encoder, user_id, train_users, train_items, movies=None, n=10):
    """Top-``n`` movies for one user, among those the user has not rated in train.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(users, items) -> scores`` (higher = better), e.g. a baseline
        or ``metrics.model_scorer(model)``.
    encoder : IdEncoder
        Maps ``user_id`` to its index and item indices back to movieIds.
    user_id : int
        The MovieLens ``userId``.
    train_users, train_items : array-like of int, shape (n_train,)
        Training pairs (indices); the user's train items are never recommended.
    movies : pandas.DataFrame, optional
        Movie metadata indexed by ``movieId`` (or with a ``movieId`` column) with a
        ``title`` column and optionally ``genres``.
    n : int, default 10
        Number of movies; fewer come back if the user has rated almost everything.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank`` (1 = best), ``movieId``, ``title`` and ``genres`` (when
        ``movies`` provides them) and ``score``, sorted by score, descending.

    Raises
    ------
    KeyError
        If ``user_id`` is unknown to the encoder.
    """
    checks.callable_arg(score_fn, "score_fn", "pass e.g. metrics.model_scorer(model)")
    n = checks.positive_int(n, "n")
    n_items = encoder.n_items
    train_users = checks.index_array(train_users, "train_users")
    train_items = checks.index_array(train_items, "train_items", n_items)
    checks.same_length(train_users=train_users, train_items=train_items)
    user = encoder.user_index([user_id])[0]

    scores = checks.scores_array(score_fn(np.full(n_items, user), np.arange(n_items)), n_items)
    scores[train_items[train_users == user]] = -np.inf  # already seen: not a recommendation
    top = _top_n(scores, n)

    table = _movie_table(encoder, top, movies).assign(score=scores[top])
    table.insert(0, "rank", np.arange(1, len(top) + 1))
    return table


def similar_movies(item_embeddings, encoder, movie_id, movies=None, n=10):
    """The ``n`` movies whose embeddings are closest (cosine) to ``movie_id``'s.

    Parameters
    ----------
    item_embeddings : array-like or torch.Tensor, shape (n_items, d)
        One row per item index, e.g. ``model.item_embedding.weight``.
    encoder : IdEncoder
        Maps ``movie_id`` to its index and item indices back to movieIds.
    movie_id : int
        The MovieLens ``movieId`` to find neighbours of (it is not returned).
    movies : pandas.DataFrame, optional
        Movie metadata, as in :func:`recommend`.
    n : int, default 10

    Returns
    -------
    pandas.DataFrame
        Columns ``movieId``, ``title`` and ``genres`` (when ``movies`` provides
        them) and ``similarity`` (cosine, in [-1, 1]), most similar first.

    Raises
    ------
    KeyError
        If ``movie_id`` is unknown to the encoder.
    """
    n = checks.positive_int(n, "n")
    if hasattr(item_embeddings, "detach"):  # a torch tensor, possibly on GPU
        item_embeddings = item_embeddings.detach().cpu().numpy()
    embeddings = np.asarray(item_embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or embeddings.shape[0] != encoder.n_items:
        raise ValueError(f"item_embeddings must have shape (n_items={encoder.n_items}, d), "
                         f"got {embeddings.shape}; pass model.item_embedding.weight")
    if not np.isfinite(embeddings).all():
        raise ValueError("item_embeddings contain NaN or infinite values: the model diverged")
    item = encoder.item_index([movie_id])[0]

    # Zero vectors have no direction: give them similarity 0 instead of NaN.
    norms = np.linalg.norm(embeddings, axis=1)
    unit = embeddings / np.where(norms > 0, norms, 1.0)[:, None]
    similarity = unit @ unit[item]
    similarity[item] = -np.inf
    top = _top_n(similarity, n)

    return _movie_table(encoder, top, movies).assign(similarity=similarity[top])
