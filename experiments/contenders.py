"""Every contender of the comparison: our models and the peers, built from a config.

One place says, for each task and model, the search space the tuner draws from
(:func:`suggest`), a default config (used when no study is stored, and by ``--quick``)
and how a config is trained and scored (:func:`run`) -- on the validation split for
tuning, then once on test, with or without the refit on train + validation.

* ``task="rating"``: a :class:`~ncf_helpers.evaluation.RatingProtocol` (a
  ``original_split``): our BiasedMF, GMF, MLP, NeuMF and HistoryNeuMF (NeuMF whose users
  are also the movies they rated, as in SVD++) trained with MSE; Surprise's BaselineOnly,
  SVD, SVD++ and KNNBaseline, and LensKit's item-kNN and biased MF (ALS), fitted on the
  very same rows.
* ``task="ranking"``: a :class:`~ncf_helpers.evaluation.FullRankingProtocol`
  (leave-last-out; early stopping on full HR@10 of the validation items): our models
  with a BCE, BPR, sampled-softmax or full-softmax objective; implicit's ALS and BPR,
  Cornac's EASE, BPR and NeuMF, and LensKit's item-kNN and implicit MF (ALS).

A config of our models holds the architecture (``embedding_dim``, ``gmf_dim``, ...) and
the training settings under their :class:`~ncf_helpers.training.TrainConfig` names
(``lr``, ``batch_size``, ``l2``, and for ranking ``loss`` and ``negatives``);
:func:`train_config` turns it into a ``TrainConfig``, and :func:`upgrade` reads the names
of configs stored before the one training engine (``l2_weight``, ``n_negatives``, ...).

The peers are optional packages: Surprise and implicit are pinned in requirements.txt,
Cornac and LensKit in requirements-peers.txt (which the tune and compare tasks install).
Without one, :func:`missing` says why and the scripts skip its models with that message.
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
from ncf_helpers.models import GMF, MLP, BiasedMF, HistoryNeuMF, NeuMF
from ncf_helpers.training import TrainConfig

OURS = ("BiasedMF", "GMF", "MLP", "NeuMF", "HistoryNeuMF")
PEERS = {"rating": ("BaselineOnly", "SVD", "SVD++", "KNNBaseline", "LensKit ItemKNN",
                    "LensKit BiasedMF"),
         "ranking": ("ALS", "BPR", "Cornac EASE", "Cornac BPR", "Cornac NeuMF",
                     "LensKit ItemKNN", "LensKit ImplicitMF")}
PACKAGE = {**dict.fromkeys(("BaselineOnly", "SVD", "SVD++", "KNNBaseline"), "surprise"),
           **dict.fromkeys(("ALS", "BPR"), "implicit"),
           **dict.fromkeys(("Cornac EASE", "Cornac BPR", "Cornac NeuMF"), "cornac"),
           **dict.fromkeys(("LensKit ItemKNN", "LensKit BiasedMF", "LensKit ImplicitMF"),
                           "lenskit")}
PIP_NAME = {"surprise": "scikit-surprise==1.1.5", "implicit": "implicit==0.7.3",
            "cornac": "--no-deps -r requirements-peers.txt",
            "lenskit": "--no-deps -r requirements-peers.txt"}
TASKS = ("rating", "ranking")
# The ensemble of our models that experiments.compare blends on validation (no study).
ENSEMBLE = "NCF ensemble"

# Most epochs any of our runs may take: high enough that early stopping on validation,
# not the cap, ends every run of the comparison (compare.md reports best epoch vs cap).
MAX_EPOCHS = {"rating": 100, "ranking": 60}
PATIENCE = 2


def unknown_models(names, tasks=TASKS):
    """A message naming what of ``names`` is no contender of ``tasks``, else ``None``."""
    known = sorted({name for task in tasks for name in models(task)})
    unknown = [name for name in names or () if name not in known]
    if unknown:
        return (f"unknown model(s) {', '.join(map(repr, unknown))}; choose from "
                f"{', '.join(known)}")
    return None


def models(task):
    """Names of the contenders of ``task``: ours first, then the peers."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return OURS + PEERS[task]


def family(name):
    """``"NCF family"`` for our models (and their ensemble), else the peer's package."""
    return "NCF family" if name in OURS or name == ENSEMBLE else PACKAGE[name]


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
# Widths our models may take. The earlier studies put their best trials at the widest
# (128) for GMF, BiasedMF and NeuMF's GMF part, so 256 is in the space now.
WIDTHS = [16, 32, 64, 128, 256]
# Ranking objectives. The full softmax scores every item for every positive: one matrix
# product for a model whose score is a product of a user and an item part (BiasedMF, GMF,
# HistoryNeuMF without its MLP tower), but B x n_items tower inputs per step for a model
# with an MLP tower (40-140 s an epoch here against 5 s), so the studies of the MLP and
# NeuMF leave it out, and HistoryNeuMF ranks without an MLP tower.
RANKING_LOSSES = ["bce", "bpr", "softmax", "full_softmax"]
TOWER_MODELS = ("MLP", "NeuMF")
# Positives per step of the full softmax (each scored against all 1,682 movies).
FULL_SOFTMAX_BATCHES = [256, 512, 1024]


def _training(trial, task, name):
    """Optimiser settings shared by our models."""
    # The trial parameters keep their first names (l2_weight, <loss>_negatives), so the
    # stored studies' params still rebuild their configs.
    config = {"lr": trial.suggest_float("lr", 1e-3, 2e-2, log=True)}
    if task == "rating":
        config["batch_size"] = trial.suggest_categorical("batch_size", [1024, 2048, 4096])
        config["l2"] = trial.suggest_float("l2_weight", 1e-3, 1.0, log=True)
        return config
    config["l2"] = trial.suggest_float("l2_weight", 1e-5, 1e-1, log=True)
    losses = [loss for loss in RANKING_LOSSES
              if name not in TOWER_MODELS or loss != "full_softmax"]
    loss = trial.suggest_categorical("loss", losses)
    config["loss"] = loss
    if loss == "full_softmax":  # no negatives: every other item is one
        config["batch_size"] = trial.suggest_categorical("full_softmax_batch_size",
                                                         FULL_SOFTMAX_BATCHES)
        config["negatives"] = 0
        return config
    config["batch_size"] = trial.suggest_categorical("batch_size", [1024, 2048, 4096])
    if loss == "softmax":  # a listwise loss wants many negatives; BCE and BPR a few
        # (each negative is one more forward pair: 16 per positive is ~3x a BCE epoch)
        config["negatives"] = trial.suggest_int("softmax_negatives", 4, 16, log=True)
    else:
        config["negatives"] = trial.suggest_int(f"{loss}_negatives", 1, 8)
    return config


def _architecture(trial, task, name):
    if name in ("BiasedMF", "GMF"):
        return {"embedding_dim": trial.suggest_categorical("embedding_dim", WIDTHS)}
    if name == "MLP":
        latent = trial.suggest_categorical("latent_dim", [16, 32, 64])
        depth = trial.suggest_int("depth", 1, 3)
        return {"latent_dim": latent, "depth": depth,
                "dropout": trial.suggest_float("dropout", 0.0, 0.5)}
    if name == "HistoryNeuMF":
        config = {"gmf_dim": trial.suggest_categorical("gmf_dim", [8, *WIDTHS]), "mlp_dim": 0,
                  "depth": 1, "dropout": 0.0}
        if task == "rating":  # ranking: no MLP tower (see RANKING_LOSSES)
            config["mlp_dim"] = trial.suggest_categorical("mlp_dim", [0, 8, 16, 32])
        if config["mlp_dim"]:
            config.update(depth=trial.suggest_int("depth", 1, 2),
                          dropout=trial.suggest_float("dropout", 0.0, 0.3))
        return config
    return {"gmf_dim": trial.suggest_categorical("gmf_dim", [8, *WIDTHS]),
            "mlp_dim": trial.suggest_categorical("mlp_dim", [8, 16, 32]),
            "depth": trial.suggest_int("depth", 1, 2),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3)}


def _peer_space(trial, name):
    if name == "BaselineOnly":
        return {"reg_u": trial.suggest_float("reg_u", 1.0, 30.0, log=True),
                "reg_i": trial.suggest_float("reg_i", 1.0, 30.0, log=True),
                "n_epochs": trial.suggest_int("n_epochs", 5, 30)}
    if name == "SVD":  # the best trial sat at 11 factors: the space goes down to 2
        return {"n_factors": trial.suggest_int("n_factors", 2, 200, log=True),
                "n_epochs": trial.suggest_int("n_epochs", 10, 60),
                "lr_all": trial.suggest_float("lr_all", 1e-3, 2e-2, log=True),
                "reg_all": trial.suggest_float("reg_all", 5e-3, 0.3, log=True)}
    if name == "SVD++":  # the dearest peer: ~0.7 s an epoch at 20 factors; its best trial
        # sat at the old cap of 30 epochs, so up to 50
        return {"n_factors": trial.suggest_int("n_factors", 5, 50, log=True),
                "n_epochs": trial.suggest_int("n_epochs", 5, 50),
                "lr_all": trial.suggest_float("lr_all", 1e-3, 2e-2, log=True),
                "reg_all": trial.suggest_float("reg_all", 5e-3, 0.3, log=True)}
    if name == "KNNBaseline":  # best shrinkage sat near the old top of 300
        return {"k": trial.suggest_int("k", 10, 120, log=True),
                "min_k": trial.suggest_int("min_k", 1, 5),
                "shrinkage": trial.suggest_int("shrinkage", 10, 1000, log=True),
                "user_based": trial.suggest_categorical("user_based", [False, True])}
    if name == "ALS":
        return {"factors": trial.suggest_int("factors", 16, 256, log=True),
                "regularization": trial.suggest_float("regularization", 1e-3, 10.0, log=True),
                "alpha": trial.suggest_float("alpha", 0.1, 50.0, log=True),
                "iterations": trial.suggest_int("iterations", 3, 30)}
    if name == "BPR":  # implicit's; best trial near the old bottom of 16 factors
        return {"factors": trial.suggest_int("factors", 4, 256, log=True),
                "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.1, log=True),
                "regularization": trial.suggest_float("regularization", 1e-4, 0.1, log=True),
                "iterations": trial.suggest_int("iterations", 20, 400, log=True)}
    if name == "Cornac EASE":  # posB=True (Cornac's default) clips negative weights
        return {"lamb": trial.suggest_float("lamb", 10.0, 1e4, log=True),
                "posB": trial.suggest_categorical("posB", [False, True])}
    if name == "Cornac BPR":
        return {"k": trial.suggest_int("k", 4, 256, log=True),
                "max_iter": trial.suggest_int("max_iter", 20, 400, log=True),
                "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.1, log=True),
                "lambda_reg": trial.suggest_float("lambda_reg", 1e-4, 0.1, log=True)}
    if name == "Cornac NeuMF":  # epochs: early stopping on validation, as ours
        return {"num_factors": trial.suggest_categorical("num_factors", [8, 16, 32, 64]),
                "depth": trial.suggest_int("depth", 1, 3),
                "num_neg": trial.suggest_int("num_neg", 1, 8),
                "lr": trial.suggest_float("lr", 5e-4, 1e-2, log=True),
                "batch_size": trial.suggest_categorical("batch_size", [256, 512, 1024]),
                "reg": trial.suggest_float("reg", 1e-7, 1e-3, log=True)}
    if name == "LensKit ItemKNN":  # explicit for ratings, implicit for ranking
        return {"max_nbrs": trial.suggest_int("max_nbrs", 5, 200, log=True),
                "min_nbrs": trial.suggest_int("min_nbrs", 1, 5),
                "min_sim": trial.suggest_float("min_sim", 1e-6, 0.1, log=True)}
    if name == "LensKit BiasedMF":
        return {"embedding_size": trial.suggest_int("embedding_size", 5, 200, log=True),
                "regularization": trial.suggest_float("regularization", 1e-3, 10.0, log=True),
                "damping": trial.suggest_float("damping", 0.1, 50.0, log=True),
                "epochs": trial.suggest_int("epochs", 3, 30)}
    if name == "LensKit ImplicitMF":
        return {"embedding_size": trial.suggest_int("embedding_size", 8, 256, log=True),
                "regularization": trial.suggest_float("regularization", 1e-3, 10.0, log=True),
                "weight": trial.suggest_float("weight", 1.0, 100.0, log=True),
                "epochs": trial.suggest_int("epochs", 3, 30)}
    raise ValueError(f"no search space for {name!r}")  # pragma: no cover


def suggest(task, name, trial):
    """Draw a config of ``name`` for ``task`` from an Optuna ``trial``: the search space."""
    if name not in models(task):
        raise ValueError(f"{name!r} is not a {task} contender; choose from {models(task)}")
    if name in OURS:
        return {**_architecture(trial, task, name), **_training(trial, task, name)}
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
                         "l2_weight": 0.01, "batch_size": 4096},
               "HistoryNeuMF": {"gmf_dim": 128, "mlp_dim": 8, "depth": 1, "dropout": 0.0,
                                "lr": 3e-3, "l2_weight": 0.02, "batch_size": 4096}},
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
                "HistoryNeuMF": {"gmf_dim": 64, "lr": 3e-3, "full_softmax_batch_size": 512,
                                 "l2_weight": 1e-2, "loss": "full_softmax"},
                "ALS": {"factors": 64, "regularization": 0.05, "alpha": 1.0, "iterations": 15},
                "BPR": {"factors": 64, "learning_rate": 0.01, "regularization": 0.01,
                        "iterations": 100},
                "Cornac EASE": {"lamb": 500.0, "posB": False},
                "Cornac BPR": {"k": 64, "max_iter": 100, "learning_rate": 0.01,
                               "lambda_reg": 0.01},
                "Cornac NeuMF": {"num_factors": 8, "depth": 3, "num_neg": 4, "lr": 1e-3,
                                 "batch_size": 256, "reg": 1e-7},
                "LensKit ItemKNN": {"max_nbrs": 20, "min_nbrs": 1, "min_sim": 1e-6},
                "LensKit ImplicitMF": {"embedding_size": 50, "regularization": 0.1,
                                       "weight": 40.0, "epochs": 10}},
}
DEFAULT_PARAMS["rating"].update({
    "BaselineOnly": {"reg_u": 15.0, "reg_i": 10.0, "n_epochs": 10},
    "SVD": {"n_factors": 100, "n_epochs": 20, "lr_all": 5e-3, "reg_all": 0.02},
    "SVD++": {"n_factors": 20, "n_epochs": 20, "lr_all": 7e-3, "reg_all": 0.02},
    "KNNBaseline": {"k": 40, "min_k": 1, "shrinkage": 100, "user_based": False},
    "LensKit ItemKNN": {"max_nbrs": 20, "min_nbrs": 1, "min_sim": 1e-6},
    "LensKit BiasedMF": {"embedding_size": 50, "regularization": 0.1, "damping": 5.0,
                         "epochs": 10},
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
def _builder(name, config, protocol, head, refit=False):
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
    if name == "HistoryNeuMF":
        # N(u): the movies of the rows it trains on (train, or train + validation)
        history = protocol.training_data(refit)[:2]
        return lambda: HistoryNeuMF(n_users, n_items, history=history,
                                    gmf_dim=config["gmf_dim"], mlp_dim=mlp,
                                    layers=layers if mlp else None, dropout=config["dropout"],
                                    head=head)
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
    negatives. Ranking: the config's loss with its negatives per positive (none for the
    full softmax, which scores every item).
    """
    config = upgrade(config)
    settings = {"epochs": epochs, "batch_size": config["batch_size"], "lr": config["lr"],
                "l2": config["l2"], "seed": seed, "patience": PATIENCE}
    if task == "ranking":
        settings.update(loss=config["loss"], negatives=float(config["negatives"]))
    return TrainConfig(**settings)


def _run_ours(task, name, config, protocol, seed, refit_epochs, max_epochs):
    head = "bounded" if task == "rating" else "logits"
    config = upgrade(config)
    if refit_epochs is None:
        return train_and_score(name, _builder(name, config, protocol, head),
                               protocol, train_config(task, config, seed, max_epochs))
    return refit_and_score(name, _builder(name, config, protocol, head, refit=True), protocol,
                           train_config(task, config, seed, refit_epochs))


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


def _peer_scorer(task, name, config, protocol, users, items, ratings, seed, val_metric,
                 epochs):
    """Fit the peer ``name``; ``(scorer, best_epoch)`` (``None`` unless it has epochs)."""
    from threadpoolctl import threadpool_limits

    from experiments import peers

    n_users, n_items = protocol.n_users, protocol.n_items
    package = PACKAGE[name]
    if package == "surprise":
        return surprise_scorer(name, config, users, items, ratings, seed), None
    if package == "implicit":
        return implicit_scorer(name, config, users, items, n_users, n_items, seed), None
    with threadpool_limits(1, "blas"):  # one BLAS thread, like every other contender
        if name == "Cornac EASE":
            return peers.cornac_ease(config, users, items, n_users, n_items, seed), None
        if name == "Cornac BPR":
            return peers.cornac_bpr(config, users, items, n_users, n_items, seed), None
        if name == "Cornac NeuMF":
            return peers.cornac_neumf(config, users, items, n_users, n_items, seed,
                                      val_metric=val_metric, epochs=epochs, patience=PATIENCE)
        model = name.split()[-1]
        return peers.lenskit_scorer(model, config, users, items,
                                    ratings if task == "rating" else None, n_users, n_items,
                                    seed), None


def _run_peer(task, name, config, protocol, seed, refit, refit_epochs=None, max_epochs=None):
    start = time.perf_counter()
    users, items, ratings = protocol.train
    if refit:
        users, items, ratings = (np.concatenate([a, b])
                                 for a, b in zip(protocol.train, protocol.val))
    val_metric, epochs = None, refit_epochs
    if name == "Cornac NeuMF" and not refit:  # stopped by our validation metric, as ours
        val_metric, epochs = (lambda score: protocol.evaluate(score, "val")["full_hr"]), \
            max_epochs
    score, best_epoch = _peer_scorer(task, name, config, protocol, users, items, ratings, seed,
                                     val_metric, epochs)
    val = {} if refit else protocol.evaluate(score, "val")
    test = protocol.evaluate(score, "test")
    return Result(name, score, None, val, test, best_epoch, time.perf_counter() - start, seed)


# Peers whose training runs in epochs stopped on validation, like ours: their refit needs
# the best epoch of the run on train.
EPOCH_PEERS = ("Cornac NeuMF",)


def run(task, name, config, protocol, seed=42, refit_epochs=None, refit=False,
        max_epochs=None):
    """Train ``name`` with ``config`` under ``protocol``; a scored :class:`Result`.

    Parameters
    ----------
    refit : bool
        Train on train + validation: our models (and Cornac's NeuMF) for
        ``refit_epochs`` epochs (chosen on validation), the other peers with their config
        as it is.
    max_epochs : int, optional
        Cap on the epochs of a run without refit (default ``MAX_EPOCHS[task]``).

    ``Result.model`` is the trained model (ours) or the peer's scorer; ``Result.seconds``
    the wall time.
    """
    if (task == "rating") != isinstance(protocol, RatingProtocol):
        raise TypeError(f"task {task!r} does not match a {type(protocol).__name__}")
    if name not in models(task):
        raise ValueError(f"{name!r} is not a {task} contender; choose from {models(task)}")
    reason = missing(name)
    if reason:
        raise RuntimeError(reason)
    max_epochs = MAX_EPOCHS[task] if max_epochs is None else max_epochs
    needs_epochs = name in OURS or name in EPOCH_PEERS
    if refit and needs_epochs and refit_epochs is None:
        raise ValueError("refit=True needs refit_epochs (the best epoch found on validation)")
    if name in PEERS[task]:
        return _run_peer(task, name, config, protocol, seed, refit, refit_epochs, max_epochs)
    return _run_ours(task, name, config, protocol, seed, refit_epochs if refit else None,
                     max_epochs)
