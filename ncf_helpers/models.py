"""Recommender models: the seed's NCF and MLP, plus GMF, NeuMF and biased MF.

Every model is a :class:`RecModel` and shares one contract:

* ``model(users, items)`` takes two 1-D integer tensors of 0-based user and
  item indices, shape ``(B,)``, and returns a float tensor of shape ``(B,)``.
  Never ``(B, 1)``: a trailing singleton dimension is what made the seed's
  ``mse_loss`` broadcast to a ``(B, B)`` matrix.
* ``model.penalty(users, items, p)`` is the L1 (``p=1``) or squared L2
  (``p=2``) regularisation term for one batch (see :meth:`RecModel.penalty`).
* ``model.config`` is a dict of constructor arguments such that
  ``type(model)(**model.config)`` rebuilds the same architecture;
  :func:`build_model` does the same from a class name, for checkpoints.

The output head is chosen with ``head=``:

* ``"bounded"`` -- ``low + (high - low) * sigmoid(x)``: predictions always lie
  inside ``rating_range``. The default for rating models.
* ``"relu"`` -- the seed's ``ReLU`` on the affine output. Non-negative, but a
  unit whose input goes negative gets zero gradient and can "die" at 0.
* ``"logits"`` (alias ``"linear"``) -- the raw score, for
  ``BCEWithLogits`` on implicit feedback or an unbounded rating regression.
"""
import math
import numbers

import numpy as np
import torch
from torch import nn

__all__ = [
    "VALID_HEADS",
    "apply_head",
    "RecModel",
    "NCF",
    "MLP",
    "GMF",
    "NeuMF",
    "BiasedMF",
    "MODEL_REGISTRY",
    "build_model",
    "count_parameters",
    "item_embeddings",
]

VALID_HEADS = ("bounded", "relu", "logits", "linear")

# Small enough that early dot products are near 0 (predictions start near the
# head's midpoint), large enough that Adam breaks the symmetry quickly.
EMBEDDING_INIT_STD = 0.05


# --------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------
def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_layers(value, name):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a sequence of positive integers, got {value!r}")
    layers = [_check_positive_int(v, f"{name}[{k}]") for k, v in enumerate(value)]
    return layers


def _check_dropout(value, name="dropout"):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _check_finite(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _check_head(head):
    if head not in VALID_HEADS:
        raise ValueError(f"head must be one of {VALID_HEADS}, got {head!r}")
    return head


def _check_rating_range(rating_range):
    try:
        low, high = rating_range
    except (TypeError, ValueError):
        raise ValueError(
            f"rating_range must be a pair (low, high), got {rating_range!r}"
        ) from None
    low = _check_finite(low, "rating_range[0]")
    high = _check_finite(high, "rating_range[1]")
    if not low < high:
        raise ValueError(f"rating_range must satisfy low < high, got {rating_range!r}")
    return (low, high)


# --------------------------------------------------------------------------
# Output head
# --------------------------------------------------------------------------
def apply_head(x, head="bounded", rating_range=(1.0, 5.0)):
    """Map raw model scores to predictions.

    Parameters
    ----------
    x : torch.Tensor
        Raw scores (the affine output), any shape.
    head : {"bounded", "relu", "logits", "linear"}
        ``"bounded"``: ``low + (high - low) * sigmoid(x)``; ``"relu"``:
        ``relu(x)``, the seed's head; ``"logits"``/``"linear"``: ``x`` unchanged.
    rating_range : tuple of float
        ``(low, high)`` for the bounded head; ignored by the others.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``.
    """
    _check_head(head)
    if head == "bounded":
        low, high = rating_range
        return low + (high - low) * torch.sigmoid(x)
    if head == "relu":
        return torch.relu(x)
    return x


def _tower(in_dim, sizes, dropout):
    """Linear + ReLU (+ Dropout) for each size in ``sizes``."""
    layers = []
    for size in sizes:
        layers += [nn.Linear(in_dim, size), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_dim = size
    return nn.Sequential(*layers)


def _embedding(n, dim, std=EMBEDDING_INIT_STD):
    emb = nn.Embedding(n, dim)
    nn.init.normal_(emb.weight, std=std)
    return emb


def _bias_embedding(n):
    emb = nn.Embedding(n, 1)
    nn.init.zeros_(emb.weight)
    return emb


# --------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------
class RecModel(nn.Module):
    """Base class: input validation, output head, penalty, config.

    Subclasses call ``super().__init__``, set ``self.config`` and implement
    :meth:`score` (raw scores of shape ``(B,)``) and
    :meth:`item_embedding_matrix`. They list the embedding tables indexed by
    user and by item in ``_user_tables`` / ``_item_tables`` so that
    :meth:`penalty` can regularise only the rows a batch used.
    """

    def __init__(self, n_users, n_items, head="bounded", rating_range=(1.0, 5.0)):
        super().__init__()
        self.n_users = _check_positive_int(n_users, "n_users")
        self.n_items = _check_positive_int(n_items, "n_items")
        self.head = _check_head(head)
        self.rating_range = _check_rating_range(rating_range)
        self._user_tables = []
        self._item_tables = []

    def forward(self, users, items):
        """Predict one score per (user, item) pair.

        Parameters
        ----------
        users, items : torch.Tensor of int, shape (B,)
            Contiguous 0-based indices.

        Returns
        -------
        torch.Tensor of float, shape (B,)
        """
        users, items = self._check_indices(users, items)
        scores = self.score(users, items)
        return apply_head(scores, self.head, self.rating_range)

    def score(self, users, items):  # pragma: no cover - abstract
        """Raw score before the head, shape ``(B,)``."""
        raise NotImplementedError

    def item_embedding_matrix(self):  # pragma: no cover - abstract
        """The ``(n_items, d)`` item matrix used by :func:`item_embeddings`."""
        raise NotImplementedError

    def _check_indices(self, users, items):
        device = next(self.parameters()).device
        checked = []
        for name, idx, size in (("user", users, self.n_users), ("item", items, self.n_items)):
            idx = torch.as_tensor(idx, device=device)
            if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
                raise TypeError(f"{name} indices must be integers, got dtype {idx.dtype}")
            if idx.ndim != 1:
                raise ValueError(
                    f"{name} indices must be 1-D of shape (B,), got shape {tuple(idx.shape)}"
                )
            if idx.numel():
                lo, hi = (int(v) for v in torch.aminmax(idx))
                bad = lo if lo < 0 else hi if hi >= size else None
                if bad is not None:
                    raise IndexError(
                        f"{name} index {bad} is out of range for {size} {name}s "
                        f"(valid indices are 0..{size - 1})"
                    )
            checked.append(idx)
        users, items = checked
        if len(users) != len(items):
            raise ValueError(
                f"users and items must have the same length, got {len(users)} and {len(items)}"
            )
        return users, items

    def penalty(self, users, items, p=2):
        """L1 or squared-L2 regularisation term for one batch.

        ``|w|`` (``p=1``) or ``w**2`` (``p=2``, squared, not the norm) summed over
        the embedding rows each sample used (every user-indexed table, latent
        factors and biases, at ``users``; every item-indexed table at ``items``)
        and **averaged over the batch**, like the data loss.

        This is per-sample SGD matrix factorisation: a user in three samples is
        penalised three times, so frequent users and items are regularised more,
        and rows the batch did not touch get no gradient. The seed penalised every
        row of every table every batch, which shrinks rarely seen users towards 0
        far too fast. The result does not grow with the batch size, so a weight
        tuned at one batch size carries over to another.

        The dense ``nn.Linear`` layers are shared by every sample and are not
        included: an embedding-sized weight (e.g. 0.05) applied to them once per
        batch squeezes the output layer to 0. Regularise them with ``fit``'s
        ``weight_decay`` or dropout instead.

        Parameters
        ----------
        users, items : torch.Tensor of int, shape (B,)
        p : {1, 2}

        Returns
        -------
        torch.Tensor
            A scalar.
        """
        if p not in (1, 2):
            raise ValueError(f"p must be 1 or 2, got {p!r}")
        norm = (lambda t: t.abs().sum()) if p == 1 else (lambda t: t.pow(2).sum())
        rows = [emb.weight[users] for emb in self._user_tables]
        rows += [emb.weight[items] for emb in self._item_tables]
        return sum(norm(t) for t in rows) / max(len(users), 1)

    def extra_repr(self):
        text = f"n_users={self.n_users}, n_items={self.n_items}, head={self.head!r}"
        if self.head == "bounded":
            text += f", rating_range={self.rating_range}"
        return text


# --------------------------------------------------------------------------
# Model variant 1: the seed's NCF (``BookModel``), with optional side features
# --------------------------------------------------------------------------
def _feature_buffer(features, n_features, n_rows, rows_name, arg):
    """Validate side features; return ``(tensor or None, n_features or None)``."""
    if features is None:
        if n_features is None:
            return None, None
        n_features = _check_positive_int(n_features, f"n_{arg}")
        return torch.zeros(n_rows, n_features), n_features
    if torch.is_tensor(features):
        features = features.detach().to("cpu", torch.float32).clone()
    else:
        # A copy: pandas 3 hands out read-only arrays, which torch warns about.
        features = torch.tensor(np.array(features, dtype=np.float32))
    if features.ndim != 2 or features.shape[0] != n_rows or features.shape[1] < 1:
        raise ValueError(
            f"{arg} must have shape (n_{rows_name}, n_features) = ({n_rows}, m), "
            f"got {tuple(features.shape)}"
        )
    if not torch.isfinite(features).all():
        raise ValueError(f"{arg} contains NaN or infinite values")
    if n_features is not None and n_features != features.shape[1]:
        raise ValueError(
            f"n_{arg}={n_features!r} does not match {arg} with {features.shape[1]} columns"
        )
    return features, features.shape[1]


class NCF(RecModel):
    """Neural collaborative filtering, model variant 1 (the seed's model).

    A user is a one-hot id vector of length ``n_users``, optionally followed
    by ``m`` user features; a linear map sends it to a ``d``-dim latent
    vector. Multiplying a one-hot vector by a matrix just selects a row, so
    this is an embedding lookup plus a linear projection of the features::

        user_latent = user_embedding(u) + user_feature_proj(user_features[u])

    Items likewise. ``concat(user_latent, item_latent)`` then goes through
    ``Linear + ReLU`` layers, an affine ``Linear(..., 1)`` and the head.

    Parameters
    ----------
    n_users, n_items : int
        Number of users and items; indices run from 0.
    embedding_dim : int, default 40
        Latent dimension ``d``.
    cf_layer_neurons : sequence of int, default (128, 128)
        Width of each hidden layer.
    head : {"bounded", "relu", "logits", "linear"}, default "bounded"
    rating_range : (float, float), default (1.0, 5.0)
    user_features, item_features : array-like of shape (n_users, m), optional
        Side features, stored as non-trainable buffers (saved in the
        ``state_dict``, not in ``config``).
    dropout : float, default 0.0
        Dropout after each hidden layer.
    n_user_features, n_item_features : int, optional
        Feature counts. Inferred from the features; given alone they create
        zero buffers of that shape, which ``load_state_dict`` then fills --
        this is how ``NCF(**model.config)`` rebuilds a model with features.
    """

    def __init__(self, n_users, n_items, embedding_dim=40, cf_layer_neurons=(128, 128),
                 head="bounded", rating_range=(1.0, 5.0), user_features=None,
                 item_features=None, dropout=0.0, n_user_features=None,
                 n_item_features=None):
        super().__init__(n_users, n_items, head, rating_range)
        d = _check_positive_int(embedding_dim, "embedding_dim")
        layers = _check_layers(cf_layer_neurons, "cf_layer_neurons")
        dropout = _check_dropout(dropout)
        user_features, n_user_features = _feature_buffer(
            user_features, n_user_features, self.n_users, "users", "user_features")
        item_features, n_item_features = _feature_buffer(
            item_features, n_item_features, self.n_items, "items", "item_features")
        self.config = dict(
            n_users=self.n_users, n_items=self.n_items, embedding_dim=d,
            cf_layer_neurons=layers, head=head, rating_range=self.rating_range,
            dropout=dropout, n_user_features=n_user_features,
            n_item_features=n_item_features,
        )

        self.user_embedding = _embedding(self.n_users, d)
        self.item_embedding = _embedding(self.n_items, d)
        self.register_buffer("user_features", user_features)
        self.register_buffer("item_features", item_features)
        self.user_feature_proj = (
            nn.Linear(n_user_features, d, bias=False) if n_user_features else None)
        self.item_feature_proj = (
            nn.Linear(n_item_features, d, bias=False) if n_item_features else None)
        self.cf_layers = _tower(2 * d, layers, dropout)
        self.affine = nn.Linear(layers[-1] if layers else 2 * d, 1)
        self._user_tables = [self.user_embedding]
        self._item_tables = [self.item_embedding]

    def user_latent(self, users):
        """Latent user vectors, shape ``(B, embedding_dim)``."""
        latent = self.user_embedding(users)
        if self.user_feature_proj is not None:
            latent = latent + self.user_feature_proj(self.user_features[users])
        return latent

    def item_latent(self, items):
        """Latent item vectors, shape ``(B, embedding_dim)``."""
        latent = self.item_embedding(items)
        if self.item_feature_proj is not None:
            latent = latent + self.item_feature_proj(self.item_features[items])
        return latent

    def score(self, users, items):
        x = torch.cat([self.user_latent(users), self.item_latent(items)], dim=-1)
        return self.affine(self.cf_layers(x)).squeeze(-1)

    def item_embedding_matrix(self):
        # Id embedding only: the feature part is shared by items with equal features.
        return self.item_embedding.weight


# --------------------------------------------------------------------------
# Model variant 2: the seed's MLP (the NCF paper's MLP tower), dict-configured
# --------------------------------------------------------------------------
class MLP(RecModel):
    """The NCF paper's MLP tower, model variant 2, configured by a dict.

    ``concat(p_u, q_i)`` goes through ``Linear + ReLU`` layers of sizes
    ``layers[1:]``, then an affine ``Linear(layers[-1], 1)`` and the head.

    Parameters
    ----------
    config : dict, optional
        As in the seed: ``num_users``, ``num_items``, ``latent_dim``,
        ``layers`` (e.g. ``[80, 40, 20]``; ``layers[0]`` is the input width
        and must equal ``2 * latent_dim``), and optionally ``head``
        (default ``"bounded"``), ``rating_range`` (default ``(1.0, 5.0)``)
        and ``dropout`` (default 0.0).
    **kwargs
        The same keys as keyword arguments; they override ``config``. This
        makes ``MLP(config)``, ``MLP(**config)`` and ``MLP(**model.config)``
        all work.
    """

    _REQUIRED = ("num_users", "num_items", "latent_dim", "layers")
    _DEFAULTS = {"head": "bounded", "rating_range": (1.0, 5.0), "dropout": 0.0}

    def __init__(self, config=None, **kwargs):
        cfg = {**self._DEFAULTS, **(config or {}), **kwargs}
        missing = [k for k in self._REQUIRED if k not in cfg]
        unknown = sorted(set(cfg) - set(self._REQUIRED) - set(self._DEFAULTS))
        if missing:
            raise ValueError(f"MLP config is missing required keys {missing}")
        if unknown:
            raise ValueError(
                f"MLP config has unknown keys {unknown}; valid keys are "
                f"{list(self._REQUIRED) + list(self._DEFAULTS)}"
            )
        n_users = _check_positive_int(cfg["num_users"], "num_users")
        n_items = _check_positive_int(cfg["num_items"], "num_items")
        super().__init__(n_users, n_items, cfg["head"], cfg["rating_range"])
        d = _check_positive_int(cfg["latent_dim"], "latent_dim")
        layers = _check_layers(cfg["layers"], "layers")
        dropout = _check_dropout(cfg["dropout"])
        if not layers or layers[0] != 2 * d:
            raise ValueError(
                f"layers[0] is the input width, concat(user, item) embeddings, so it "
                f"must equal 2 * latent_dim = {2 * d}; got layers={cfg['layers']!r}"
            )
        self.config = dict(
            num_users=n_users, num_items=n_items, latent_dim=d, layers=layers,
            head=cfg["head"], rating_range=self.rating_range, dropout=dropout,
        )

        self.embedding_user = _embedding(n_users, d)
        self.embedding_item = _embedding(n_items, d)
        self.fc_layers = _tower(layers[0], layers[1:], dropout)
        self.affine_output = nn.Linear(layers[-1], 1)
        self._user_tables = [self.embedding_user]
        self._item_tables = [self.embedding_item]

    def score(self, users, items):
        x = torch.cat([self.embedding_user(users), self.embedding_item(items)], dim=-1)
        return self.affine_output(self.fc_layers(x)).squeeze(-1)

    def item_embedding_matrix(self):
        return self.embedding_item.weight


# --------------------------------------------------------------------------
# GMF, NeuMF (He et al. 2017) and classic biased MF
# --------------------------------------------------------------------------
class GMF(RecModel):
    """Generalized matrix factorisation (He et al., 2017).

    ``score = Linear(d, 1)(p_u * q_i)``: a dot product whose per-dimension
    weights (and offset) are learned.

    Parameters
    ----------
    n_users, n_items : int
    embedding_dim : int, default 32
    head : {"bounded", "relu", "logits", "linear"}, default "bounded"
    rating_range : (float, float), default (1.0, 5.0)
    """

    def __init__(self, n_users, n_items, embedding_dim=32, head="bounded",
                 rating_range=(1.0, 5.0)):
        super().__init__(n_users, n_items, head, rating_range)
        d = _check_positive_int(embedding_dim, "embedding_dim")
        self.config = dict(n_users=self.n_users, n_items=self.n_items, embedding_dim=d,
                           head=head, rating_range=self.rating_range)
        self.user_embedding = _embedding(self.n_users, d)
        self.item_embedding = _embedding(self.n_items, d)
        self.affine = nn.Linear(d, 1)
        self._user_tables = [self.user_embedding]
        self._item_tables = [self.item_embedding]

    def score(self, users, items):
        x = self.user_embedding(users) * self.item_embedding(items)
        return self.affine(x).squeeze(-1)

    def item_embedding_matrix(self):
        return self.item_embedding.weight


class NeuMF(RecModel):
    """Neural matrix factorisation: GMF and MLP towers side by side (He et al., 2017).

    The towers have separate embeddings. Their outputs, ``p_u * q_i``
    (``gmf_dim``) and the MLP's last hidden layer, are concatenated and
    passed through a final ``Linear(..., 1)`` and the head.

    Parameters
    ----------
    n_users, n_items : int
    gmf_dim : int, default 8
        GMF tower embedding size.
    mlp_dim : int, default 32
        MLP tower embedding size.
    layers : sequence of int, optional
        MLP tower sizes in the :class:`MLP` convention: ``layers[0]`` is the
        input width and must equal ``2 * mlp_dim``. Default
        ``[2 * mlp_dim, mlp_dim, mlp_dim // 2]``.
    dropout : float, default 0.0
    use_bias : bool, default True
        Add ``mu + b_u + b_i`` (user/item bias embeddings and a global bias)
        to the score. Not in the paper, which ranks implicit feedback; for
        rating prediction they absorb "generous user" / "popular movie"
        effects and usually lower RMSE.
    head : {"bounded", "relu", "logits", "linear"}, default "bounded"
    rating_range : (float, float), default (1.0, 5.0)
    """

    def __init__(self, n_users, n_items, gmf_dim=8, mlp_dim=32, layers=None, dropout=0.0,
                 use_bias=True, head="bounded", rating_range=(1.0, 5.0)):
        super().__init__(n_users, n_items, head, rating_range)
        gmf_dim = _check_positive_int(gmf_dim, "gmf_dim")
        mlp_dim = _check_positive_int(mlp_dim, "mlp_dim")
        if layers is None:
            layers = [2 * mlp_dim, mlp_dim, max(1, mlp_dim // 2)]
        layers = _check_layers(layers, "layers")
        if not layers or layers[0] != 2 * mlp_dim:
            raise ValueError(
                f"layers[0] is the MLP tower's input width, so it must equal "
                f"2 * mlp_dim = {2 * mlp_dim}; got layers={layers!r}"
            )
        dropout = _check_dropout(dropout)
        if not isinstance(use_bias, bool):
            raise ValueError(f"use_bias must be True or False, got {use_bias!r}")
        self.config = dict(
            n_users=self.n_users, n_items=self.n_items, gmf_dim=gmf_dim, mlp_dim=mlp_dim,
            layers=layers, dropout=dropout, use_bias=use_bias, head=head,
            rating_range=self.rating_range,
        )

        self.gmf_user = _embedding(self.n_users, gmf_dim)
        self.gmf_item = _embedding(self.n_items, gmf_dim)
        self.mlp_user = _embedding(self.n_users, mlp_dim)
        self.mlp_item = _embedding(self.n_items, mlp_dim)
        self.mlp_layers = _tower(layers[0], layers[1:], dropout)
        self.affine = nn.Linear(gmf_dim + layers[-1], 1)
        self._user_tables = [self.gmf_user, self.mlp_user]
        self._item_tables = [self.gmf_item, self.mlp_item]
        if use_bias:
            self.user_bias = _bias_embedding(self.n_users)
            self.item_bias = _bias_embedding(self.n_items)
            self.global_bias = nn.Parameter(torch.zeros(()))
            self._user_tables.append(self.user_bias)
            self._item_tables.append(self.item_bias)

    def score(self, users, items):
        gmf = self.gmf_user(users) * self.gmf_item(items)
        mlp = self.mlp_layers(torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=-1))
        out = self.affine(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)
        if self.config["use_bias"]:
            out = (out + self.global_bias + self.user_bias(users).squeeze(-1)
                   + self.item_bias(items).squeeze(-1))
        return out

    def item_embedding_matrix(self):
        return torch.cat([self.gmf_item.weight, self.mlp_item.weight], dim=1)


class BiasedMF(RecModel):
    """Classic matrix factorisation with biases: ``mu + b_u + b_i + p_u . q_i``.

    Parameters
    ----------
    n_users, n_items : int
    embedding_dim : int, default 32
    head : {"bounded", "relu", "logits", "linear"}, default "bounded"
        ``"linear"`` (alias of ``"logits"``) gives the textbook model.
    rating_range : (float, float), default (1.0, 5.0)
    global_bias : float, default 0.0
        Initial ``mu``, in raw-score units (before the head). With
        ``head="linear"`` pass the training mean rating; with the bounded
        head 0 already means the middle of ``rating_range``.
    """

    def __init__(self, n_users, n_items, embedding_dim=32, head="bounded",
                 rating_range=(1.0, 5.0), global_bias=0.0):
        super().__init__(n_users, n_items, head, rating_range)
        d = _check_positive_int(embedding_dim, "embedding_dim")
        global_bias = _check_finite(global_bias, "global_bias")
        self.config = dict(n_users=self.n_users, n_items=self.n_items, embedding_dim=d,
                           head=head, rating_range=self.rating_range,
                           global_bias=global_bias)
        self.user_factors = _embedding(self.n_users, d)
        self.item_factors = _embedding(self.n_items, d)
        self.user_bias = _bias_embedding(self.n_users)
        self.item_bias = _bias_embedding(self.n_items)
        self.global_bias = nn.Parameter(torch.tensor(global_bias))
        self._user_tables = [self.user_factors, self.user_bias]
        self._item_tables = [self.item_factors, self.item_bias]

    def score(self, users, items):
        dot = (self.user_factors(users) * self.item_factors(items)).sum(-1)
        return (self.global_bias + self.user_bias(users).squeeze(-1)
                + self.item_bias(items).squeeze(-1) + dot)

    def item_embedding_matrix(self):
        return self.item_factors.weight


# --------------------------------------------------------------------------
# Registry and utilities
# --------------------------------------------------------------------------
MODEL_REGISTRY = {cls.__name__: cls for cls in (NCF, MLP, GMF, NeuMF, BiasedMF)}


def build_model(name, config):
    """Rebuild a model from its class name and ``config`` (e.g. from a checkpoint).

    Parameters
    ----------
    name : str
        A key of :data:`MODEL_REGISTRY`, i.e. ``type(model).__name__``.
    config : dict
        ``model.config`` of the model to rebuild.

    Returns
    -------
    RecModel
        Freshly initialised; load the weights with ``load_state_dict``.
    """
    if name not in MODEL_REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid models are {sorted(MODEL_REGISTRY)}")
    return MODEL_REGISTRY[name](**config)


def count_parameters(model):
    """Number of trainable parameters (feature buffers are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def item_embeddings(model):
    """The model's item embedding matrix, for "similar movies" by cosine.

    Parameters
    ----------
    model : RecModel

    Returns
    -------
    numpy.ndarray of shape (n_items, d)
        NCF: the id embedding only (no feature projection); NeuMF: the GMF
        and MLP item embeddings side by side; BiasedMF: the factors, without
        the item bias.
    """
    if not isinstance(model, RecModel):
        raise TypeError(f"model must be a RecModel, got {type(model).__name__}")
    return model.item_embedding_matrix().detach().cpu().numpy().copy()
