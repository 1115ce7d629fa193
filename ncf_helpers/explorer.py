"""Explore a recommender: pick a user or a movie, see what the model does and why.

The logic is two plain functions that return DataFrames, so a book without a
running kernel can print one worked example:

* :func:`user_view`: the movies a user rated highest, their top-n recommendations
  with scores, and for each recommendation the user's rated movies most similar to
  it (why it was chosen);
* :func:`movie_view`: a movie's nearest neighbours.

:class:`Explorer` only wires two dropdowns to those functions for JupyterLab
(ipywidgets 8, imported when an explorer is built).

The recommendations come from the model's own ``recommend`` (the contract of
:mod:`ncf_helpers.base`: any model or baseline of the package), leaving out what the
user rated in train, so the explorer shows exactly the lists that
:func:`~ncf_helpers.recommend.recommend` and the beyond-accuracy measures see. A bare
scorer ``score_fn(users, items) -> scores`` over int64 index arrays (higher = better)
works too: it is ranked the same way.
Similarity is the cosine of the item embeddings when they are given
(``model.item_embeddings()``); without them it is the cosine of the items'
co-rating vectors, ``|U_a ∩ U_b| / sqrt(|U_a| |U_b|)`` with ``U_i`` the train users
who rated item i ("people who rated one also rated the other"), which needs no model.
"""
from collections import namedtuple
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import checks
from .base import Recommender

UserView = namedtuple("UserView", ["rated", "recommendations"])
UserView.__doc__ = "What :func:`user_view` returns: two DataFrames."


class _Scorer(Recommender):
    """A bare ``score_fn(users, items)`` dressed as a :class:`Recommender`, so that it is
    ranked by the same ``recommend`` (ties, exclusions, empty places) as every model."""

    def __init__(self, score_fn, n_users, n_items):
        self.score_fn, self.n_users, self.n_items = score_fn, n_users, n_items

    def _predict(self, users, items):
        return checks.scores_array(self.score_fn(users, items), len(users))


def _recommender(model):
    """``model`` if it is a Recommender; a callable scorer is kept for :class:`_Scorer`."""
    if isinstance(model, Recommender):
        return model
    return checks.callable_arg(model, "model", "pass a fitted model or baseline of "
                               "ncf_helpers (anything with recommend), or score_fn(users, "
                               "items) -> scores")


@dataclass
class _Context:
    """Everything the views need, checked once."""
    model: object  # a Recommender
    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray  # train interactions, as given
    items: np.ndarray
    ratings: np.ndarray  # or None (implicit feedback)
    info: pd.DataFrame  # title (and genres) of item index k in row k
    unit: np.ndarray  # unit-length item embeddings, or None: co-rating similarity
    pair_users: np.ndarray  # distinct (user, item) pairs, for co-rating
    pair_items: np.ndarray
    raters: np.ndarray  # distinct train users per item


def _context(model, encoder, train_users, train_items, movies, train_ratings=None,
             item_embeddings=None):
    """The checked context of the views (``model`` is checked by its callers)."""
    if not (hasattr(encoder, "user_ids") and hasattr(encoder, "item_ids")):
        raise TypeError("encoder must have user_ids and item_ids arrays, like a fitted "
                        f"IdEncoder; got {type(encoder).__name__}")
    user_ids, item_ids = np.asarray(encoder.user_ids), np.asarray(encoder.item_ids)
    n_items = len(item_ids)
    if model is not None and not isinstance(model, Recommender):
        model = _Scorer(model, len(user_ids), n_items)
    if model is not None and (model.n_users, model.n_items) != (len(user_ids), n_items):
        raise ValueError(f"the model knows {model.n_users} users and {model.n_items} items "
                         f"but the encoder {len(user_ids)} and {n_items}: use the encoder "
                         "of the split the model was trained on")
    users = checks.index_array(train_users, "train_users", len(user_ids))
    items = checks.index_array(train_items, "train_items", n_items)
    checks.same_length(train_users=users, train_items=items)
    checks.non_empty(users, "train_users", "the explorer shows what users rated in train")
    ratings = None
    if train_ratings is not None:
        ratings = checks.finite_array(train_ratings, "train_ratings")
        checks.same_length(train_users=users, train_ratings=ratings)

    if "movieId" in checks.require_columns(movies, ["title"], "movies").columns:
        movies = movies.set_index("movieId")
    if movies.index.has_duplicates:
        raise ValueError(f"movies lists movieId {movies.index[movies.index.duplicated()][0]} "
                         "more than once; keep one row per movie")
    info = movies.reindex(item_ids)[[c for c in ("title", "genres") if c in movies.columns]]
    # A movie missing from `movies` is shown by its id rather than as NaN.
    info["title"] = info["title"].astype(object).where(info["title"].notna(),
                                                       [f"movie {i}" for i in item_ids])
    info = info.reset_index(drop=True)

    unit = None
    if item_embeddings is not None:
        emb = checks.float_matrix(item_embeddings, "item_embeddings", n_items,
                                  "pass model.item_embedding.weight")
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        unit = emb / np.where(norms > 0, norms, 1.0)  # a zero vector: similarity 0, not NaN
    pairs = np.unique(users * n_items + items)
    pair_items = pairs % n_items
    return _Context(model, user_ids, item_ids, users, items, ratings, info, unit,
                    pairs // n_items, pair_items, np.bincount(pair_items, minlength=n_items))


def _index(ids, value, kind):
    found = np.flatnonzero(ids == value)
    if not found.size:
        raise KeyError(f"unknown {kind} id {value!r}; the encoder knows {len(ids)} {kind}s")
    return int(found[0])


def _top_n(scores, n):
    """Indices of the ``n`` highest finite similarities, best first (ties: lower index
    first), for the neighbours; recommendations come from the model's ``recommend``."""
    return np.argsort(-scores, kind="stable")[:min(n, int(np.isfinite(scores).sum()))]


def _similarity(ctx, items):
    """Similarity of each of ``items`` to every item: shape (len(items), n_items)."""
    if ctx.unit is not None:
        return ctx.unit[items] @ ctx.unit.T
    n_users = len(ctx.user_ids)
    rows = []
    for item in items:  # a handful of items: one pass over the train pairs each
        rated_it = np.zeros(n_users, bool)
        rated_it[ctx.pair_users[ctx.pair_items == item]] = True
        rows.append(np.bincount(ctx.pair_items[rated_it[ctx.pair_users]],
                                minlength=len(ctx.item_ids)))
    both = np.array(rows, dtype=np.float64).reshape(len(items), len(ctx.item_ids))
    norms = np.sqrt(ctx.raters[items][:, None] * ctx.raters[None, :])
    return np.divide(both, norms, out=np.zeros_like(both), where=norms > 0)


def _movies(ctx, items):
    return pd.concat([pd.DataFrame({"movieId": ctx.item_ids[items]}),
                      ctx.info.iloc[items].reset_index(drop=True)], axis=1)


def _user_view(ctx, user_id, n, n_rated, n_because):
    user = _index(ctx.user_ids, user_id, "user")
    mine = np.flatnonzero(ctx.users == user)
    # Best rating first (ties: lower item index); an item rated twice keeps its best.
    order = (mine[np.lexsort((ctx.items[mine], -ctx.ratings[mine]))] if ctx.ratings is not None
             else mine)
    _, first = np.unique(ctx.items[order], return_index=True)
    order = order[np.sort(first)]
    rated_items = ctx.items[order]
    rated = _movies(ctx, rated_items[:n_rated])
    if ctx.ratings is not None:
        rated["rating"] = ctx.ratings[order[:n_rated]]

    # The model's own ranking, leaving out what the user rated: -1 marks an empty place
    # (a user who rated nearly everything gets fewer than n).
    items, scores = ctx.model._recommend(np.array([user]), n,
                                         (np.full(len(rated_items), user), rated_items))
    keep = items[0] >= 0
    top = items[0][keep]
    recommendations = _movies(ctx, top).assign(score=scores[0][keep])
    recommendations.insert(0, "rank", np.arange(1, len(top) + 1))

    # Why: the rated movies closest to each recommendation; a similarity <= 0 explains
    # nothing (no co-rater, or an embedding pointing away), so it is not named.
    similarity = _similarity(ctx, top)[:, rated_items]
    closest = np.argsort(-similarity, axis=1, kind="stable")[:, :n_because]
    titles = ctx.info["title"].to_numpy()[rated_items]
    given = ctx.ratings[order] if ctx.ratings is not None else None
    recommendations["because"] = [
        "; ".join(f"{titles[j]} ({similarity[r, j]:.2f}"
                  + (f", rated {given[j]:g})" if given is not None else ")")
                  for j in row if similarity[r, j] > 0)
        for r, row in enumerate(closest)]
    return UserView(rated, recommendations)


def user_view(user_id, model, encoder, train_users, train_items, movies, train_ratings=None,
              item_embeddings=None, n=10, n_rated=10, n_because=3):
    """What the model recommends to one user, next to what the user rated, and why.

    Parameters
    ----------
    user_id : int
        The user's id (``encoder.user_ids``), not its index.
    model : Recommender or callable
        A fitted model or baseline of the package: its ``recommend`` ranks the items.
        Or a bare ``score_fn(users, items) -> scores`` over int64 index arrays, higher =
        better, ranked the same way.
    encoder : IdEncoder or similar
        Any object with ``user_ids`` and ``item_ids`` arrays (index -> id).
    train_users, train_items : array-like of int, shape (n_train,)
        The training interactions (indices). Rated items are never recommended.
    movies : pandas.DataFrame
        Indexed by ``movieId`` (or with a ``movieId`` column), with ``title`` and
        optionally ``genres``.
    train_ratings : array-like of float, shape (n_train,), optional
        Without it (implicit feedback), ``rated`` lists the user's items in train order.
    item_embeddings : array-like or torch.Tensor, shape (n_items, d), optional
        For the "because" column; without it, co-rating similarity (module docstring).
    n : int, default 10
        Recommendations to show.
    n_rated : int, default 10
        Rated movies to show.
    n_because : int, default 3
        Rated movies named per recommendation.

    Returns
    -------
    UserView
        ``rated``: ``movieId``, ``title`` (``genres``), ``rating`` (with ratings), best
        first. ``recommendations``: ``rank``, ``movieId``, ``title`` (``genres``),
        ``score`` and ``because``: the user's rated movies most similar to the
        recommendation, as ``"Title (similarity, rated r)"``, most similar first
        (only positive similarities; empty when no rated movie is similar).

    Raises
    ------
    KeyError
        If ``user_id`` is not one of ``encoder.user_ids``.
    """
    model = _recommender(model)
    n, n_rated = checks.positive_int(n, "n"), checks.positive_int(n_rated, "n_rated")
    n_because = checks.positive_int(n_because, "n_because")
    ctx = _context(model, encoder, train_users, train_items, movies, train_ratings,
                   item_embeddings)
    return _user_view(ctx, user_id, n, n_rated, n_because)


def _movie_view(ctx, movie_id, n):
    item = _index(ctx.item_ids, movie_id, "movie")
    similarity = _similarity(ctx, [item])[0]
    similarity[item] = -np.inf  # not its own neighbour
    top = _top_n(similarity, n)
    return _movies(ctx, top).assign(similarity=similarity[top])


def movie_view(movie_id, encoder, train_users, train_items, movies, item_embeddings=None, n=10):
    """The ``n`` movies most similar to one movie.

    Parameters
    ----------
    movie_id : int
        The movie's id (``encoder.item_ids``), not its index.
    encoder, train_users, train_items, movies
        As in :func:`user_view`.
    item_embeddings : array-like or torch.Tensor, shape (n_items, d), optional
        Cosine of the embeddings; without it, co-rating similarity (module docstring).
    n : int, default 10

    Returns
    -------
    pandas.DataFrame
        ``movieId``, ``title`` (``genres``) and ``similarity`` (cosine), most similar
        first (ties: lower index first).

    Raises
    ------
    KeyError
        If ``movie_id`` is not one of ``encoder.item_ids``.
    """
    n = checks.positive_int(n, "n")
    ctx = _context(None, encoder, train_users, train_items, movies,
                   item_embeddings=item_embeddings)
    return _movie_view(ctx, movie_id, n)


class Explorer:
    """Two dropdowns for JupyterLab: a user (-> :func:`user_view`) and a movie
    (-> :func:`movie_view`).

    Display it as the last expression of a cell. Choosing a value shows the views in
    the output area under the dropdown; the frames last shown are kept as
    ``user_frames`` (a :class:`UserView`) and ``movie_frame``, so code (and a page
    without a running kernel) can show the same example as plain tables.

    Parameters
    ----------
    model, encoder, train_users, train_items, movies, train_ratings, item_embeddings
        As in :func:`user_view`.
    n : int, default 10
        Recommendations and neighbours to show.
    user_id, movie_id : int, optional
        Shown first; default the first user and the movie most users rated.
    user_labels : mapping or pandas.Series, optional
        User id -> the name to show (``load_interactions(...).user_labels`` for text
        ids such as "C-1042"); default ``"user <id>"``.
    noun : str, default "movie"
        What an item is called in the headings and tabs ("product", "lecturer").

    Attributes
    ----------
    user, movie : ipywidgets.Dropdown
        Set ``.value`` (an id) to choose, from code as from the page.
    user_output, movie_output : ipywidgets.Output
    widget : ipywidgets.Tab
    """

    def __init__(self, model, encoder, train_users, train_items, movies, train_ratings=None,
                 item_embeddings=None, n=10, user_id=None, movie_id=None, user_labels=None,
                 noun="movie"):
        try:
            import ipywidgets as widgets
        except ImportError:
            raise ImportError("the explorer needs ipywidgets: pip install 'ipywidgets>=8'"
                              ) from None
        model = _recommender(model)
        self.n = checks.positive_int(n, "n")
        self.noun = checks.instance(noun, str, "noun", 'e.g. "movie" or "product"')
        self._ctx = ctx = _context(model, encoder, train_users, train_items, movies,
                                   train_ratings, item_embeddings)
        user_id = ctx.user_ids[0] if user_id is None else user_id
        movie_id = ctx.item_ids[np.argmax(ctx.raters)] if movie_id is None else movie_id
        _index(ctx.user_ids, user_id, "user")  # a clear KeyError before any widget
        _index(ctx.item_ids, movie_id, noun)
        labels = {} if user_labels is None else dict(pd.Series(user_labels).items())
        self._user_names = {u: str(labels.get(u, f"user {u}")) for u in ctx.user_ids.tolist()}

        by_title = np.argsort(ctx.info["title"].astype(str).to_numpy(), kind="stable")
        self.user = widgets.Dropdown(options=[(name, u) for u, name in self._user_names.items()],
                                     value=int(user_id), description="user")
        self.movie = widgets.Dropdown(
            options=list(zip(ctx.info["title"].astype(str).to_numpy()[by_title],
                             ctx.item_ids[by_title].tolist())),
            value=int(movie_id), description=noun)
        self.user_output, self.movie_output = widgets.Output(), widgets.Output()
        self.user.observe(self._show_user, names="value")
        self.movie.observe(self._show_movie, names="value")
        self.widget = widgets.Tab(children=[widgets.VBox([self.user, self.user_output]),
                                            widgets.VBox([self.movie, self.movie_output])],
                                  titles=("pick a user", f"pick a {noun}"))
        self._show_user()
        self._show_movie()

    @staticmethod
    def _show(output, *items):
        """Replace what ``output`` shows by ``items``: markdown strings and frames."""
        # Set the outputs directly rather than `with output:`, which needs a kernel.
        output.outputs = ()
        for item in items:
            if isinstance(item, str):
                output.outputs += ({"output_type": "display_data", "metadata": {},
                                    "data": {"text/markdown": item, "text/plain": item}},)
            else:
                output.append_display_data(item)

    def _show_user(self, change=None):
        ctx, user_id, nouns = self._ctx, self.user.value, self.noun + "s"
        self.user_frames = _user_view(ctx, user_id, self.n, self.n, 3)
        n_rated = np.unique(ctx.items[ctx.users == _index(ctx.user_ids, user_id, "user")]).size
        name, shown = self._user_names[user_id], len(self.user_frames.rated)
        heading = (f"**{name}** rated {n_rated} {nouns} in train; the top {shown}:"
                   if ctx.ratings is not None else
                   f"**{name}** has {n_rated} {nouns} in train; the first {shown}:")
        self._show(self.user_output, heading, self.user_frames.rated,
                   f"**Top {len(self.user_frames.recommendations)} recommendations**, each "
                   f"with the user's {nouns} most similar to it ({self._similarity_name()}):",
                   self.user_frames.recommendations)

    def _show_movie(self, change=None):
        self.movie_frame = _movie_view(self._ctx, self.movie.value, self.n)
        title = self._ctx.info["title"].iat[_index(self._ctx.item_ids, self.movie.value,
                                                   self.noun)]
        self._show(self.movie_output,
                   f"**Nearest neighbours of {title}** ({self._similarity_name()}):",
                   self.movie_frame)

    def _similarity_name(self):
        return ("cosine of the item embeddings" if self._ctx.unit is not None
                else "co-rating cosine")

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # Where no widget can be drawn (a terminal, a static page), one short line rather
        # than the repr of every child widget and its outputs.
        bundle["text/plain"] = (f"Explorer: pick a user or a {self.noun} (a widget; run the "
                                "notebook in JupyterLab to use it)")
        return bundle
