"""Recommender models: the original notebook's two variants, GMF, NeuMF and biased MF.

Notebook 05 writes each of these in the open and checks it against this module.
Every model is a :class:`RecModel` and shares the package's contract
(:mod:`ncf_helpers.base`: ``fit``, ``predict``, ``recommend``) plus what a torch model adds:

* ``model(users, items)`` takes two 1-D integer tensors of 0-based user and item
  indices, shape ``(B,)``, and returns a float tensor of shape ``(B,)``. Never
  ``(B, 1)``: a trailing singleton dimension is what made the original notebook's
  ``mse_loss`` broadcast to a ``(B, B)`` matrix.
* ``model.penalty(users, items, p)`` is the L1 (``p=1``) or squared L2 (``p=2``)
  regularisation term for one batch (see :meth:`RecModel.penalty`).
* ``model.config`` holds the constructor arguments: ``type(model)(**model.config)``
  rebuilds the same architecture, and :func:`build_model` does so from a class name.

One naming scheme: ``user_embedding`` / ``item_embedding`` (GMF and MLP towers of
NeuMF: ``gmf_user``, ``gmf_item``, ``mlp_user``, ``mlp_item``), ``tower`` (the
``Linear + ReLU`` layers), ``output`` (the final ``Linear(., 1)``), and
``user_bias`` / ``item_bias`` / ``global_bias``. ``layers`` always lists the widths
of the hidden layers, except in :class:`MLP`'s dict, which keeps the original's
convention (``layers[0]`` is the input width).

The output head is chosen with ``head=``:

* ``"bounded"`` -- ``low + (high - low) * sigmoid(x)``: predictions always lie
  inside ``rating_range``. The default for rating models.
* ``"relu"`` -- the original's ``ReLU`` on the affine output. Non-negative, but a
  unit whose input goes negative gets zero gradient and can "die" at 0.
* ``"logits"`` -- the raw score, for ``BCEWithLogits`` on implicit feedback or an
  unbounded rating regression.

Index ranges are checked where data enters (``fit``, ``predict``, the scorers), once
per call; ``forward`` checks only dtype and shape, which costs no device sync.
"""
import numpy as np
import torch
from torch import nn

from . import checks
from .base import Recommender

VALID_HEADS = ("bounded", "relu", "logits")

# Small enough that early dot products are near 0 (predictions start near the
# head's midpoint), large enough that Adam breaks the symmetry quickly.
EMBEDDING_INIT_STD = 0.05


def apply_head(x, head="bounded", rating_range=(1.0, 5.0)):
    """Map raw model scores to predictions.

    Parameters
    ----------
    x : torch.Tensor
        Raw scores (the affine output), any shape.
    head : {"bounded", "relu", "logits"}
        ``"bounded"``: ``low + (high - low) * sigmoid(x)``; ``"relu"``: ``relu(x)``,
        the original's head; ``"logits"``: ``x`` unchanged.
    rating_range : tuple of float
        ``(low, high)`` for the bounded head; ignored by the others.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``.
    """
    checks.one_of(head, VALID_HEADS, "head")
    if head == "bounded":
        low, high = rating_range
        return low + (high - low) * torch.sigmoid(x)
    if head == "relu":
        return torch.relu(x)
    return x


def _tower(in_dim, sizes, dropout):
    """``Linear + ReLU`` (+ ``Dropout``) for each width in ``sizes``."""
    layers = []
    for size in sizes:
        layers += [nn.Linear(in_dim, size), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_dim = size
    return nn.Sequential(*layers)


def _tower_all(tower, users, items, weight):
    """``weight . tower(concat(u, i))`` for every row ``u`` of ``users`` (B, d) and every
    row ``i`` of ``items`` (n, d), shape ``(B, n)``, without building the B * n inputs:
    the first ``Linear`` of ``concat(u, i)`` is its user half plus its item half."""
    layers = list(tower)
    if not layers:  # no hidden layer: the output reads concat(u, i) directly
        d = users.shape[1]
        return (users @ weight[:d])[:, None] + (items @ weight[d:])[None, :]
    first, d = layers[0], users.shape[1]
    hidden = (users @ first.weight[:, :d].T)[:, None, :] + (items @ first.weight[:, d:].T
                                                           + first.bias)[None, :, :]
    for layer in layers[1:]:
        hidden = layer(hidden)  # ReLU, Dropout and Linear work on the last dimension
    return hidden @ weight


def _embedding(n, dim, std=EMBEDDING_INIT_STD):
    emb = nn.Embedding(n, dim)
    nn.init.normal_(emb.weight, std=std)
    return emb


def _bias(n):
    emb = nn.Embedding(n, 1)
    nn.init.zeros_(emb.weight)
    return emb


class RecModel(nn.Module, Recommender):
    """Base class: output head, penalty, config, and the package's contract.

    Subclasses call ``super().__init__``, set ``self.config`` and implement
    :meth:`score` (raw scores of shape ``(B,)``). Their embedding tables follow the
    naming scheme: a table indexed by user has ``user`` in its name, one indexed by item
    ``item``, which is how :meth:`penalty` finds the rows a batch used.

    ``model(users, items)`` is the torch forward pass on tensors; :meth:`fit`,
    ``predict`` and ``recommend`` take numpy index arrays, like the baselines'.
    """

    def __init__(self, n_users, n_items, head="bounded", rating_range=(1.0, 5.0)):
        super().__init__()
        self.n_users = checks.positive_int(n_users, "n_users")
        self.n_items = checks.positive_int(n_items, "n_items")
        self.head = checks.one_of(head, VALID_HEADS, "head")
        self.rating_range = checks.bounds(rating_range, "rating_range")

    def forward(self, users, items):
        """Predict one score per (user, item) pair.

        Parameters
        ----------
        users, items : torch.Tensor of int, shape (B,)
            Contiguous 0-based indices (any integer dtype). ``items=None`` scores every
            item for each user: shape ``(B, n_items)`` (the losses over the whole
            catalogue, :class:`~ncf_helpers.losses.FullSoftmaxLoss`, train with it).

        Returns
        -------
        torch.Tensor of float, shape (B,)
        """
        if items is None:
            users = self._as_indices(users, "users")
            return apply_head(self.score_all(users), self.head, self.rating_range)
        users, items = self._as_indices(users, "users"), self._as_indices(items, "items")
        if users.shape != items.shape:
            raise ValueError(f"users and items must have the same shape, got "
                             f"{tuple(users.shape)} and {tuple(items.shape)}")
        try:
            scores = self.score(users, items)
        except IndexError:
            # Only on the error path: name the bad index instead of torch's "index out of range".
            checks.index_array(users, "users", self.n_users)
            checks.index_array(items, "items", self.n_items)
            raise
        return apply_head(scores, self.head, self.rating_range)

    @staticmethod
    def _as_indices(idx, name):
        # dtype and shape only: a range check here would sync the device every batch.
        idx = torch.as_tensor(idx)
        if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
            raise TypeError(f"{name} must hold integer indices, got dtype {idx.dtype}")
        if idx.ndim != 1:
            raise ValueError(f"{name} must be 1-D of shape (B,), got shape {tuple(idx.shape)}")
        return idx if idx.dtype == torch.long else idx.long()

    def score(self, users, items):  # pragma: no cover - abstract
        """Raw score before the head, shape ``(B,)``."""
        raise NotImplementedError

    def score_all(self, users):
        """Raw scores of every item for each of ``users``, shape ``(B, n_items)``.

        This default scores the ``B * n_items`` pairs one by one; models whose score is
        a product of a user part and an item part override it with a matrix product.
        """
        items = torch.arange(self.n_items, device=users.device)
        return self.score(users.repeat_interleave(self.n_items),
                          items.repeat(len(users))).view(len(users), self.n_items)

    def fit(self, train, config=None, val_metric=None, loss=None):
        """Train with :func:`ncf_helpers.training.fit`; keep its history in ``history_``.

        Returns
        -------
        self
        """
        from .training import fit  # the engine imports the models' helpers, not the reverse

        self.history_ = fit(self, train, config, val_metric, loss)
        return self

    def _predict(self, users, items, batch_size=65536):
        """Outputs for checked int64 index arrays: eval mode, no gradients, float64."""
        param = next(self.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        was_training = self.training
        self.eval()
        out = []
        try:
            with torch.no_grad():
                for start in range(0, len(users), batch_size):
                    u = torch.as_tensor(users[start:start + batch_size], device=device)
                    i = torch.as_tensor(items[start:start + batch_size], device=device)
                    out.append(self(u, i).double().cpu().numpy())
        finally:
            self.train(was_training)
        return np.concatenate(out) if out else np.empty(0)

    def item_embeddings(self):
        """The ``(n_items, d)`` item matrix, as numpy, for "similar movies" by cosine.

        The id embedding by default (for :class:`NCF` without its feature part, which
        items with equal features share); NeuMF: the GMF and MLP item embeddings side by
        side; GMF and BiasedMF: the factors, without biases.
        """
        return self.item_embedding.weight.detach().cpu().numpy().copy()

    def tables(self, side):
        """The embedding tables indexed by ``side`` (``"user"`` or ``"item"``), in order."""
        return [module for name, module in self.named_children()
                if isinstance(module, nn.Embedding) and side in name]

    def penalty(self, users, items, p=2):
        """L1 or squared-L2 regularisation term for one batch.

        ``|w|`` (``p=1``) or ``w**2`` (``p=2``, squared, not the norm) summed over the
        embedding rows each sample used (every user-indexed table, latent factors and
        biases, at ``users``; every item-indexed table at ``items``) and **averaged
        over the batch**, like the data loss.

        This is per-sample SGD matrix factorisation: a user in three samples is
        penalised three times, and rows the batch did not touch get no gradient. The
        original notebook penalised every row of every table every batch, which
        shrinks rarely seen users towards 0 far too fast. The dense layers are shared
        by every sample and are left to ``fit``'s ``weight_decay`` or dropout.

        Parameters
        ----------
        users, items : torch.Tensor of int, shape (B,)
        p : {1, 2}

        Returns
        -------
        torch.Tensor
            A scalar.
        """
        checks.one_of(p, (1, 2), "p")
        norm = (lambda t: t.abs().sum()) if p == 1 else (lambda t: t.pow(2).sum())
        rows = [emb.weight[users] for emb in self.tables("user")]
        rows += [emb.weight[items] for emb in self.tables("item")]
        return sum(norm(t) for t in rows) / max(len(users), 1)

    def extra_repr(self):
        text = f"n_users={self.n_users}, n_items={self.n_items}, head={self.head!r}"
        if self.head == "bounded":
            text += f", rating_range={self.rating_range}"
        return text


def _feature_buffer(features, n_features, n_rows, arg):
    """Validate side features; return ``(tensor or None, n_features or None)``."""
    if features is None:
        if n_features is None:
            return None, None
        n_features = checks.positive_int(n_features, f"n_{arg}")
        return torch.zeros(n_rows, n_features), n_features
    if torch.is_tensor(features):
        features = features.detach().cpu().numpy()
    # A float32 copy: pandas 3 hands out read-only arrays, which torch warns about.
    features = torch.tensor(np.array(features, dtype=np.float32))
    if features.ndim != 2 or features.shape[0] != n_rows or features.shape[1] < 1:
        raise ValueError(f"{arg} must have shape ({n_rows}, n_features), one row per "
                         f"encoded index, got {tuple(features.shape)}")
    if not torch.isfinite(features).all():
        raise ValueError(f"{arg} contains NaN or infinite values")
    if n_features is not None and n_features != features.shape[1]:
        raise ValueError(f"n_{arg}={n_features!r} does not match {arg} with "
                         f"{features.shape[1]} columns")
    return features, features.shape[1]


class NCF(RecModel):
    """Neural collaborative filtering, model variant 1 (the original's ``BookModel``).

    A user is a one-hot id vector, optionally followed by ``m`` user features; a
    linear map sends it to a ``d``-dim latent vector. A one-hot vector times a matrix
    selects a row, so this is an embedding lookup plus a projection of the features::

        user_latent = user_embedding(u) + user_feature_proj(user_features[u])

    Items likewise. ``concat(user_latent, item_latent)`` goes through the ``tower``
    of ``Linear + ReLU`` layers, the ``output`` ``Linear(., 1)`` and the head.

    Parameters
    ----------
    n_users, n_items : int
        Number of users and items; indices run from 0.
    embedding_dim : int, default 40
        Latent dimension ``d``.
    layers : sequence of int, default (128, 128)
        Width of each hidden layer (the original's ``cf_layer_neurons``).
    dropout : float, default 0.0
        Dropout after each hidden layer.
    head : {"bounded", "relu", "logits"}, default "bounded"
    rating_range : (float, float), default (1.0, 5.0)
    user_features, item_features : array-like of shape (n_users, m), optional
        Side features in encoder order, stored as non-trainable buffers (saved in
        the ``state_dict``, not in ``config``).
    n_user_features, n_item_features : int, optional
        Feature counts. Inferred from the features; given alone they create zero
        buffers that ``load_state_dict`` then fills, which is how
        ``NCF(**model.config)`` rebuilds a model with features.
    """

    def __init__(self, n_users, n_items, embedding_dim=40, layers=(128, 128), dropout=0.0,
                 head="bounded", rating_range=(1.0, 5.0), user_features=None,
                 item_features=None, n_user_features=None, n_item_features=None):
        super().__init__(n_users, n_items, head, rating_range)
        d = checks.positive_int(embedding_dim, "embedding_dim")
        layers = checks.positive_ints(layers, "layers")
        dropout = checks.fraction(dropout, "dropout", closed="left")
        user_features, n_user_features = _feature_buffer(
            user_features, n_user_features, self.n_users, "user_features")
        item_features, n_item_features = _feature_buffer(
            item_features, n_item_features, self.n_items, "item_features")
        self.config = dict(n_users=self.n_users, n_items=self.n_items, embedding_dim=d,
                           layers=layers, dropout=dropout, head=head,
                           rating_range=self.rating_range, n_user_features=n_user_features,
                           n_item_features=n_item_features)
        self.user_embedding = _embedding(self.n_users, d)
        self.item_embedding = _embedding(self.n_items, d)
        self.register_buffer("user_features", user_features)
        self.register_buffer("item_features", item_features)
        proj = lambda n: nn.Linear(n, d, bias=False) if n else None  # noqa: E731
        self.user_feature_proj = proj(n_user_features)
        self.item_feature_proj = proj(n_item_features)
        self.tower = _tower(2 * d, layers, dropout)
        self.output = nn.Linear(layers[-1] if layers else 2 * d, 1)

    def latent(self, side, idx):
        """Latent vectors of ``side`` (``"user"`` or ``"item"``), shape ``(B, embedding_dim)``.

        The id embedding plus, with side features, their projection.
        """
        latent = getattr(self, f"{side}_embedding")(idx)
        proj = getattr(self, f"{side}_feature_proj")
        return latent if proj is None else latent + proj(getattr(self, f"{side}_features")[idx])

    def score(self, users, items):
        x = torch.cat([self.latent("user", users), self.latent("item", items)], dim=-1)
        return self.output(self.tower(x)).squeeze(-1)


class MLP(NCF):
    """Model variant 2: the original's ``MLP``, configured by its dict.

    The NCF paper's MLP tower: ``concat(p_u, q_i)`` through ``Linear + ReLU`` layers
    of widths ``layers[1:]``, then ``output`` and the head. Architecturally it is
    :class:`NCF` without side features; only the way it is configured differs.

    Parameters
    ----------
    config : dict, optional
        As in the original notebook: ``num_users``, ``num_items``, ``latent_dim``,
        ``layers`` (e.g. ``[80, 40, 20]``; ``layers[0]`` is the input width and must
        equal ``2 * latent_dim``), and optionally ``head`` (default ``"bounded"``),
        ``rating_range`` (default ``(1.0, 5.0)``) and ``dropout`` (default 0.0).
    **kwargs
        The same keys as keyword arguments; they override ``config``, so
        ``MLP(config)``, ``MLP(**config)`` and ``MLP(**model.config)`` all work.
    """

    _REQUIRED = ("num_users", "num_items", "latent_dim", "layers")
    _DEFAULTS = {"head": "bounded", "rating_range": (1.0, 5.0), "dropout": 0.0}

    def __init__(self, config=None, **kwargs):
        cfg = {**self._DEFAULTS, **(config or {}), **kwargs}
        missing = [k for k in self._REQUIRED if k not in cfg]
        unknown = sorted(set(cfg) - set(self._REQUIRED) - set(self._DEFAULTS))
        if missing or unknown:
            raise ValueError(f"MLP config: missing keys {missing}, unknown keys {unknown}; "
                             f"valid keys are {list(self._REQUIRED) + list(self._DEFAULTS)}")
        n_users = checks.positive_int(cfg["num_users"], "num_users")
        n_items = checks.positive_int(cfg["num_items"], "num_items")
        d = checks.positive_int(cfg["latent_dim"], "latent_dim")
        layers = checks.positive_ints(cfg["layers"], "layers")
        if not layers or layers[0] != 2 * d:
            raise ValueError(f"layers[0] is the input width, concat(user, item) embeddings, "
                             f"so it must equal 2 * latent_dim = {2 * d}; "
                             f"got layers={cfg['layers']!r}")
        super().__init__(n_users, n_items, embedding_dim=d, layers=layers[1:],
                         dropout=cfg["dropout"], head=cfg["head"], rating_range=cfg["rating_range"])
        self.config = dict(num_users=self.n_users, num_items=self.n_items, latent_dim=d,
                           layers=layers, head=self.head, rating_range=self.rating_range,
                           dropout=float(cfg["dropout"]))


class GMF(RecModel):
    """Generalized matrix factorisation (He et al., 2017).

    ``score = output(p_u * q_i)``: a dot product whose per-dimension weights (and
    offset) are learned.

    Parameters
    ----------
    n_users, n_items : int
    embedding_dim : int, default 32
    head : {"bounded", "relu", "logits"}, default "bounded"
    rating_range : (float, float), default (1.0, 5.0)
    """

    def __init__(self, n_users, n_items, embedding_dim=32, head="bounded",
                 rating_range=(1.0, 5.0)):
        super().__init__(n_users, n_items, head, rating_range)
        d = checks.positive_int(embedding_dim, "embedding_dim")
        self.config = dict(n_users=self.n_users, n_items=self.n_items, embedding_dim=d,
                           head=head, rating_range=self.rating_range)
        self.user_embedding = _embedding(self.n_users, d)
        self.item_embedding = _embedding(self.n_items, d)
        self.output = nn.Linear(d, 1)

    def score(self, users, items):
        return self.output(self.user_embedding(users) * self.item_embedding(items)).squeeze(-1)

    def score_all(self, users):
        weighted = self.user_embedding(users) * self.output.weight  # (B, d) * (1, d)
        return weighted @ self.item_embedding.weight.T + self.output.bias


class NeuMF(RecModel):
    """Neural matrix factorisation: GMF and MLP towers side by side (He et al., 2017).

    The towers have separate embeddings. Their outputs, ``p_u * q_i`` (``gmf_dim``)
    and the MLP tower's last hidden layer, are concatenated and passed through
    ``output`` and the head.

    Parameters
    ----------
    n_users, n_items : int
    gmf_dim : int, default 8
        GMF embedding size.
    mlp_dim : int, default 32
        MLP embedding size; the tower's input is ``2 * mlp_dim`` wide.
    layers : sequence of int, optional
        Widths of the MLP tower's hidden layers. Default ``(mlp_dim, mlp_dim // 2)``.
    dropout : float, default 0.0
    use_bias : bool, default True
        Add ``mu + b_u + b_i`` (user, item and global biases) to the score. Not in the
        paper, which ranks implicit feedback; for ratings they absorb "generous user"
        and "popular movie" effects and usually lower RMSE.
    head : {"bounded", "relu", "logits"}, default "bounded"
    rating_range : (float, float), default (1.0, 5.0)
    """

    def __init__(self, n_users, n_items, gmf_dim=8, mlp_dim=32, layers=None, dropout=0.0,
                 use_bias=True, head="bounded", rating_range=(1.0, 5.0)):
        super().__init__(n_users, n_items, head, rating_range)
        gmf_dim = checks.positive_int(gmf_dim, "gmf_dim")
        mlp_dim = checks.positive_int(mlp_dim, "mlp_dim")
        layers = checks.positive_ints((mlp_dim, max(1, mlp_dim // 2)) if layers is None else layers,
                                       "layers")
        dropout = checks.fraction(dropout, "dropout", closed="left")
        checks.instance(use_bias, (bool, np.bool_), "use_bias", "pass True or False")
        self.config = dict(n_users=self.n_users, n_items=self.n_items, gmf_dim=gmf_dim,
                           mlp_dim=mlp_dim, layers=layers, dropout=dropout,
                           use_bias=bool(use_bias), head=head, rating_range=self.rating_range)
        self.gmf_user = _embedding(self.n_users, gmf_dim)
        self.gmf_item = _embedding(self.n_items, gmf_dim)
        self.mlp_user = _embedding(self.n_users, mlp_dim)
        self.mlp_item = _embedding(self.n_items, mlp_dim)
        self.tower = _tower(2 * mlp_dim, layers, dropout)
        self.output = nn.Linear(gmf_dim + (layers[-1] if layers else 2 * mlp_dim), 1)
        if use_bias:
            self.user_bias, self.item_bias = _bias(self.n_users), _bias(self.n_items)
            self.global_bias = nn.Parameter(torch.zeros(()))

    def score(self, users, items):
        gmf = self.gmf_user(users) * self.gmf_item(items)
        mlp = self.tower(torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=-1))
        out = self.output(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)
        if self.config["use_bias"]:
            out = (out + self.global_bias + self.user_bias(users).squeeze(-1)
                   + self.item_bias(items).squeeze(-1))
        return out

    def score_all(self, users):
        gmf_dim = self.config["gmf_dim"]
        weight = self.output.weight[0]
        out = (self.gmf_user(users) * weight[:gmf_dim]) @ self.gmf_item.weight.T
        out = out + _tower_all(self.tower, self.mlp_user(users), self.mlp_item.weight,
                               weight[gmf_dim:]) + self.output.bias
        if self.config["use_bias"]:
            out = out + self.global_bias + self.user_bias(users) + self.item_bias.weight.T
        return out

    def item_embeddings(self):
        both = torch.cat([self.gmf_item.weight, self.mlp_item.weight], dim=1)
        return both.detach().cpu().numpy()


class BiasedMF(RecModel):
    """Classic matrix factorisation with biases: ``mu + b_u + b_i + p_u . q_i``.

    Parameters
    ----------
    n_users, n_items : int
    embedding_dim : int, default 32
    head : {"bounded", "relu", "logits"}, default "bounded"
        ``"logits"`` gives the textbook model.
    rating_range : (float, float), default (1.0, 5.0)
    global_bias : float, default 0.0
        Initial ``mu`` in raw-score units (before the head). With ``head="logits"``
        pass the training mean rating; with the bounded head 0 is already the middle
        of ``rating_range``.
    """

    def __init__(self, n_users, n_items, embedding_dim=32, head="bounded",
                 rating_range=(1.0, 5.0), global_bias=0.0):
        super().__init__(n_users, n_items, head, rating_range)
        d = checks.positive_int(embedding_dim, "embedding_dim")
        global_bias = checks.finite_number(global_bias, "global_bias")
        self.config = dict(n_users=self.n_users, n_items=self.n_items, embedding_dim=d,
                           head=head, rating_range=self.rating_range, global_bias=global_bias)
        self.user_embedding = _embedding(self.n_users, d)
        self.item_embedding = _embedding(self.n_items, d)
        self.user_bias, self.item_bias = _bias(self.n_users), _bias(self.n_items)
        self.global_bias = nn.Parameter(torch.tensor(global_bias))

    def score(self, users, items):
        dot = (self.user_embedding(users) * self.item_embedding(items)).sum(-1)
        return (self.global_bias + self.user_bias(users).squeeze(-1)
                + self.item_bias(items).squeeze(-1) + dot)

    def score_all(self, users):
        return (self.user_embedding(users) @ self.item_embedding.weight.T + self.global_bias
                + self.user_bias(users) + self.item_bias.weight.T)


def _history_buffers(history, n_history, n_users, n_items):
    """The rated items of every user, CSR-style: ``(offsets, items)`` int64 tensors.

    ``history`` is ``(users, items)`` (repeated pairs count once); without it,
    ``n_history`` zero entries that ``load_state_dict`` fills (a rebuild from ``config``).
    """
    if history is None:
        if n_history is None:
            raise ValueError("pass history=(users, items), the training pairs whose movies "
                             "describe each user (or n_history to rebuild from a config)")
        n_history = checks.non_negative_int(n_history, "n_history")
        return torch.zeros(n_users + 1, dtype=torch.long), torch.zeros(n_history,
                                                                      dtype=torch.long)
    if not (isinstance(history, (tuple, list)) and len(history) == 2):
        raise ValueError("history must be a (users, items) pair of index arrays, got "
                         f"{type(history).__name__}")
    users = checks.index_array(history[0], "history users", n_users)
    items = checks.index_array(history[1], "history items", n_items)
    checks.same_length(history_users=users, history_items=items)
    keys = np.unique(users * n_items + items)  # sorted by user, then item
    counts = np.bincount(keys // n_items, minlength=n_users)
    if n_history is not None and checks.non_negative_int(n_history, "n_history") != len(keys):
        raise ValueError(f"n_history={n_history!r} does not match history with {len(keys)} "
                         "distinct pairs")
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return torch.as_tensor(offsets, dtype=torch.long), torch.as_tensor(keys % n_items,
                                                                       dtype=torch.long)


class HistoryNeuMF(RecModel):
    """NeuMF whose users are also described by the movies they rated, as SVD++ does.

    Koren's SVD++ (2008) adds to each user's factors the implicit feedback of *which*
    items they rated, whatever the stars: ``p_u + |N(u)|^-a * sum_{j in N(u)} y_j``. Here
    both towers of :class:`NeuMF` get that user: the GMF part multiplies it with
    ``q_i``, the MLP part concatenates it with the item's embedding. A user with few
    ratings has a weak ``p_u`` (few updates) but still the sum of their movies' ``y``, learned
    from every user who rated them. ``mlp_dim=0`` leaves out the MLP tower: the model is then
    SVD++ with a learned weight per dimension (and, with ``use_bias``, its biases).

    ``history`` (the training pairs; the movies of the validation rows join them for a
    refit on train + validation) is stored as two buffers: in the ``state_dict``, not in
    ``config``, which holds its size ``n_history`` (as :class:`NCF` does with features).

    Parameters
    ----------
    n_users, n_items : int
    history : (users, items) arrays of int, optional
        The pairs whose items form ``N(u)``; required unless ``n_history`` is given.
    gmf_dim : int, default 32
    mlp_dim : int, default 0
        MLP embedding size; 0: no MLP tower.
    layers : sequence of int, optional
        The MLP tower's hidden widths. Default ``(mlp_dim, mlp_dim // 2)``.
    dropout : float, default 0.0
    use_bias : bool, default True
        Add ``mu + b_u + b_i``.
    history_exponent : float, default 0.5
        ``a`` in ``|N(u)|^-a``: 0.5 as in SVD++, 1 averages the rated movies.
    head : {"bounded", "relu", "logits"}, default "bounded"
    rating_range : (float, float), default (1.0, 5.0)
    n_history : int, optional
        Number of distinct history pairs (to rebuild from ``config``).

    Tables follow the naming scheme: ``gmf_user``, ``gmf_item``, ``mlp_user``, ``mlp_item``,
    the biases, and ``gmf_history`` / ``mlp_history`` (the ``y`` of each tower, indexed by
    the rated items). :meth:`penalty` adds, per sample, the history part of its user.
    """

    def __init__(self, n_users, n_items, history=None, gmf_dim=32, mlp_dim=0, layers=None,
                 dropout=0.0, use_bias=True, history_exponent=0.5, head="bounded",
                 rating_range=(1.0, 5.0), n_history=None):
        super().__init__(n_users, n_items, head, rating_range)
        gmf_dim = checks.positive_int(gmf_dim, "gmf_dim")
        mlp_dim = checks.non_negative_int(mlp_dim, "mlp_dim")
        if mlp_dim and layers is None:
            layers = (mlp_dim, max(1, mlp_dim // 2))
        layers = checks.positive_ints(layers or (), "layers") if mlp_dim else ()
        dropout = checks.fraction(dropout, "dropout", closed="left")
        checks.instance(use_bias, (bool, np.bool_), "use_bias", "pass True or False")
        exponent = checks.finite_number(history_exponent, "history_exponent", minimum=0)
        offsets, items = _history_buffers(history, n_history, self.n_users, self.n_items)
        self.config = dict(n_users=self.n_users, n_items=self.n_items, gmf_dim=gmf_dim,
                           mlp_dim=mlp_dim, layers=layers, dropout=dropout,
                           use_bias=bool(use_bias), history_exponent=exponent, head=head,
                           rating_range=self.rating_range, n_history=len(items))
        self.register_buffer("history_offsets", offsets)
        self.register_buffer("history_items", items)
        self.gmf_user = _embedding(self.n_users, gmf_dim)
        self.gmf_item = _embedding(self.n_items, gmf_dim)
        self.gmf_history = _embedding(self.n_items, gmf_dim)
        mlp_out = 0
        if mlp_dim:
            self.mlp_user = _embedding(self.n_users, mlp_dim)
            self.mlp_item = _embedding(self.n_items, mlp_dim)
            self.mlp_history = _embedding(self.n_items, mlp_dim)
            self.tower = _tower(2 * mlp_dim, layers, dropout)
            mlp_out = layers[-1] if layers else 2 * mlp_dim
        self.output = nn.Linear(gmf_dim + mlp_out, 1)
        if use_bias:
            self.user_bias, self.item_bias = _bias(self.n_users), _bias(self.n_items)
            self.global_bias = nn.Parameter(torch.zeros(()))

    def history_norm(self):
        """``|N(u)|^-a`` of every user (1 for a user without history), shape ``(n_users,)``."""
        counts = (self.history_offsets[1:] - self.history_offsets[:-1]).clamp(min=1)
        return counts.float().pow(-self.config["history_exponent"])

    def history_vectors(self, users, tower="gmf"):
        """``|N(u)|^-a * sum of y_j`` of each of ``users`` for ``tower``, shape ``(B, dim)``.

        Each distinct user's movies are summed once (``embedding_bag`` over their slice
        of the history), however often the user appears in the batch.
        """
        table = getattr(self, f"{tower}_history")
        distinct, inverse = torch.unique(users, return_inverse=True)
        starts = self.history_offsets[distinct]
        lengths = self.history_offsets[distinct + 1] - starts
        bags = torch.cumsum(lengths, 0) - lengths  # where each user's bag starts
        positions = (torch.repeat_interleave(starts - bags, lengths)
                     + torch.arange(int(lengths.sum()), device=users.device))
        summed = nn.functional.embedding_bag(self.history_items[positions], table.weight,
                                             bags, mode="sum")
        return (summed * self.history_norm()[distinct, None])[inverse]

    def users(self, users, tower="gmf"):
        """The user side of ``tower`` for ``users``: ``p_u`` plus the history vector."""
        return getattr(self, f"{tower}_user")(users) + self.history_vectors(users, tower)

    def score(self, users, items):
        parts = [self.users(users, "gmf") * self.gmf_item(items)]
        if self.config["mlp_dim"]:
            parts.append(self.tower(torch.cat([self.users(users, "mlp"), self.mlp_item(items)],
                                              dim=-1)))
        out = self.output(torch.cat(parts, dim=-1)).squeeze(-1)
        if self.config["use_bias"]:
            out = (out + self.global_bias + self.user_bias(users).squeeze(-1)
                   + self.item_bias(items).squeeze(-1))
        return out

    def score_all(self, users):
        gmf_dim, weight = self.config["gmf_dim"], self.output.weight[0]
        out = (self.users(users, "gmf") * weight[:gmf_dim]) @ self.gmf_item.weight.T
        if self.config["mlp_dim"]:
            out = out + _tower_all(self.tower, self.users(users, "mlp"), self.mlp_item.weight,
                                   weight[gmf_dim:])
        out = out + self.output.bias
        if self.config["use_bias"]:
            out = out + self.global_bias + self.user_bias(users) + self.item_bias.weight.T
        return out

    def penalty(self, users, items, p=2):
        """:meth:`RecModel.penalty` plus, per sample, the history vector of its user (the
        part of the user the ``y`` rows make), averaged over the batch like the rest."""
        total = super().penalty(users, items, p)
        norm = (lambda t: t.abs().sum()) if p == 1 else (lambda t: t.pow(2).sum())
        towers = ("gmf", "mlp") if self.config["mlp_dim"] else ("gmf",)
        extra = sum(norm(self.history_vectors(users, tower)) for tower in towers)
        return total + extra / max(len(users), 1)

    def item_embeddings(self):
        tables = [self.gmf_item.weight] + ([self.mlp_item.weight] if self.config["mlp_dim"]
                                           else [])
        return torch.cat(tables, dim=1).detach().cpu().numpy()


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
    checks.one_of(name, sorted(MODEL_REGISTRY), "model name")
    return MODEL_REGISTRY[name](**config)


def count_parameters(model):
    """Number of trainable parameters (feature buffers are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
