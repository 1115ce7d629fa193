"""Synthetic ratings shaped like the big MovieLens releases, for timing and memory.

The big releases are hundreds of megabytes to download. To measure what training
costs as the data grows we only need their *shape*: how many users, movies and
ratings, how unevenly the ratings spread over users (a few heavy raters, many light
ones) and over movies (a long tail). :func:`synthetic_ratings` draws distinct
(user, movie) pairs with that shape and half-star ratings, as encoded indices, so
the result feeds a model or :mod:`ncf_helpers.cli` directly.

The numbers in :data:`SHAPES` are the ratings of each release (as its GroupLens README
states them) and the users and movies that have at least one rating (the READMEs also
count movies without ratings, and for ml-10m users who only tagged). In every release
each user has at least 20 ratings.
"""
import numpy as np

from . import checks
from .sampling import sorted_unique
from .utils import DEFAULT_SEED

# name: (users, movies, ratings)
SHAPES = {
    "ml-100k": (943, 1_682, 100_000),
    "ml-1m": (6_040, 3_706, 1_000_209),
    "ml-10m": (69_878, 10_677, 10_000_054),
    "ml-20m": (138_493, 26_744, 20_000_263),
    "ml-25m": (162_541, 59_047, 25_000_095),
    "ml-32m": (200_948, 84_432, 32_000_204),
}
MIN_RATINGS_PER_USER = 20  # as in every MovieLens release


def shape_of(spec):
    """``(users, movies, ratings)`` of a shape name (``"ml-25m"``) or ``"UxMxR"``.

    A ``"/k"`` suffix divides users and ratings by ``k`` and keeps the movies
    (``"ml-25m/10"``: a tenth of the users, each as active as before).
    """
    if not isinstance(spec, str):
        raise TypeError(f"shape must be a string such as 'ml-25m' or '943x1682x100000', "
                        f"got {spec!r}")
    name, _, div = spec.partition("/")
    if name in SHAPES:
        users, movies, ratings = SHAPES[name]
    else:
        try:
            users, movies, ratings = (int(v) for v in name.lower().split("x"))
        except ValueError:
            raise ValueError(f"unknown shape {spec!r}; use one of {list(SHAPES)} or "
                             "'USERSxMOVIESxRATINGS', optionally with '/k'") from None
    if div:
        if not div.isdigit() or int(div) < 1:
            raise ValueError(f"the divisor in shape {spec!r} must be a positive integer")
        users, ratings = max(1, users // int(div)), max(1, ratings // int(div))
    return users, movies, ratings


def _check_shape(n_users, n_movies, n_ratings):
    for value, name in ((n_users, "n_users"), (n_movies, "n_movies"), (n_ratings, "n_ratings")):
        checks.positive_int(value, name)
    if n_ratings > n_users * n_movies:
        raise ValueError(f"{n_ratings} distinct ratings do not fit in {n_users} users x "
                         f"{n_movies} movies")


def synthetic_ratings(n_users, n_movies, n_ratings, seed=DEFAULT_SEED):
    """Distinct (user, movie) pairs with half-star ratings, shaped like MovieLens.

    User activity is log-normal on top of a minimum of 20 ratings (fewer if the
    shape has fewer ratings per user); movie popularity is Zipf-like (``p(rank) ~
    1/rank``), with movie indices a random permutation of the ranks. A rating is
    ``3.5 + user offset + movie quality + noise``, rounded to half stars in 0.5..5,
    with popular movies rated a little higher, as in the real data.

    Parameters
    ----------
    n_users, n_movies, n_ratings : int
        The shape; every pair is distinct, so ``n_ratings <= n_users * n_movies``.
    seed : int

    Returns
    -------
    users, movies : numpy.ndarray of int32
        Encoded indices in ``0..n_users-1`` and ``0..n_movies-1``, sorted by user
        then movie.
    ratings : numpy.ndarray of float32
    """
    _check_shape(n_users, n_movies, n_ratings)
    rng = np.random.default_rng(checks.non_negative_int(seed, "seed"))
    activity = rng.lognormal(0.0, 1.2, n_users)
    activity /= activity.sum()
    movie_of_rank = rng.permutation(n_movies)
    base = min(MIN_RATINGS_PER_USER, n_ratings // n_users, n_movies)
    keys = np.empty(0, dtype=np.int64)
    for round_ in range(20):
        need = n_ratings - len(keys)
        if need <= 0:
            break
        if round_ == 0:  # everyone gets ``base`` draws, the rest follows activity
            counts = base + rng.multinomial(max(0, need - base * n_users), activity)
        else:
            counts = rng.multinomial(int(need * 1.2) + 100, activity)
        users = np.repeat(np.arange(n_users, dtype=np.int64), counts)
        rank = np.exp(rng.random(len(users)) * np.log(n_movies + 1.0)).astype(np.int64) - 1
        movies = movie_of_rank[np.minimum(rank, n_movies - 1)]
        del rank
        keys = sorted_unique(np.concatenate([keys, users * n_movies + movies]))
        del users, movies
    if len(keys) < n_ratings:  # only for shapes close to every pair rated
        rest = np.setdiff1d(np.arange(n_users * n_movies, dtype=np.int64), keys)
        keys = np.sort(np.concatenate([keys, rng.choice(rest, n_ratings - len(keys),
                                                        replace=False)]))
    if len(keys) > n_ratings:
        keep = np.ones(len(keys), dtype=bool)
        keep[rng.choice(len(keys), len(keys) - n_ratings, replace=False)] = False
        keys = keys[keep]
    users = (keys // n_movies).astype(np.int32)
    movies = (keys % n_movies).astype(np.int32)
    del keys
    user_offset = rng.normal(0.0, 0.4, n_users).astype(np.float32)
    popularity_rank = np.argsort(movie_of_rank)  # rank of each movie index
    quality = (0.3 - 0.6 * popularity_rank / n_movies
               + rng.normal(0.0, 0.3, n_movies)).astype(np.float32)
    raw = 3.5 + user_offset[users] + quality[movies] + rng.normal(0.0, 0.8, len(users)).astype(
        np.float32)
    ratings = np.clip(np.round(raw * 2) / 2, 0.5, 5.0).astype(np.float32)
    return users, movies, ratings
