"""The LensKit and Cornac peers, fitted on our arrays and scored by our metrics.

Every function here takes the encoded arrays of a protocol (user index, item index and,
for ratings, the stars), in the project's index space (``0..n_users-1``,
``0..n_items-1``), fits one model of a peer library on exactly those rows with no
splitting or evaluation of its own, and returns a *scorer*, ``score(users, items) ->
float64 scores``, which the protocols of :mod:`ncf_helpers.evaluation` accept like any
model's ``predict``.

* **Cornac** (``cornac==3.0.1``): :func:`cornac_ease` (Steck's EASE; Cornac's default
  ``posB=True`` clips negative weights, which is not Steck's model, so it is a searched
  option here), :func:`cornac_bpr` and :func:`cornac_neumf` (its NeuMF on its PyTorch
  backend, the pinned torch; the default TensorFlow backend is not installed). A Cornac
  ``Dataset`` built with identity id maps keeps our indices.
* **LensKit** (``lenskit==2025.8.1``): :func:`lenskit_scorer` fits ``ItemKNNScorer``
  (explicit or implicit feedback), ``BiasedMFScorer`` (ALS on ratings) or
  ``ImplicitMFScorer`` (ALS on 0/1 data) inside LensKit's own pipelines: for ratings
  ``predict_pipeline`` (cells the scorer cannot predict fall back to its ``BiasScorer``,
  as LensKit does), for ranking the scorer itself (cells it cannot score rank last).
  Every user and item is declared first, so LensKit's vocabularies are our indices.

Both libraries run on one thread, like our torch: LensKit's thread settings are set here
before it is imported, Cornac's models are given ``num_threads=1``.

Cornac's NeuMF draws each negative in a Python loop over a ``dok_matrix`` (about 8 s per
epoch on ml-100k, far more than its training step). :class:`_FastNegatives` gives its
``Dataset`` a vectorised ``uir_iter`` that draws from the same distribution -- for each
positive, ``num_zeros`` items uniform among those its user has no training interaction
with, independently -- with the same batches (``batch_size`` positives followed by
their negatives). ``tests/test_peers.py`` checks the distribution. Everything else is
Cornac's: the model, its initialisation, the loss, the optimiser and the loop.
"""
import copy
import os
from collections import OrderedDict

import numpy as np

from ncf_helpers.sampling import NegativeSampler

# LensKit reads its thread settings from the environment when it first needs them.
for _var in ("LK_NUM_PROCS", "LK_NUM_THREADS", "LK_NUM_BACKEND_THREADS"):
    os.environ.setdefault(_var, "1")

CORNAC, LENSKIT = "cornac", "lenskit"
VERSIONS = {CORNAC: "3.0.1", LENSKIT: "2025.8.1"}


class MatrixScorer:
    """A scorer backed by a dense ``(n_users, n_items)`` score matrix.

    Cells a model cannot score (NaN) get ``fill``: for ranking, below every scored cell.
    """

    def __init__(self, scores, fill="last"):
        scores = np.asarray(scores, dtype=np.float64)
        missing = ~np.isfinite(scores)
        self.n_missing = int(missing.sum())
        if self.n_missing:
            scores = scores.copy()
            finite = scores[~missing]
            scores[missing] = (finite.min() - 1.0 if finite.size else 0.0) if fill == "last" \
                else fill
        self.scores = scores

    def __call__(self, users, items):
        return self.scores[np.asarray(users), np.asarray(items)]


# ---------------------------------------------------------------------------
# Cornac
# ---------------------------------------------------------------------------
class _FastNegatives:
    """Mixin for a Cornac ``Dataset``: ``uir_iter`` with vectorised negative draws.

    Cornac's own loop draws ``j`` uniformly from all items and redraws while the user
    rated ``j`` in training; this draws from that same distribution (the j-th unrated
    item of the user, j uniform) with :class:`~ncf_helpers.sampling.NegativeSampler`,
    whole batches at a time, seeded from the dataset's own seed.
    """

    def uir_iter(self, batch_size=1, shuffle=False, binary=False, num_zeros=0):
        if num_zeros <= 0:
            yield from super().uir_iter(batch_size, shuffle, binary, num_zeros)
            return
        if getattr(self, "_sampler", None) is None:
            users, items = self.uir_tuple[0], self.uir_tuple[1]
            self._sampler = NegativeSampler(users, items, self.num_items, n_users=self.num_users)
            self._negative_rng = np.random.default_rng(self.seed)
        for batch_ids in self.idx_iter(len(self.uir_tuple[0]), batch_size, shuffle):
            batch_users = self.uir_tuple[0][batch_ids]
            batch_items = self.uir_tuple[1][batch_ids]
            batch_ratings = (np.ones_like(batch_items) if binary
                             else self.uir_tuple[2][batch_ids])
            repeated = batch_users.repeat(num_zeros)
            negatives = self._sampler._sample(repeated, self._negative_rng).astype(
                batch_items.dtype)
            yield (np.concatenate((batch_users, repeated)),
                   np.concatenate((batch_items, negatives)),
                   np.concatenate((batch_ratings, np.zeros_like(negatives))))


def cornac_dataset(users, items, values, n_users, n_items, seed=0, fast_negatives=False):
    """A Cornac ``Dataset`` of ``(users, items, values)`` whose indices are ours.

    Cornac numbers raw ids in order of first appearance; identity maps that already hold
    every index keep ours (and give users and items without training rows their place).
    ``fast_negatives``: with :class:`_FastNegatives`'s ``uir_iter`` (for NeuMF).
    """
    from cornac.data import Dataset

    cls = Dataset
    if fast_negatives:
        cls = type("FastNegativesDataset", (_FastNegatives, Dataset), {})
    uid = OrderedDict((u, u) for u in range(n_users))
    iid = OrderedDict((i, i) for i in range(n_items))
    triples = list(zip(np.asarray(users).tolist(), np.asarray(items).tolist(),
                       np.asarray(values, dtype=np.float64).tolist()))
    data = cls.build(triples, fmt="UIR", global_uid_map=uid, global_iid_map=iid, seed=seed)
    if (data.num_users, data.num_items) != (n_users, n_items):  # pragma: no cover - cornac
        raise RuntimeError(f"Cornac's dataset has {data.num_users} users and {data.num_items} "
                           f"items, expected {n_users} and {n_items}")
    return data


def cornac_ease(config, users, items, n_users, n_items, seed=0):
    """Cornac's EASE on the 0/1 matrix of ``(users, items)``; ``config``: ``lamb``, ``posB``."""
    import cornac

    data = cornac_dataset(users, items, np.ones(len(users)), n_users, n_items, seed)
    model = cornac.models.EASE(lamb=config["lamb"], posB=config["posB"], verbose=False,
                               seed=seed).fit(data)
    return MatrixScorer(np.asarray(model.U @ model.B))  # model.score(u) of every user


def cornac_bpr(config, users, items, n_users, n_items, seed=0):
    """Cornac's BPR (Cython SGD, one thread); ``config``: ``k``, ``max_iter``,
    ``learning_rate``, ``lambda_reg``."""
    import cornac

    data = cornac_dataset(users, items, np.ones(len(users)), n_users, n_items, seed)
    model = cornac.models.BPR(**config, num_threads=1, seed=seed, verbose=False).fit(data)
    return MatrixScorer(model.u_factors @ model.i_factors.T + model.i_biases)


def neumf_layers(config):
    """Cornac's ``layers`` of a NeuMF config: ``depth + 1`` widths halving down to
    ``num_factors`` (``layers[0]`` is the input, twice the MLP embedding size)."""
    factors, depth = config["num_factors"], config["depth"]
    return tuple(factors * 2 ** d for d in range(depth, -1, -1))


def _neumf_logits(net, n_users, n_items, chunk=128):
    """Cornac NeuMF's logits (before its sigmoid: same order, no float32 ties at 1.0) for
    every (user, item), as an ``(n_users, n_items)`` array."""
    import torch

    out, all_items = np.empty((n_users, n_items)), torch.arange(n_items)
    was_training = net.training
    net.eval()
    with torch.no_grad():
        for start in range(0, n_users, chunk):
            block = torch.arange(start, min(start + chunk, n_users))
            u, i = block.repeat_interleave(n_items), all_items.repeat(len(block))
            h = torch.cat([net.gmf.h(u, i), net.mlp.h(u, i)], dim=-1)
            out[start:start + len(block)] = net.logit(h).view(len(block), n_items).double()
    net.train(was_training)
    return out


def cornac_neumf(config, users, items, n_users, n_items, seed=0, val_metric=None,
                 epochs=20, patience=2):
    """Cornac's NeuMF (PyTorch backend); returns ``(scorer, best_epoch)``.

    ``config``: ``num_factors``, ``depth`` (see :func:`neumf_layers`), ``num_neg``,
    ``lr``, ``batch_size`` (positives per batch, each followed by its negatives) and
    ``reg`` (Adam's weight decay). With ``val_metric`` (``val_metric(scorer) -> float``,
    higher is better) it is evaluated after every epoch, training stops after
    ``patience`` epochs without improvement, and the best epoch's weights are kept --
    the rule :func:`ncf_helpers.training.fit` applies to our models; ``epochs`` is the
    cap. Without it, exactly ``epochs`` epochs (a refit).
    """
    import cornac
    import torch

    class _NeuMF(cornac.models.NeuMF):
        """Cornac's NeuMF, stopped by our validation metric (Cornac calls ``early_stop``
        after each epoch when ``early_stopping`` is set)."""

        def early_stop(self, train_set, val_set, min_delta=0.0, patience=0):
            self.current_epoch += 1
            value = val_metric(MatrixScorer(_neumf_logits(self.model, n_users, n_items)))
            if value > self.best_value:
                self.best_value, self.best_epoch = value, self.current_epoch
                self._best_state = copy.deepcopy(self.model.state_dict())
            return self.current_epoch - self.best_epoch >= patience

    data = cornac_dataset(users, items, np.ones(len(users)), n_users, n_items, seed,
                          fast_negatives=True)
    settings = dict(num_factors=config["num_factors"], layers=neumf_layers(config),
                    act_fn="relu", reg=config["reg"], num_epochs=epochs,
                    batch_size=config["batch_size"], num_neg=config["num_neg"], lr=config["lr"],
                    learner="adam", backend="pytorch", verbose=False, seed=seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if val_metric is None:
            model = cornac.models.NeuMF(**settings).fit(data)
            return MatrixScorer(_neumf_logits(model.model, n_users, n_items)), epochs
        model = _NeuMF(**settings, early_stopping={"min_delta": 0.0, "patience": patience})
        model.best_value, model.best_epoch, model.current_epoch = -np.inf, 0, 0
        model.fit(data, val_set=data)  # val_set only has to be given; our metric decides
        model.model.load_state_dict(model._best_state)
        return MatrixScorer(_neumf_logits(model.model, n_users, n_items)), model.best_epoch
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------
# LensKit
# ---------------------------------------------------------------------------
LENSKIT_MODELS = ("ItemKNN", "BiasedMF", "ImplicitMF")


def lenskit_dataset(users, items, ratings, n_users, n_items):
    """A LensKit ``Dataset`` whose user and item vocabularies are ``0..n-1`` (ours)."""
    import pandas as pd
    from lenskit.data import DatasetBuilder

    builder = DatasetBuilder()
    builder.add_entities("user", np.arange(n_users))
    builder.add_entities("item", np.arange(n_items))
    frame = pd.DataFrame({"user_id": np.asarray(users, dtype=np.int64),
                          "item_id": np.asarray(items, dtype=np.int64)})
    if ratings is not None:
        frame["rating"] = np.asarray(ratings, dtype=np.float32)
    builder.add_interactions("rating", frame, entities=["user", "item"], missing="error")
    data = builder.build()
    if not (np.array_equal(data.users.ids(), np.arange(n_users))
            and np.array_equal(data.items.ids(), np.arange(n_items))):  # pragma: no cover
        raise RuntimeError("LensKit's vocabularies do not follow our indices")
    return data


def _lenskit_component(name, config, explicit):
    if name == "ItemKNN":
        from lenskit.knn import ItemKNNScorer

        return ItemKNNScorer(**config, feedback="explicit" if explicit else "implicit")
    if name == "BiasedMF":
        from lenskit.als import BiasedMFScorer

        return BiasedMFScorer(**config)
    if name == "ImplicitMF":
        from lenskit.als import ImplicitMFScorer

        return ImplicitMFScorer(**config)
    raise ValueError(f"unknown LensKit model {name!r}; choose from {LENSKIT_MODELS}")


class LenskitScorer:
    """Scores of a trained LensKit pipeline for our ``(users, items)`` arrays.

    One pipeline run per user asked (with the items asked for that user); rows are
    cached, so the protocols' repeated calls (sampled and full ranking) cost one run each.
    """

    def __init__(self, pipeline, node, n_items, fill):
        self.pipeline, self.node, self.n_items, self.fill = pipeline, node, n_items, fill
        self.rows = {}
        self.n_missing = 0

    def _row(self, user):
        from lenskit.data import ItemList

        if user not in self.rows:
            scored = self.pipeline.run(self.node, query=int(user),
                                       items=ItemList(item_ids=np.arange(self.n_items)))
            row = np.full(self.n_items, np.nan)
            got = scored.scores()
            if got is not None:
                row[scored.ids()] = got
            self.rows[user] = row
        return self.rows[user]

    def __call__(self, users, items):
        users, items = np.asarray(users), np.asarray(items)
        out = np.empty(len(users))
        order = np.argsort(users, kind="stable")  # each user's pairs in one slice
        starts = np.flatnonzero(np.r_[True, users[order][1:] != users[order][:-1]])
        for idx in np.split(order, starts[1:]) if len(users) else ():
            out[idx] = self._row(int(users[idx[0]]))[items[idx]]
        missing = ~np.isfinite(out)
        if missing.any():
            self.n_missing += int(missing.sum())
            out[missing] = self.fill
        return out


def lenskit_scorer(name, config, users, items, ratings, n_users, n_items, seed=0):
    """LensKit's ``name`` (``"ItemKNN"``, ``"BiasedMF"``, ``"ImplicitMF"``) fitted on our rows.

    With ``ratings`` (explicit feedback): LensKit's ``predict_pipeline`` -- the scorer,
    with LensKit's ``BiasScorer`` filling the cells it cannot predict. Without
    (``ratings=None``, implicit feedback): the scorer alone, cells it cannot score
    ranked last.
    """
    from lenskit.pipeline import predict_pipeline, topn_pipeline
    from lenskit.training import TrainingOptions

    explicit = ratings is not None
    component = _lenskit_component(name, config, explicit)
    data = lenskit_dataset(users, items, ratings, n_users, n_items)
    if explicit:
        pipeline, node, fill = predict_pipeline(component, fallback=True), "rating-predictor", \
            float(np.mean(ratings))
    else:
        pipeline, node, fill = topn_pipeline(component), "scorer", -np.inf
    pipeline.train(data, TrainingOptions(rng=seed))
    scorer = LenskitScorer(pipeline, node, n_items, fill)
    if not explicit:  # rank the unscorable cells last: below the lowest score of the model
        matrix = np.stack([scorer._row(u) for u in range(n_users)])
        return MatrixScorer(matrix)
    return scorer
