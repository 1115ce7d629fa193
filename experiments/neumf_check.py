"""Our NeuMF against Cornac's NeuMF at one configuration, on the same rows, several seeds.

The configuration is Cornac's default, the NCF paper's: a GMF part of 8 factors beside
an MLP whose embeddings are 32 wide, its tower 64 -> 32 -> 16 -> 8, 4 negatives per
positive drawn uniformly among the user's unrated movies every epoch, binary cross
entropy, Adam with learning rate 0.001, no weight decay, batches of 256 positives (with
their 1,024 negatives: 1,280 rows), 20 epochs without early stopping, on the
leave-last-out training rows of full ml-100k. Both are then scored by the same code on
the same validation and test items (full and sampled HR@10 and NDCG@10).

Three variants, each over ``SEEDS``:

* ``Cornac NeuMF`` -- Cornac 3.0.1 on its PyTorch backend (negatives drawn by
  :mod:`experiments.peers`'s vectorised sampler, same distribution as Cornac's own);
* ``ours, Cornac's init`` -- :class:`~ncf_helpers.models.NeuMF` without biases, its weights
  initialised as Cornac initialises its own (embeddings N(0, 0.01), tower Xavier-uniform,
  output N(0, 0.01)): the same configuration in every respect;
* ``ours, own init`` -- the same with our NeuMF's own initialisation (embeddings
  N(0, 0.05), PyTorch's default for the linear layers), to show what the initialisation
  alone changes.

What still differs by construction: Cornac's batch holds 256 positives and *their*
negatives, ours 1,280 rows shuffled from the epoch's positives and negatives; Cornac
applies a sigmoid then ``BCELoss``, ours ``BCEWithLogits`` (the same loss, computed more
stably).
"""
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from ncf_helpers.models import NeuMF
from ncf_helpers.training import TrainConfig, fit

SEEDS = (0, 1, 2, 3, 4)
CONFIG = {"num_factors": 8, "depth": 3, "num_neg": 4, "lr": 1e-3, "batch_size": 256,
          "reg": 0.0}
EPOCHS = 20
VARIANTS = ("Cornac NeuMF", "ours, Cornac's init", "ours, own init")
METRICS = {"sampled_hr": "sampled HR", "sampled_ndcg": "sampled NDCG", "full_hr": "full HR",
           "full_ndcg": "full NDCG"}


def cornac_init(model):
    """Initialise our NeuMF's weights the way Cornac's PyTorch backend does its own."""
    with torch.no_grad():
        for table in (model.gmf_user, model.gmf_item, model.mlp_user, model.mlp_item):
            nn.init.normal_(table.weight, std=1e-2)
        for layer in model.tower:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
        nn.init.normal_(model.output.weight, std=1e-2)
    return model


def our_neumf(protocol, config=CONFIG):
    """Our NeuMF with the architecture of Cornac's ``config`` (no biases, raw logits)."""
    from experiments.peers import neumf_layers

    layers = neumf_layers(config)  # (64, 32, 16, 8): input width, then the tower
    return NeuMF(protocol.n_users, protocol.n_items, gmf_dim=config["num_factors"],
                 mlp_dim=layers[0] // 2, layers=list(layers[1:]), use_bias=False,
                 head="logits")


def run_variant(variant, protocol, seed, epochs=EPOCHS, config=CONFIG):
    """Train one variant on ``protocol``'s training rows; its val and test metrics."""
    users, items, _ = protocol.train
    start, cpu = time.perf_counter(), time.process_time()
    if variant == "Cornac NeuMF":
        from experiments import peers

        score, _ = peers.cornac_neumf(config, users, items, protocol.n_users, protocol.n_items,
                                      seed=seed, epochs=epochs)
    else:
        torch.manual_seed(seed)
        model = our_neumf(protocol, config)
        if variant == "ours, Cornac's init":
            cornac_init(model)
        rows = config["batch_size"] * (1 + config["num_neg"])
        fit(model, protocol.training_data(),
            TrainConfig(epochs=epochs, batch_size=rows, lr=config["lr"], loss="bce",
                        negatives=float(config["num_neg"]), weight_decay=config["reg"],
                        patience=None, seed=seed))
        score = model
    row = {"variant": variant, "seed": seed, "epochs": epochs}
    for part in ("val", "test"):
        found = protocol.evaluate(score, part)
        row.update({f"{part} {METRICS[k]}": v for k, v in found.items()})
    row.update(seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu)
    return row


def run_check(protocol, seeds=SEEDS, epochs=EPOCHS, variants=VARIANTS):
    """Every variant with every seed: one row per run."""
    rows = []
    for seed in seeds:
        for variant in variants:
            rows.append(run_variant(variant, protocol, seed, epochs))
            print(f"neumf   seed {seed} {variant:22s} test full HR "
                  f"{rows[-1]['test full HR']:.4f}  ({rows[-1]['seconds']:5.1f} s)", flush=True)
    return pd.DataFrame(rows)


def summarize(runs):
    """Mean and std over seeds per variant, and each variant minus Cornac's, paired."""
    columns = [c for c in runs.columns if c.startswith(("val ", "test "))]
    table = runs.groupby("variant", sort=False)[columns].agg(["mean", "std"])
    table.columns = [f"{m} {stat}" for m, stat in table.columns]
    table["n"] = runs.groupby("variant", sort=False).size()
    return table.reset_index()


def paired(runs, variant, metric="test full HR", reference="Cornac NeuMF"):
    """Mean and std over seeds of ``variant - reference`` (same seed), and the count."""
    wide = runs.pivot(index="seed", columns="variant", values=metric)
    diff = wide[variant] - wide[reference]
    return float(diff.mean()), float(diff.std(ddof=1)) if len(diff) > 1 else np.nan, len(diff)


def our_neumf_layers(config=CONFIG):
    """Cornac's ``layers`` of ``config`` (input width first), for the report."""
    from experiments.peers import neumf_layers

    return neumf_layers(config)
