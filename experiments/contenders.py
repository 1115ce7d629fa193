"""Every contender of the comparison: our models and the classic peers, built from a config.

One place says, for each task and model, the search space the tuner draws from
(:func:`suggest`), a default config (used when no study is stored, and by ``--quick``)
and how a config is trained and scored (:func:`run`) -- on the validation split for
tuning, then once on test, with or without the refit on train + validation.

* ``task="rating"``: a :class:`~ncf_helpers.evaluation.RatingProtocol` (a
  ``original_split``): our BiasedMF, GMF, MLP and NeuMF trained with MSE, and Surprise's
  BaselineOnly, SVD, SVD++ and KNNBaseline, fitted on the very same rows.
* ``task="ranking"``: a :class:`~ncf_helpers.evaluation.FullRankingProtocol`
  (leave-last-out; early stopping on full HR@10 of the validation items): our models
  with a BCE, BPR or sampled-softmax objective, and implicit's ALS and BPR.

A config of our models holds the architecture (``embedding_dim``, ``gmf_dim``, ...) and
the training settings under their :class:`~ncf_helpers.training.TrainConfig` names
(``lr``, ``batch_size``, ``l2``, and for ranking ``loss`` and ``negatives``);
:func:`train_config` turns it into a ``TrainConfig``, and :func:`upgrade` reads the names
of configs stored before the one training engine (``l2_weight``, ``n_negatives``, ...).

The peers are optional packages (``scikit-surprise``, ``implicit``): without one,
:func:`missing` says why and the scripts skip its models with that message.
"""
import importlib
import time

import numpy as np
import pandas as pd

from ncf_helpers.evaluation import (
    RatingProtocol,
    Result,
    refit_and_score,
    train_and_score,
)
from ncf_helpers.losses import LOSSES
from ncf_helpers.models import GMF, MLP, BiasedMF, NeuMF
from ncf_helpers.training import TrainConfig

OURS = ("BiasedMF", "GMF", "MLP", "NeuMF")
PEERS = {"rating": ("BaselineOnly", "SVD", "SVD++", "KNNBaseline"),
         "ranking": ("ALS", "BPR")}
PACKAGE = {**dict.fromkeys(PEERS["rating"], "surprise"),
           **dict.fromkeys(PEERS["ranking"], "implicit")}
PIP_NAME = {"surprise": "scikit-surprise==1.1.5", "implicit": "implicit==0.7.3"}
TASKS = ("rating", "ranking")

# Most epochs any of our runs may take; early stopping ends most of them far sooner.
MAX_EPOCHS = {"rating": 40, "ranking": 15}
PATIENCE = 2


def models(task):
    """Names of the contenders of ``task``: ours first, then the peers."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return OURS + PEERS[task]


def family(name):
    """``"NCF family"`` for our models, else the peer's package."""
    return "NCF family" if name in OURS else PACKAGE[name]


def missing(name):
    """Why the peer ``name`` cannot run here (its package does not import), or ``None``."""
    package = PACKAGE.get(name)
    if package is None:
        return None
    try:
        importlib.import_module(package)
    except ImportError as error:
        return (f"{name} skipped: {package} does not import ({error}); "
                f"install it with pip install {PIP_NAME[package]}")
    return None


# ---------------------------------------------------------------------------
# search spaces: suggest(task, name, trial) -> config
# ---------------------------------------------------------------------------
def _training(trial, task):
    """Optimiser settings shared by our models."""
    # The trial parameters keep their first names (l2_weight, <loss>_negatives), so the
    # stored studies' params still rebuild their configs.
    config = {"lr": trial.suggest_float("lr", 1e-3, 2e-2, log=True),
              "batch_size": trial.suggest_categorical("batch_size", [1024, 2048, 4096])}
    if task == "rating":
        config["l2"] = trial.suggest_float("l2_weight", 1e-3, 1.0, log=True)
        return config
    config["l2"] = trial.suggest_float("l2_weight", 1e-5, 1e-1, log=True)
    loss = trial.suggest_categorical("loss", ["bce", "bpr", "softmax"])
    config["loss"] = loss
    if loss == "softmax":  # a listwise loss wants many negatives; BCE and BPR a few
        # (each negative is one more forward pair: 16 per positive is ~3x a BCE epoch)
        config["negatives"] = trial.suggest_int("softmax_negatives", 4, 16, log=True)
    else:
        config["negatives"] = trial.suggest_int(f"{loss}_negatives", 1, 8)
    return config


def _architecture(trial, name):
    if name in ("BiasedMF", "GMF"):
        return {"embedding_dim": trial.suggest_categorical("embedding_dim", [16, 32, 64, 128])}
    if name == "MLP":
        latent = trial.suggest_categorical("latent_dim", [16, 32, 64])
        depth = trial.suggest_int("depth", 1, 3)
        return {"latent_dim": latent, "depth": depth,
                "dropout": trial.suggest_float("dropout", 0.0, 0.5)}
    return {"gmf_dim": trial.suggest_categorical("gmf_dim", [8, 16, 32, 64, 128]),
            "mlp_dim": trial.suggest_categorical("mlp_dim", [8, 16, 32]),
            "depth": trial.suggest_int("depth", 1, 2),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3)}


def _peer_space(trial, name):
    if name == "BaselineOnly":
        return {"reg_u": trial.suggest_float("reg_u", 1.0, 30.0, log=True),
                "reg_i": trial.suggest_float("reg_i", 1.0, 30.0, log=True),
                "n_epochs": trial.suggest_int("n_epochs", 5, 30)}
    if name == "SVD":
        return {"n_factors": trial.suggest_int("n_factors", 10, 200, log=True),
                "n_epochs": trial.suggest_int("n_epochs", 10, 60),
                "lr_all": trial.suggest_float("lr_all", 1e-3, 2e-2, log=True),
                "reg_all": trial.suggest_float("reg_all", 5e-3, 0.3, log=True)}
    if name == "SVD++":  # the dearest peer: ~0.7 s an epoch at 20 factors
        return {"n_factors": trial.suggest_int("n_factors", 5, 50, log=True),
                "n_epochs": trial.suggest_int("n_epochs", 5, 30),
                "lr_all": trial.suggest_float("lr_all", 1e-3, 2e-2, log=True),
                "reg_all": trial.suggest_float("reg_all", 5e-3, 0.3, log=True)}
    if name == "KNNBaseline":
        return {"k": trial.suggest_int("k", 10, 120, log=True),
                "min_k": trial.suggest_int("min_k", 1, 5),
                "shrinkage": trial.suggest_int("shrinkage", 10, 300, log=True),
                "user_based": trial.suggest_categorical("user_based", [False, True])}
    if name == "ALS":
        return {"factors": trial.suggest_int("factors", 16, 256, log=True),
                "regularization": trial.suggest_float("regularization", 1e-3, 10.0, log=True),
                "alpha": trial.suggest_float("alpha", 0.1, 50.0, log=True),
                "iterations": trial.suggest_int("iterations", 3, 30)}
    return {"factors": trial.suggest_int("factors", 16, 256, log=True),  # implicit's BPR
            "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.1, log=True),
            "regularization": trial.suggest_float("regularization", 1e-4, 0.1, log=True),
            "iterations": trial.suggest_int("iterations", 20, 400, log=True)}


def suggest(task, name, trial):
    """Draw a config of ``name`` for ``task`` from an Optuna ``trial``: the search space."""
    if name not in models(task):
        raise ValueError(f"{name!r} is not a {task} contender; choose from {models(task)}")
    if name in OURS:
        return {**_architecture(trial, name), **_training(trial, task)}
    return _peer_space(trial, name)


class _Fixed:
    """A stand-in trial that answers every suggestion with a fixed value (defaults)."""

    def __init__(self, values):
        self.values = values

    def suggest_float(self, name, low, high, log=False):
        return self.values.get(name, np.sqrt(low * high) if log else (low + high) / 2)

    def suggest_int(self, name, low, high, log=False):
        return int(round(self.suggest_float(name, low, high, log)))

    def suggest_categorical(self, name, choices):
        return self.values.get(name, choices[len(choices) // 2])


# Hand-picked starting points (the configurations the notebooks used before the study).
DEFAULT_PARAMS = {
    "rating": {"BiasedMF": {"embedding_dim": 64, "lr": 5e-3, "l2_weight": 0.1, "batch_size": 2048},
               "GMF": {"embedding_dim": 64, "lr": 5e-3, "l2_weight": 0.05, "batch_size": 2048},
               "MLP": {"latent_dim": 32, "depth": 2, "dropout": 0.0, "lr": 2e-3,
                       "l2_weight": 1e-3, "batch_size": 2048},
               "NeuMF": {"gmf_dim": 128, "mlp_dim": 8, "depth": 1, "dropout": 0.0, "lr": 3e-3,
                         "l2_weight": 0.01, "batch_size": 4096}},
    "ranking": {"BiasedMF": {"embedding_dim": 64, "lr": 1e-2, "batch_size": 4096,
                             "l2_weight": 1e-5, "loss": "bce", "bce_negatives": 4},
                "GMF": {"embedding_dim": 32, "lr": 5e-3, "batch_size": 4096, "l2_weight": 1e-5,
                        "loss": "bce", "bce_negatives": 4},
                "MLP": {"latent_dim": 32, "depth": 2, "dropout": 0.0, "lr": 5e-3,
                        "batch_size": 4096, "l2_weight": 1e-5, "loss": "bce",
                        "bce_negatives": 4},
                "NeuMF": {"gmf_dim": 16, "mlp_dim": 16, "depth": 1, "dropout": 0.0, "lr": 5e-3,
                          "batch_size": 4096, "l2_weight": 1e-5, "loss": "bce",
                          "bce_negatives": 4},
                "ALS": {"factors": 64, "regularization": 0.05, "alpha": 1.0, "iterations": 15},
                "BPR": {"factors": 64, "learning_rate": 0.01, "regularization": 0.01,
                        "iterations": 100}},
}
DEFAULT_PARAMS["rating"].update({
    "BaselineOnly": {"reg_u": 15.0, "reg_i": 10.0, "n_epochs": 10},
    "SVD": {"n_factors": 100, "n_epochs": 20, "lr_all": 5e-3, "reg_all": 0.02},
    "SVD++": {"n_factors": 20, "n_epochs": 20, "lr_all": 7e-3, "reg_all": 0.02},
    "KNNBaseline": {"k": 40, "min_k": 1, "shrinkage": 100, "user_based": False},
})


def config_from_params(task, name, params):
    """The config that the Optuna parameters ``params`` (a trial's) stand for."""
    return suggest(task, name, _Fixed(params))


def default_config(task, name):
    """The hand-picked config of ``name`` (used without a stored study)."""
    return config_from_params(task, name, DEFAULT_PARAMS[task][name])


# ---------------------------------------------------------------------------
# our models
# ---------------------------------------------------------------------------
def _builder(name, config, protocol, head):
    n_users, n_items = protocol.n_users, protocol.n_items
    if name == "BiasedMF":
        return lambda: BiasedMF(n_users, n_items, embedding_dim=config["embedding_dim"], head=head)
    if name == "GMF":
        return lambda: GMF(n_users, n_items, embedding_dim=config["embedding_dim"], head=head)
    if name == "MLP":
        latent = config["latent_dim"]
        layers = [2 * latent // 2 ** d for d in range(config["depth"] + 1)]
        return lambda: MLP(num_users=n_users, num_items=n_items, latent_dim=latent,
                           layers=layers, dropout=config["dropout"], head=head)
    mlp = config["mlp_dim"]
    layers = [max(4, 2 * mlp // 2 ** d) for d in range(1, config["depth"] + 1)]
    return lambda: NeuMF(n_users, n_items, gmf_dim=config["gmf_dim"], mlp_dim=mlp,
                         layers=layers, dropout=config["dropout"], head=head)


# The names of configs stored before the one training engine, and what they are now.
LEGACY_KEYS = {"l2_weight": "l2", "n_negatives": "negatives",
               "negative_samples_ratio": "negatives", "loss_fn": "loss"}
LEGACY_LOSSES = {cls.__name__: name for name, cls in LOSSES.items()}  # "BPRLoss" -> "bpr"


def upgrade(config):
    """``config`` with the names of older stored configs replaced by today's.

    ``l2_weight`` becomes ``l2``; ``n_negatives`` and ``negative_samples_ratio`` (both
    meant negatives per positive in the stored studies) become ``negatives``; a loss
    named by its class (``"BPRLoss"``) becomes its config name (``"bpr"``).
    """
    new = {}
    for key, value in config.items():
        key = LEGACY_KEYS.get(key, key)
        if key in new and new[key] != value:
            raise ValueError(f"config sets {key!r} twice, to {new[key]!r} and {value!r}")
        new[key] = value
    if "loss" in new:
        new["loss"] = LEGACY_LOSSES.get(new["loss"], new["loss"])
    return new


def train_config(task, config, seed, epochs):
    """The :class:`TrainConfig` of one of our models' configs (old names accepted).

    Rating: MSE (the bounded head's default) with the L2 penalty; the protocol adds no
    negatives. Ranking: the config's loss with its negatives per positive.
    """
    config = upgrade(config)
    settings = {"epochs": epochs, "batch_size": config["batch_size"], "lr": config["lr"],
                "l2": config["l2"], "seed": seed, "patience": PATIENCE}
    if task == "ranking":
        settings.update(loss=config["loss"], negatives=float(config["negatives"]))
    return TrainConfig(**settings)


def _run_ours(task, name, config, protocol, seed, refit_epochs, max_epochs):
    head = "bounded" if task == "rating" else "logits"
    make = _builder(name, config, protocol, head)
    if refit_epochs is None:
        return train_and_score(name, make, protocol,
                               train_config(task, config, seed, max_epochs))
    return refit_and_score(name, make, protocol, train_config(task, config, seed, refit_epochs))


# ---------------------------------------------------------------------------
# the peers
# ---------------------------------------------------------------------------
def _surprise_algorithm(name, config, seed):
    import surprise

    if name == "BaselineOnly":
        return surprise.BaselineOnly(bsl_options={"method": "als", **config}, verbose=False)
    if name == "SVD":
        return surprise.SVD(**config, random_state=seed)
    if name == "SVD++":
        return surprise.SVDpp(**config, random_state=seed, cache_ratings=True)
    sim = {"name": "pearson_baseline", "user_based": config["user_based"],
           "shrinkage": config["shrinkage"]}
    return surprise.KNNBaseline(k=config["k"], min_k=config["min_k"], sim_options=sim,
                                verbose=False)


def surprise_scorer(name, config, users, items, ratings, seed=0):
    """Fit Surprise's ``name`` on encoded ``(users, items, ratings)``; return a scorer.

    The encoded indices are Surprise's raw ids, so the scorer takes the same arrays
    as every other scorer of the series. Surprise's own ``predict`` is used (clipped
    to [1, 5], its fallback for unknown users and items included).
    """
    import surprise

    frame = pd.DataFrame({"user": users, "item": items, "rating": ratings})
    data = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=(1, 5)))
    algorithm = _surprise_algorithm(name, config, seed)
    algorithm.fit(data.build_full_trainset())

    def score(users, items):
        return np.array([algorithm.predict(u, i).est
                         for u, i in zip(np.asarray(users).tolist(), np.asarray(items).tolist())],
                        dtype=np.float64)

    return score


def implicit_scorer(name, config, users, items, n_users, n_items, seed=0):
    """Fit implicit's ``"ALS"`` or ``"BPR"`` on the positive pairs; return a scorer.

    One thread (reproducible, and fair to our one-thread torch); the score of a pair is
    the dot product of its user and item factors (BPR's item bias is a factor column).
    """
    import scipy.sparse
    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking
    from threadpoolctl import threadpool_limits

    matrix = scipy.sparse.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items))
    matrix.data[:] = 1.0  # a repeated pair is still one interaction
    cls = AlternatingLeastSquares if name == "ALS" else BayesianPersonalizedRanking
    # Built inside the limit too: the constructor checks the BLAS threads and warns
    # (on stderr) when OpenBLAS may use more than one.
    with threadpool_limits(1, "blas"):
        model = cls(**config, random_state=seed, num_threads=1, use_gpu=False)
        model.fit(matrix, show_progress=False)
    user_factors = np.asarray(model.user_factors, dtype=np.float64)
    item_factors = np.asarray(model.item_factors, dtype=np.float64)

    def score(users, items):
        return np.einsum("ij,ij->i", user_factors[users], item_factors[items])

    return score


def _run_peer(task, name, config, protocol, seed, refit):
    start = time.perf_counter()
    users, items, ratings = protocol.train
    if refit:
        users, items, ratings = (np.concatenate([a, b])
                                 for a, b in zip(protocol.train, protocol.val))
    if task == "rating":
        score = surprise_scorer(name, config, users, items, ratings, seed)
    else:
        score = implicit_scorer(name, config, users, items, protocol.n_users,
                                protocol.n_items, seed)
    val = {} if refit else protocol.evaluate(score, "val")
    test = protocol.evaluate(score, "test")
    return Result(name, None, None, val, test, None, time.perf_counter() - start, seed)


def run(task, name, config, protocol, seed=42, refit_epochs=None, refit=False,
        max_epochs=None):
    """Train ``name`` with ``config`` under ``protocol``; a scored :class:`Result`.

    Parameters
    ----------
    refit : bool
        Train on train + validation: our models for ``refit_epochs`` epochs (chosen on
        validation), the peers with their config as it is.
    max_epochs : int, optional
        Cap on our models' epochs without refit (default ``MAX_EPOCHS[task]``).
    """
    if (task == "rating") != isinstance(protocol, RatingProtocol):
        raise TypeError(f"task {task!r} does not match a {type(protocol).__name__}")
    if name not in models(task):
        raise ValueError(f"{name!r} is not a {task} contender; choose from {models(task)}")
    reason = missing(name)
    if reason:
        raise RuntimeError(reason)
    max_epochs = MAX_EPOCHS[task] if max_epochs is None else max_epochs
    if name in PEERS[task]:
        return _run_peer(task, name, config, protocol, seed, refit)
    if refit and refit_epochs is None:
        raise ValueError("refit=True needs refit_epochs (the best epoch found on validation)")
    return _run_ours(task, name, config, protocol, seed, refit_epochs if refit else None,
                     max_epochs)
