r"""Beyond accuracy: what a recommender shows, not only how often it hits.

Accuracy metrics ask whether the held-out item is in the list; these ask what the
lists look like: how much of the catalogue they ever show, how familiar their items
are, how much they lean on the blockbusters, how varied one list is and how much
two users' lists differ (the measures Microsoft Recommenders, Cornac and LensKit
report next to accuracy).

Every function takes the recommendations of one model as ``top_items``, an integer
array of shape (n_users, K): row u is the list :math:`L_u` of user u, best first, K
distinct item indices (every user's list has the same length K). Popularity comes
from the training interactions ``train_users``, ``train_items`` (index arrays), the
only interactions a model has seen. Notation used in the formulas:

* :math:`U` the users with a list, :math:`I` the catalogue (``n_items`` items);
* :math:`n_i` the number of train interactions with item i, :math:`N = \sum_i n_i`;
* :math:`m_i` the number of distinct train users who interacted with item i, and
  :math:`M` the number of distinct train users.
"""
import math
import re

import numpy as np
import pandas as pd

from . import checks


# ---------------------------------------------------------------------------
# boundary and shared counts
# ---------------------------------------------------------------------------
def _train_items(train_items, n_items):
    items = checks.index_array(train_items, "train_items", n_items)
    return checks.non_empty(items, "train_items", "popularity is counted on the training "
                            "interactions")


def _train(train_users, train_items, n_items):
    users = checks.index_array(train_users, "train_users")
    items = _train_items(train_items, n_items)
    checks.same_length(train_users=users, train_items=items)
    return users, items


def _by_popularity(counts):
    """Item indices, most interactions first; ties go to the lower index (a stable sort)."""
    return np.argsort(-counts, kind="stable")


def _n_head(head_share, n_items):
    # round() first: 0.1 * 30 is 3.0000000000000004 in floats, whose ceil would be 4.
    return max(1, math.ceil(round(head_share * n_items, 9)))


# ---------------------------------------------------------------------------
# coverage
# ---------------------------------------------------------------------------
def catalogue_coverage(top_items, n_items):
    r"""Share of the catalogue that appears in at least one list.

    .. math:: \mathrm{coverage} = \frac{|\bigcup_{u \in U} L_u|}{|I|}

    Parameters
    ----------
    top_items : array-like of int, shape (n_users, K)
        Each user's list of item indices, best first.
    n_items : int
        Size of the catalogue :math:`|I|`.

    Returns
    -------
    float
        In ``(0, 1]``; 1 means every item is recommended to someone.
    """
    n_items = checks.positive_int(n_items, "n_items")
    top = checks.top_k_lists(top_items, "top_items", n_items)
    return _coverage(top, n_items)


def _coverage(top, n_items):
    return np.unique(top).size / n_items


def coverage_curve(top_items, n_items):
    r"""Catalogue coverage of the top-k lists for k = 1..K (the first k items of each list).

    .. math:: \mathrm{coverage@}k = \frac{|\bigcup_{u \in U} L_u[1..k]|}{|I|}

    Parameters
    ----------
    top_items : array-like of int, shape (n_users, K)
    n_items : int

    Returns
    -------
    pandas.Series
        Indexed by ``k`` (1..K), named ``coverage``; never decreasing in k.
    """
    n_items = checks.positive_int(n_items, "n_items")
    top = checks.top_k_lists(top_items, "top_items", n_items)
    return _coverage_curve(top, n_items)


def _coverage_curve(top, n_items):
    # An item enters the union at the first position where any list shows it.
    first = np.full(n_items, top.shape[1])
    np.minimum.at(first, top.ravel(), np.tile(np.arange(top.shape[1]), top.shape[0]))
    entering = np.bincount(first, minlength=top.shape[1] + 1)[:top.shape[1]]
    return pd.Series(np.cumsum(entering) / n_items, index=pd.RangeIndex(1, top.shape[1] + 1,
                                                                         name="k"),
                     name="coverage")


# ---------------------------------------------------------------------------
# novelty and popularity
# ---------------------------------------------------------------------------
def novelty(top_items, train_users, train_items, n_items):
    r"""Mean self-information of the recommended items, in bits.

    .. math:: \mathrm{novelty} = \frac{1}{|U|\,K} \sum_{u \in U} \sum_{i \in L_u}
              -\log_2 \frac{m_i}{M}

    :math:`m_i / M` is the share of train users who interacted with item i: the
    chance that a random user already knows it (the "discovery" model of Castells,
    Vargas & Wang, ECIR 2011; Zhou et al., PNAS 2010, use the same). Counting users,
    not interactions, keeps repeated interactions (clicks, plays) from counting twice.
    0 bits: everyone knows the item; :math:`\log_2 M`: a single user does. An item
    no train user interacted with is counted as known to one user (:math:`m_i = 1`),
    the rarest a known item can be, instead of giving infinite surprise.

    Microsoft Recommenders' ``novelty`` uses the "choice" model instead,
    :math:`p_i = n_i / N` (share of interactions); without repeated interactions its
    values are ours plus :math:`\log_2(N / M)`, the same ordering of models.

    Parameters
    ----------
    top_items : array-like of int, shape (n_users, K)
    train_users, train_items : array-like of int, shape (n_train,)
        The training interactions (indices).
    n_items : int

    Returns
    -------
    float
        Bits, in ``[0, log2 M]``; higher = less familiar recommendations.
    """
    n_items = checks.positive_int(n_items, "n_items")
    top = checks.top_k_lists(top_items, "top_items", n_items)
    return _novelty(top, *_train(train_users, train_items, n_items), n_items)


def _novelty(top, users, items, n_items):
    pairs = np.unique(users * n_items + items)  # one count per (user, item)
    known_by = np.maximum(np.bincount(pairs % n_items, minlength=n_items), 1)
    n_known = np.unique(users).size
    return float(np.mean(-np.log2(known_by[top] / n_known)))


def mean_popularity(top_items, train_items, n_items):
    r"""Mean number of train interactions of the recommended items.

    .. math:: \mathrm{mean\ popularity} = \frac{1}{|U|\,K} \sum_{u \in U}
              \sum_{i \in L_u} n_i

    (ARP, the average recommendation popularity of Abdollahpouri et al., 2019.)
    Compare it with the catalogue's mean, :math:`N / |I|`.

    Parameters
    ----------
    top_items : array-like of int, shape (n_users, K)
    train_items : array-like of int, shape (n_train,)
    n_items : int

    Returns
    -------
    float
    """
    n_items = checks.positive_int(n_items, "n_items")
    top = checks.top_k_lists(top_items, "top_items", n_items)
    return float(np.bincount(_train_items(train_items, n_items), minlength=n_items)[top].mean())


def popularity_bias(top_items, train_items, n_items, head_share=0.1):
    r"""How many times more often the lists show the most popular items than the ratings do.

    The *head* :math:`H` is the ``ceil(head_share * n_items)`` items with the most train
    interactions :math:`n_i` (the most popular 10 % by default); ties at the cut-off go
    to the lower item index, so the head has exactly that many items.

    .. math:: \mathrm{popularity\ bias} =
              \frac{\frac{1}{|U|\,K} \sum_{u \in U} |L_u \cap H|}
                    {\sum_{i \in H} n_i \,/\, N}

    The numerator is the head's share of the recommendations, the denominator its share
    of the train interactions (ratings). 1: the lists show the head as often as users
    rated it; above 1: they lean on blockbusters even more than the ratings do; the
    largest possible value is :math:`N / \sum_{i \in H} n_i` (only head items).

    Parameters
    ----------
    top_items : array-like of int, shape (n_users, K)
    train_items : array-like of int, shape (n_train,)
    n_items : int
    head_share : float, default 0.1
        Share of the catalogue that forms the head, in (0, 1).

    Returns
    -------
    float
    """
    n_items = checks.positive_int(n_items, "n_items")
    top = checks.top_k_lists(top_items, "top_items", n_items)
    head_share = checks.fraction(head_share, "head_share")
    counts = np.bincount(_train_items(train_items, n_items), minlength=n_items)
    return _popularity_bias(top, counts, head_share)


def _popularity_bias(top, counts, head_share):
    is_head = np.zeros(len(counts), bool)
    is_head[_by_popularity(counts)[:_n_head(head_share, len(counts))]] = True
    return float(is_head[top].mean() / (counts[is_head].sum() / counts.sum()))


def popularity_bins(top_items, train_items, n_items, n_bins=10):
    r"""Share of the ratings and of the recommendations per item-popularity group.

    Items are sorted by train interactions :math:`n_i`, most first (ties: lower index
    first), and cut into ``n_bins`` consecutive groups of equal size (the first
    ``n_items % n_bins`` groups hold one item more, as ``numpy.array_split`` cuts), so
    group 1 is the head of :func:`popularity_bias` with ``head_share = 1 / n_bins``.
    For group :math:`G`:

    .. math:: \mathrm{ratings\ share} = \sum_{i \in G} n_i / N, \qquad
              \mathrm{recommendations\ share} = \frac{1}{|U|\,K}
              \sum_{u \in U} |L_u \cap G|

    Parameters
    ----------
    top_items : array-like of int, shape (n_users, K)
    train_items : array-like of int, shape (n_train,)
    n_items : int
    n_bins : int, default 10
        Number of groups (deciles by default), at most ``n_items``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``group`` (1 = most popular) with columns ``n_items`` (items in
        the group), ``ratings_share`` and ``recommendations_share`` (each sums to 1).
    """
    n_items = checks.positive_int(n_items, "n_items")
    top = checks.top_k_lists(top_items, "top_items", n_items)
    n_bins = checks.positive_int(n_bins, "n_bins")
    if n_bins > n_items:
        raise ValueError(f"n_bins={n_bins} is more than the {n_items} items of the catalogue; "
                         "every group needs at least one item")
    counts = np.bincount(_train_items(train_items, n_items), minlength=n_items)
    group_of = np.empty(n_items, np.int64)
    for group, members in enumerate(np.array_split(_by_popularity(counts), n_bins)):
        group_of[members] = group
    sizes = np.bincount(group_of, minlength=n_bins)
    return pd.DataFrame({
        "n_items": sizes,
        "ratings_share": np.bincount(group_of, weights=counts, minlength=n_bins) / counts.sum(),
        "recommendations_share": np.bincount(group_of[top.ravel()], minlength=n_bins) / top.size,
    }, index=pd.RangeIndex(1, n_bins + 1, name="group"))


# ---------------------------------------------------------------------------
# diversity and personalisation
# ---------------------------------------------------------------------------
def genre_matrix(genres, sep="|", none="(no genres listed)"):
    """Multi-hot genres of each item from strings such as ``"Action|Comedy"``.

    Parameters
    ----------
    genres : array-like of str, shape (n_items,)
        One entry per item index (e.g. ``movies["genres"].reindex(encoder.item_ids)``);
        missing values, empty strings and ``none`` give an item without genres. Spaces
        around a name are dropped, and an empty name (``"A||B"``) is no genre.
    sep : str, default "|"
    none : str, default "(no genres listed)"
        MovieLens's marker for a movie without genres.

    Returns
    -------
    pandas.DataFrame of bool, shape (n_items, n_genres)
        One column per genre, sorted; rows in the order (and index) of ``genres``.
    """
    genres = pd.Series(genres, dtype=object)
    checks.non_empty(genres, "genres")
    # "" and the marker become missing before get_dummies: with pandas' Arrow-backed
    # strings (pandas 3) get_dummies makes a column named "" for an empty string.
    text = genres.where(genres.notna(), "").astype(str).str.strip()
    text = text.str.replace(rf"\s*{re.escape(sep)}\s*", sep, regex=True)  # "A | B": A, B
    text = text.where(~text.isin(["", none]), None)
    matrix = text.astype(object).str.get_dummies(sep=sep)
    # an empty name between separators ("A||B", "A|") is not a genre either
    matrix = matrix.drop(columns=[c for c in matrix.columns if not str(c).strip()])
    return matrix.astype(bool)


def intra_list_diversity(top_items, item_genres):
    r"""Mean genre distance between two items of the same list (ILD, Jaccard distance).

    For two items with genre sets :math:`G_a, G_b`,
    :math:`d(a, b) = 1 - |G_a \cap G_b| \,/\, |G_a \cup G_b|`, and

    .. math:: \mathrm{ILD}(L_u) = \frac{1}{|P_u|} \sum_{\{a, b\} \in P_u} d(a, b),
              \qquad \mathrm{ILD} = \frac{1}{|U'|} \sum_{u \in U'} \mathrm{ILD}(L_u)

    with :math:`P_u` the pairs of items of :math:`L_u` that both have genres (K(K-1)/2
    when all do). An item without genres has no known distance to anything: its pairs
    are left out (rather than counted as totally different), and a list with no pair
    left is left out of the mean (:math:`U'` the lists with at least one).
    0: every list repeats the same genres; 1: no two items share a genre.

    Parameters
    ----------
    top_items : array-like of int, shape (n_users, K)
        K >= 2: a list of one item has no pair.
    item_genres : array-like of 0/1 or bool, shape (n_items, n_genres)
        Row k marks the genres of item k, e.g. :func:`genre_matrix`.

    Returns
    -------
    float
        In [0, 1]; NaN when no list has two items with genres.
    """
    genres = checks.indicator_matrix(item_genres, "item_genres")
    top = checks.top_k_lists(top_items, "top_items", genres.shape[0])
    if top.shape[1] < 2:
        raise ValueError("intra-list diversity needs lists of at least 2 items; "
                         f"top_items has K={top.shape[1]}")
    return _intra_list_diversity(top, genres)


_PAIRS_PER_BLOCK = 2**20  # bounds the (users, K, K) arrays of one step


def _intra_list_diversity(top, genres):
    k = top.shape[1]
    genres = genres.astype(np.float32)
    upper = np.triu(np.ones((k, k), bool), 1)  # each unordered pair once
    block = max(1, _PAIRS_PER_BLOCK // (k * k))  # users per step
    per_list = []
    for start in range(0, len(top), block):
        x = genres[top[start:start + block]]
        shared = x @ x.transpose(0, 2, 1)
        sizes = x.sum(axis=2)
        union = sizes[:, :, None] + sizes[:, None, :] - shared
        known = upper & (sizes[:, :, None] > 0) & (sizes[:, None, :] > 0)
        distance = np.where(known, 1 - shared / np.where(known, union, 1), 0)
        n_pairs = known.sum(axis=(1, 2))
        per_list.append(distance.sum(axis=(1, 2))[n_pairs > 0] / n_pairs[n_pairs > 0])
    per_list = np.concatenate(per_list)
    return float(per_list.mean()) if per_list.size else float("nan")


def personalisation(top_items):
    r"""One minus the mean overlap of two users' lists.

    .. math:: \mathrm{personalisation} = 1 - \binom{|U|}{2}^{-1}
              \sum_{\{u, v\}} \frac{|L_u \cap L_v|}{K}

    over all unordered pairs of users (exact, no sampling; with lists of equal length
    this is recmetrics' ``personalization``, 1 - mean cosine similarity of the users'
    0/1 list vectors). Computed without comparing pairs: an item in :math:`c_i` lists
    is shared by :math:`\binom{c_i}{2}` pairs, so
    :math:`\sum_{\{u, v\}} |L_u \cap L_v| = \sum_i \binom{c_i}{2}`, in
    O(|U| K) time.

    Parameters
    ----------
    top_items : array-like of int, shape (n_users, K)
        At least two users.

    Returns
    -------
    float
        In [0, 1]; 0: everyone gets the same list; 1: no two lists share an item.
    """
    top = checks.top_k_lists(top_items, "top_items")
    if len(top) < 2:
        raise ValueError("personalisation compares users' lists: top_items needs at least 2 "
                         f"users, got {len(top)}")
    return _personalisation(top)


def _personalisation(top):
    n_users, k = top.shape
    in_lists = np.bincount(top.ravel()).astype(np.float64)
    shared = np.sum(in_lists * (in_lists - 1) / 2)
    return float(1 - shared / (k * n_users * (n_users - 1) / 2))


# ---------------------------------------------------------------------------
# all at once
# ---------------------------------------------------------------------------
def beyond_accuracy_metrics(top_items, train_users, train_items, n_items, item_genres=None,
                            head_share=0.1, name=None):
    """Every measure of this module for one model's lists, as one row of a table.

    ``pd.DataFrame([beyond_accuracy_metrics(top, ..., name=m) for m, top in ...])``
    compares several models.

    Parameters
    ----------
    top_items : array-like of int, shape (n_users, K)
    train_users, train_items : array-like of int, shape (n_train,)
    n_items : int
    item_genres : array-like of 0/1 or bool, shape (n_items, n_genres), optional
        Without it (data without genres), ``diversity`` is left out.
    head_share : float, default 0.1
        The head of :func:`popularity_bias`.
    name : str, optional
        Stored as ``model``, the first key.

    Returns
    -------
    dict
        ``model`` (with ``name``), ``k``, ``n_users``, ``coverage``, ``novelty``,
        ``mean_popularity``, ``popularity_bias``, ``diversity`` (with
        ``item_genres``), ``personalisation`` (NaN for a single user).
    """
    n_items = checks.positive_int(n_items, "n_items")
    top = checks.top_k_lists(top_items, "top_items", n_items)
    users, items = _train(train_users, train_items, n_items)
    head_share = checks.fraction(head_share, "head_share")
    counts = np.bincount(items, minlength=n_items)
    row = {} if name is None else {"model": name}
    row |= {"k": top.shape[1], "n_users": len(top), "coverage": _coverage(top, n_items),
            "novelty": _novelty(top, users, items, n_items),
            "mean_popularity": float(counts[top].mean()),
            "popularity_bias": _popularity_bias(top, counts, head_share)}
    if item_genres is not None:
        genres = checks.indicator_matrix(item_genres, "item_genres", n_items)
        row["diversity"] = (_intra_list_diversity(top, genres) if top.shape[1] > 1
                            else float("nan"))
    row["personalisation"] = _personalisation(top) if len(top) > 1 else float("nan")
    return row
