"""Every model on several splits, the peers computed here on the same rows.

* **Rating** -- five holdouts of the notebooks' subset: ``original_split(seed)`` for each
  seed of ``SPLIT_SEEDS`` (ids below 1000, a random 10 % test, validation carved as
  ``original_split`` does). Our BiasedMF, GMF, MLP, NeuMF and HistoryNeuMF; Surprise's
  BaselineOnly, SVD, SVD++ and KNNBaseline; LensKit's item-kNN and biased MF. Each trained
  twice: on train only (early stopping on validation for ours) and refitted on train +
  validation (ours for the best epoch found on validation). Test RMSE and MAE.
* **Ranking** -- leave-last-out on full ml-100k with three draws of the 99 sampled
  candidates (``CANDIDATE_SEEDS``, which also seed the training): our models; implicit's
  ALS and BPR; Cornac's EASE, BPR and NeuMF; LensKit's item-kNN and implicit MF; on train
  only and refitted. Sampled and full HR@10 and NDCG@10 of the test items.
* **NCF ensemble** (both tasks) -- our models of each split blended with weights chosen
  on that split's validation rows only (:mod:`experiments.ensemble`), then the same
  weights on the refitted models.
* **NeuMF against Cornac's NeuMF** -- :mod:`experiments.neumf_check`: one configuration,
  several seeds, same rows and metrics.

The configurations come from the stored study (``experiments/results/tuned_*.json``,
written by ``python -m experiments.tune``), the same budget for every model; without
it, the hand-picked defaults of :mod:`experiments.contenders`. Writes, under ``--out``:
``compare_rating.csv`` and ``compare_ranking.csv`` (mean and std over splits per
model and training rows), ``compare_rating_runs.csv`` and ``compare_ranking_runs.csv``
(one row per run, with its best epoch and the cap), ``compare_ensemble_weights.csv``,
``compare_objectives.csv`` (BiasedMF's ranking objectives head to head: BCE, BPR, sampled
and full softmax, the rest of its config fixed), ``compare_neumf_runs.csv`` and
``compare.md`` (the tables and the verdicts).

Run ``python -m experiments.compare``; ``--quick`` is a smoke run in seconds (a slice of
the data, two splits, two epochs, tiny peer budgets; never the stored numbers).
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import contenders, ensemble, neumf_check
from experiments.peers import MatrixScorer
from experiments.tune import QUICK_MAX_ID, RESULTS, quick_config, quick_ranking_data
from ncf_helpers.evaluation import FullRankingProtocol, RatingProtocol
from ncf_helpers.prepare import last_item_split, original_split

SPLIT_SEEDS = (42, 43, 44, 45, 46)
CANDIDATE_SEEDS = (0, 1, 2)
COMMAND = "OMP_NUM_THREADS=1 NCF_PROGRESS=0 python -m experiments.compare"
METRICS = {"rating": ["RMSE", "MAE"],
           "ranking": ["sampled HR", "sampled NDCG", "full HR", "full NDCG"]}
MAIN = {"rating": "RMSE", "ranking": "full HR"}
TRAINED_ON = {False: "train", True: "train + validation"}
# Issue 22's targets. Rating: the best NCF-family model's mean test RMSE at most this,
# and below every peer on at least RATING_WINS of the five holdouts (paired). Ranking:
# the best NCF-family full HR@10 above every peer by more than the seed-to-seed spread.
TARGETS = {"rating": 0.890}
RATING_WINS = 4
# Ranking objectives compared head to head: BiasedMF's tuned config with only the loss
# (and its negatives per positive) swapped, train only, on the ranking splits.
OBJECTIVES = {"BCE, 4 negatives": ("bce", 4), "BPR, 5 negatives": ("bpr", 5),
              "sampled softmax, 16 negatives": ("softmax", 16),
              "full softmax": ("full_softmax", 0)}
PARTS = ("rating", "ranking", "neumf")


def load_configs(folder, quick=False):
    """``{task: {model: (config, source)}}``: the stored study's best, else the defaults.

    The studies are ``folder/tuned_<task>.json`` (from ``python -m experiments.tune``).
    """
    configs = {}
    for task in contenders.TASKS:
        path = folder / f"tuned_{task}.json"
        stored = {} if quick or not path.exists() else json.loads(path.read_text())
        configs[task] = {}
        for name in contenders.models(task):
            entry = stored.get(name)
            if entry is not None:
                configs[task][name] = (entry["config"], f"study, {entry['n_trials']} trials")
            else:
                config = contenders.default_config(task, name)
                if quick:
                    config = quick_config(task, name, config)
                configs[task][name] = (config, "default")
    return configs


def key(metric):
    """The protocols' key of a column name here: ``"full HR"`` -> ``"full_hr"``."""
    return metric.lower().replace(" ", "_")


def _row(task, name, result, split_seed, refit, cpu, cap=None):
    return {"model": name, "family": contenders.family(name), "trained on": TRAINED_ON[refit],
            "split": split_seed, **{m: result.test[key(m)] for m in METRICS[task]},
            **{f"val {m}": result.val.get(key(m), np.nan) for m in METRICS[task]},
            "epochs": result.best_epoch, "cap": cap, "seconds": result.seconds,
            "cpu seconds": cpu}


def _timed(task, name, config, protocol, **kwargs):
    cpu = time.process_time()
    result = contenders.run(task, name, config, protocol, **kwargs)
    return result, time.process_time() - cpu


def run_task(task, protocols, configs, names, quick=False):
    """Every model of ``names`` on every protocol, without and with the refit.

    Returns the runs and ``{split: {name: (result on train, refitted result)}}`` of our
    models, the members of the ensemble.
    """
    max_epochs = 2 if quick else contenders.MAX_EPOCHS[task]
    rows, members = [], {}
    for split_seed, protocol in protocols:
        members[split_seed] = {}
        for name in names:
            config = configs[name][0]
            result, cpu = _timed(task, name, config, protocol, seed=split_seed,
                                 max_epochs=max_epochs)
            refit, refit_cpu = _timed(task, name, config, protocol, seed=split_seed,
                                      refit=True, refit_epochs=result.best_epoch)
            cap = max_epochs if result.best_epoch is not None else None
            rows += [_row(task, name, result, split_seed, False, cpu, cap),
                     _row(task, name, refit, split_seed, True, refit_cpu)]
            if name in contenders.OURS:
                members[split_seed][name] = (result, refit)
            print(f"{task:7s} split {split_seed:2d} {name:18s} "
                  f"{MAIN[task]} {result.test[key(MAIN[task])]:.4f} -> refit "
                  f"{refit.test[key(MAIN[task])]:.4f}  ({result.seconds + refit.seconds:5.1f} s)",
                  flush=True)
    return pd.DataFrame(rows), members


def ensemble_runs(task, protocols, members):
    """The NCF ensemble of every split (train only and refitted) and its weights."""
    rows, weights = [], []
    for split_seed, protocol in protocols:
        mine = members.get(split_seed, {})
        if len(mine) < 2:
            continue
        names = list(mine)
        start, cpu = time.perf_counter(), time.process_time()
        if task == "rating":
            val_u, val_i, val_r = protocol.val
            test_u, test_i, _ = protocol.test
            val_p = np.column_stack([mine[n][0].model.predict(val_u, val_i) for n in names])
            intercept, w = ensemble.rating_weights(val_p, val_r)
            trained = {n: mine[n][0].model for n in names}
            refitted = {n: mine[n][1].model for n in names}

            def blend(models, names=names, w=w, intercept=intercept):
                return lambda u, i: ensemble.rating_blend(
                    np.column_stack([models[n].predict(u, i) for n in names]), intercept, w)

            score, refit_score = blend(trained), blend(refitted)
        else:
            n_users, n_items = protocol.n_users, protocol.n_items
            train_m = [ensemble.score_matrix(mine[n][0].model, n_users, n_items) for n in names]
            refit_m = [ensemble.score_matrix(mine[n][1].model, n_users, n_items) for n in names]
            w = ensemble.ranking_weights(
                train_m, lambda m, p=protocol: p.evaluate(MatrixScorer(m), "val")["full_hr"])
            intercept = np.nan
            score = MatrixScorer(ensemble.ranking_blend(train_m, w))
            refit_score = MatrixScorer(ensemble.ranking_blend(refit_m, w))
        val, test = protocol.evaluate(score, "val"), protocol.evaluate(score, "test")
        refit_test = protocol.evaluate(refit_score, "test")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        base = {"model": contenders.ENSEMBLE, "family": "NCF family", "split": split_seed,
                "epochs": np.nan, "cap": np.nan}
        rows.append({**base, "trained on": TRAINED_ON[False],
                     **{m: test[key(m)] for m in METRICS[task]},
                     **{f"val {m}": val[key(m)] for m in METRICS[task]},
                     "seconds": seconds, "cpu seconds": cpu})
        rows.append({**base, "trained on": TRAINED_ON[True],
                     **{m: refit_test[key(m)] for m in METRICS[task]},
                     **{f"val {m}": np.nan for m in METRICS[task]},
                     "seconds": 0.0, "cpu seconds": 0.0})
        weights += [{"task": task, "split": split_seed, "member": n, "weight": float(v)}
                    for n, v in zip(names, w)]
        if task == "rating":
            weights.append({"task": task, "split": split_seed, "member": "(intercept)",
                            "weight": intercept})
        print(f"{task:7s} split {split_seed:2d} {contenders.ENSEMBLE:18s} {MAIN[task]} "
              f"{test[key(MAIN[task])]:.4f} -> refit {refit_test[key(MAIN[task])]:.4f}  "
              f"weights {dict(zip(names, np.round(w, 3).tolist()))}", flush=True)
    return pd.DataFrame(rows), pd.DataFrame(weights)


def run_objectives(protocols, config, quick=False):
    """BiasedMF with ``config`` and each loss of ``OBJECTIVES``, on every ranking protocol."""
    rows = []
    for split_seed, protocol in protocols:
        for label, (loss, negatives) in OBJECTIVES.items():
            swapped = {**contenders.upgrade(config), "loss": loss, "negatives": negatives}
            result, cpu = _timed("ranking", "BiasedMF", swapped, protocol, seed=split_seed,
                                 max_epochs=2 if quick else None)
            rows.append({"objective": label, "split": split_seed,
                         **{m: result.test[key(m)] for m in METRICS["ranking"]},
                         "val full HR": result.val["full_hr"], "epochs": result.best_epoch,
                         "seconds": result.seconds, "cpu seconds": cpu})
            print(f"objective split {split_seed:2d} {label:30s} full HR "
                  f"{result.test['full_hr']:.4f}  ({result.seconds:5.1f} s)", flush=True)
    return pd.DataFrame(rows)


def summarize_objectives(runs):
    grouped = runs.groupby("objective", sort=False)
    table = grouped[METRICS["ranking"] + ["val full HR"]].agg(["mean", "std"])
    table.columns = [f"{m} {stat}" for m, stat in table.columns]
    table["n"] = grouped.size()
    table["epochs"] = grouped["epochs"].mean()
    return table.sort_values("full HR mean", ascending=False).reset_index()


def summarize(runs, task):
    """Mean and std over splits per model and training rows, best first."""
    grouped = runs.groupby(["model", "family", "trained on"], sort=False)
    table = grouped[METRICS[task]].agg(["mean", "std"])
    table.columns = [f"{m} {stat}" for m, stat in table.columns]
    table["n"] = grouped.size()
    for column, source in (("best epoch", "epochs"), ("cap", "cap")):
        table[column] = grouped[source].max() if source in runs else np.nan
    table["seconds"] = grouped["seconds"].mean()
    ascending = task == "rating"
    return table.sort_values(f"{MAIN[task]} mean", ascending=ascending).reset_index()


def paired_gap(runs, task, ours, peer, trained_on):
    """Per-split difference ours - peer of the main metric: mean, std, splits ours wins."""
    metric = MAIN[task]
    rows = runs[runs["trained on"] == trained_on].pivot(index="split", columns="model",
                                                        values=metric)
    diff = rows[ours] - rows[peer]
    wins = int((diff < 0).sum() if task == "rating" else (diff > 0).sum())
    return float(diff.mean()), float(diff.std(ddof=1)), wins, len(diff)


def _is_ours(names):
    return pd.Series(names).isin([*contenders.OURS, contenders.ENSEMBLE]).to_numpy()


def _mean_std(table, metric):
    """The ``'mean ± std'`` cells of ``metric`` (columns ``<metric> mean``, ``<metric> std``)."""
    return [f"{a:.4f} ± {b:.4f}" for a, b in zip(table[f"{metric} mean"], table[f"{metric} std"])]


def _fmt(table, task):
    out = table[["model", "family", "trained on"]].copy()
    for m in METRICS[task]:
        out[m] = _mean_std(table, m)
    out["n"] = table["n"]
    out["best epoch / cap"] = ["" if pd.isna(e) or pd.isna(c) else f"{int(e)} / {int(c)}"
                               for e, c in zip(table["best epoch"], table["cap"])]
    out["seconds"] = table["seconds"].round(1)
    return out


def _markdown_table(frame):
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.to_numpy()]
    return "\n".join([header, rule, *lines])


def _best(table, trained_on, ours, task):
    part = table[(table["trained on"] == trained_on)
                 & (_is_ours(table["model"]) == ours)].set_index("model")[f"{MAIN[task]} mean"]
    if part.empty:
        return None, part
    return (part.idxmin() if task == "rating" else part.idxmax()), part


def verdicts(runs, table, task):
    """Lines saying who wins where, by how much, and whether it beats the noise."""
    lines = []
    for trained_on in TRAINED_ON.values():
        best_ours, part_ours = _best(table, trained_on, True, task)
        best_peer, part_peer = _best(table, trained_on, False, task)
        if best_ours is None or best_peer is None:
            continue
        mean, std, wins, n = paired_gap(runs, task, best_ours, best_peer, trained_on)
        noise = "larger than" if abs(mean) > std else "within"
        lines.append(f"- trained on {trained_on}: best NCF-family model {best_ours} "
                     f"{part_ours[best_ours]:.4f}, best peer {best_peer} "
                     f"{part_peer[best_peer]:.4f}; paired difference per split {mean:+.4f} ± "
                     f"{std:.4f} ({noise} the split-to-split spread), {best_ours} better on "
                     f"{wins} of {n}.")
    return lines


def paired_table(runs, table, task, trained_on):
    """The best NCF-family model against every peer, paired per split."""
    best_ours, _ = _best(table, trained_on, True, task)
    if best_ours is None:
        return pd.DataFrame()
    peers = [m for m in table[table["trained on"] == trained_on]["model"]
             if not _is_ours([m])[0]]
    rows = []
    for peer in peers:
        mean, std, wins, n = paired_gap(runs, task, best_ours, peer, trained_on)
        rows.append({"NCF-family model": best_ours, "peer": peer,
                     f"{MAIN[task]} difference": f"{mean:+.4f} ± {std:.4f}",
                     "ours better": f"{wins} of {n}"})
    return pd.DataFrame(rows)


def target_lines(runs, table, task):
    """Whether issue 22's target of ``task`` is met, with the numbers."""
    lines = []
    if task == "rating":
        trained_on = TRAINED_ON[True]
        best, part = _best(table, trained_on, True, task)
        if best is None:
            return []
        value, target = part[best], TARGETS["rating"]
        met = "met" if value <= target else "missed"
        lines.append(f"- target mean test RMSE <= {target}: {best} (refitted) {value:.4f} "
                     f"({met}, {value - target:+.4f})")
        peers = [m for m in table[table["trained on"] == trained_on]["model"]
                 if not _is_ours([m])[0]]
        if peers:
            wins = {p: paired_gap(runs, task, best, p, trained_on)[2] for p in peers}
            fewest = min(wins, key=wins.get)
            ok = all(w >= RATING_WINS for w in wins.values())
            lines.append(f"- target better than every peer on at least {RATING_WINS} of the "
                         f"{len(SPLIT_SEEDS)} holdouts (paired): {'met' if ok else 'missed'}; "
                         f"fewest wins {wins[fewest]} against {fewest}")
        return lines
    for trained_on in TRAINED_ON.values():
        best, part = _best(table, trained_on, True, task)
        peer, peer_part = _best(table, trained_on, False, task)
        if best is None or peer is None:
            continue
        rows = table[table["trained on"] == trained_on].set_index("model")
        spread = max(rows.loc[best, "full HR std"], rows.loc[peer, "full HR std"])
        margin = part[best] - peer_part[peer]
        met = "met" if margin > spread else "missed"
        lines.append(f"- target full HR@10 above every peer by more than the seed-to-seed "
                     f"spread ({trained_on}): {best} {part[best]:.4f} vs best peer {peer} "
                     f"{peer_part[peer]:.4f}, margin {margin:+.4f} against a spread of "
                     f"{spread:.4f} ({met})")
    return lines


def epoch_lines(runs):
    """Whether early stopping, not the cap, ended every run with epochs."""
    runs = runs[runs["trained on"] == TRAINED_ON[False]].dropna(subset=["epochs", "cap"])
    if runs.empty:
        return []
    stopped = runs["epochs"] + contenders.PATIENCE <= runs["cap"]
    worst = runs.loc[(runs["epochs"] / runs["cap"]).idxmax()]
    return [f"- epochs: early stopping ended {int(stopped.sum())} of {len(runs)} runs with "
            f"epochs (best epoch + patience {contenders.PATIENCE} <= cap); the latest best "
            f"epoch: {worst['model']} on split {worst['split']}, {int(worst['epochs'])} of "
            f"{int(worst['cap'])}"]


def objective_lines(trials_path):
    """Which ranking objective won each model's study (best validation full HR@10)."""
    if not trials_path.exists():
        return []
    trials = pd.read_csv(trials_path)
    trials = trials[(trials["task"] == "ranking") & trials["model"].isin(contenders.OURS)
                    & (trials["state"] == "COMPLETE")].copy()
    if trials.empty:
        return []
    trials["loss"] = [json.loads(p).get("loss") for p in trials["params"]]
    best = trials.pivot_table(index="model", columns="loss", values="value", aggfunc="max")
    count = trials.pivot_table(index="model", columns="loss", values="value", aggfunc="size")
    cells = best.round(4).astype(str) + " (" + count.fillna(0).astype(int).astype(str) + ")"
    frame = cells.fillna("").reset_index()
    return ["Best validation full HR@10 per ranking objective in each study "
            "(trials in brackets):", "", _markdown_table(frame)]


def objectives_markdown(table):
    if table is None:
        return []
    frame = table[["objective"]].copy()
    for m in ["val full HR", *METRICS["ranking"]]:
        frame[m] = _mean_std(table, m)
    frame["epochs"] = table["epochs"].round(1)
    return ["", "### Ranking objectives, head to head", "",
            "BiasedMF's configuration of the table above, only the training objective swapped "
            "(train only, early stopping on validation full HR@10), over the ranking splits:",
            "", _markdown_table(frame)]


def draw_lines(folder):
    """The draw check of the studies (``tune_draws_<task>.csv``), in a few lines."""
    lines = []
    for task in contenders.TASKS:
        path = folder / f"tune_draws_{task}.csv"
        if not path.exists():
            continue
        draws = pd.read_csv(path)
        if draws.empty:
            continue
        other = "validation of original_split(43)" if task == "rating" else "training seed 1"
        for name, rows in draws.groupby("model", sort=False):
            chosen = rows[rows["rank A"] == 1].iloc[0]
            best_b = rows.loc[rows["rank B"] == 1].iloc[0]
            lines.append(f"- {task}, {name}: the chosen configuration (trial {chosen['trial']}) "
                         f"scores {chosen['value A']:.4f} on the tuning draw and "
                         f"{chosen['value B']:.4f} on the other draw ({other}), where it ranks "
                         f"{int(chosen['rank B'])} of {len(rows)} of the study's best "
                         f"configurations (best there: trial {best_b['trial']}, "
                         f"{best_b['value B']:.4f}); best epoch {chosen['best epoch A']} -> "
                         f"{chosen['best epoch B']}")
    return lines


def neumf_markdown(runs):
    if runs is None or runs.empty:
        return []
    table = neumf_check.summarize(runs)
    metrics = ["val full HR", "test full HR", "test full NDCG", "test sampled HR"]
    frame = table[["variant"]].copy()
    for m in metrics:
        frame[m] = _mean_std(table, m)
    frame["n"] = table["n"]
    lines = ["", "## Our NeuMF against Cornac's NeuMF", "",
             f"One configuration (Cornac's defaults: GMF 8 factors, MLP "
             f"{'-'.join(map(str, neumf_check.our_neumf_layers()))}, 4 negatives, Adam 0.001, "
             f"256 positives per batch, {int(runs['epochs'].iloc[0])} epochs, no early "
             "stopping), leave-last-out train rows of ml-100k, seeds "
             f"{', '.join(map(str, sorted(runs['seed'].unique())))}; mean ± std over seeds:",
             "", _markdown_table(frame), ""]
    for variant in table["variant"]:
        if variant == "Cornac NeuMF":
            continue
        cornac_std = table.set_index("variant").loc["Cornac NeuMF", "test full HR std"]
        for metric in ("test full HR", "test sampled HR"):
            mean, std, n = neumf_check.paired(runs, variant, metric)
            verdict = "within" if abs(mean) <= max(std, cornac_std) else "larger than"
            lines.append(f"- {variant} minus Cornac, {metric}, same seed: {mean:+.4f} ± "
                         f"{std:.4f} over {n} seeds ({verdict} the seed-to-seed spread)")
    return lines


def write_markdown(path, tables, runs, configs, skipped, seconds, quick, trials_path,
                   objectives=None, neumf=None, cpu_seconds=None, tuning=None, task="all"):
    quick_flag = " --quick" if quick else ""
    cpu = f", {cpu_seconds / 60:.1f} min of CPU" if cpu_seconds is not None else ""
    if task == "all":
        took = f"{seconds / 60:.1f} min wall{cpu} when this was written, on 2 cores shared"
    elif task == "report":
        took = "rebuilt from the stored runs by `--task report`; their times: README.md"
    else:
        took = (f"this file last written by `--task {task}`, which took {seconds / 60:.1f} min "
                f"wall{cpu}; the stored runs of the other parts joined it")
    lines = ["# Peers and the NCF family, computed on the same rows", "",
             f"Regenerate: `{COMMAND}{quick_flag}` ({took}); the configurations: "
             "`python -m experiments.tune`."]
    if tuning:
        lines += [tuning]
    lines.append("")
    for task, label in (("rating", "rating: `original_split` seeds"),
                        ("ranking", "ranking: leave-last-out, candidate and training seeds")):
        if task in runs:
            seeds = ", ".join(map(str, sorted(runs[task]["split"].unique())))
            lines.append(f"Mean ± std over splits ({label} {seeds}). `best epoch / cap`: the "
                         "latest best epoch over the splits against the epoch cap (runs on "
                         "train; a refit trains for the run's best epoch).")
    for task in [t for t in contenders.TASKS if t in tables]:
        table = tables[task]
        lines += ["", f"## {task.capitalize()}", "", _markdown_table(_fmt(table, task)), ""]
        lines += verdicts(runs[task], table, task) + target_lines(runs[task], table, task)
        lines += epoch_lines(runs[task])
        sources = sorted({source for _, source in configs[task].values()})
        lines += [f"- configurations: {', '.join(sources)}; {contenders.ENSEMBLE}: weights "
                  "chosen on each split's validation rows (compare_ensemble_weights.csv)"]
        for trained_on in TRAINED_ON.values():
            paired = paired_table(runs[task], table, task, trained_on)
            if not paired.empty:
                lines += ["", f"The best NCF-family model against every peer, paired per split "
                              f"({trained_on}):", "", _markdown_table(paired)]
    if "ranking" in tables:
        lines += objectives_markdown(objectives)
        lines += ["", *objective_lines(trials_path)]
    lines += neumf_markdown(neumf)
    draws = draw_lines(trials_path.parent)
    if draws:
        lines += ["", "## Does the chosen configuration hold on another draw?", "",
                  "From `python -m experiments.tune` (validation only, "
                  "`tune_draws_<task>.csv`): the five best configurations of the best "
                  "NCF-family study and of the best peer study, trained again on a second "
                  "draw.", "", *draws]
    if skipped:
        lines += ["", "Skipped:", *[f"- {reason}" for reason in skipped]]
    path.write_text("\n".join(lines) + "\n")


def protocols(task, quick=False):
    """``[(seed, protocol), ...]`` of ``task`` (two small ones with ``quick``)."""
    if task == "rating":
        seeds = SPLIT_SEEDS[:2] if quick else SPLIT_SEEDS
        max_id = QUICK_MAX_ID if quick else 1000
        return [(s, RatingProtocol(original_split(s, max_id=max_id))) for s in seeds]
    split = last_item_split(quick_ranking_data() if quick else None)
    seeds = CANDIDATE_SEEDS[:2] if quick else CANDIDATE_SEEDS
    return [(s, FullRankingProtocol(split, seed=s)) for s in seeds]


def tuning_line(folder):
    """How long the stored studies took (their trials' CPU seconds), if recorded."""
    parts = []
    for task in contenders.TASKS:
        path = folder / f"tune_trials_{task}.csv"
        if path.exists():
            trials = pd.read_csv(path)
            if "cpu_seconds" in trials and trials["cpu_seconds"].notna().any():
                parts.append(f"{task} {trials['cpu_seconds'].sum() / 60:.1f} min")
        draws = folder / f"tune_draws_{task}.csv"
        if draws.exists() and parts and "cpu seconds" in pd.read_csv(draws):
            parts[-1] += (f" + draw check {pd.read_csv(draws)['cpu seconds'].sum() / 60:.1f} "
                          "min")
    return f"The studies' trials took {', '.join(parts)} of CPU." if parts else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=[*PARTS, "all", "report"], default="all",
                        help="rating, ranking, the NeuMF check (neumf), all three, or report "
                             "(no runs: rebuild compare.md from the stored ones)")
    parser.add_argument("--models", nargs="+", help="only these models (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: data slice, 2 splits, 2 epochs, default configs")
    parser.add_argument("--configs", type=Path, default=None,
                        help="folder of the studies' tuned_<task>.json (default: --out's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    unknown = contenders.unknown_models(args.models)
    if unknown:  # before any work: a typo would otherwise run nothing and report it
        parser.error(unknown)
    os.environ.setdefault("NCF_PROGRESS", "0")
    args.out.mkdir(parents=True, exist_ok=True)
    args.configs = args.configs or args.out
    configs = load_configs(args.configs, args.quick)
    parts = {"all": PARTS, "report": ()}.get(args.task, (args.task,))
    start, cpu_start = time.perf_counter(), time.process_time()
    tables, runs, skipped, objectives, neumf, weights = {}, {}, [], None, None, []
    for task in [t for t in contenders.TASKS if t in parts]:
        names = []
        for name in contenders.models(task):
            if args.models and name not in args.models:
                continue
            reason = contenders.missing(name)
            if reason:
                print(reason, file=sys.stderr)
                skipped.append(reason)
            else:
                names.append(name)
        if not names:
            continue
        task_protocols = protocols(task, args.quick)
        runs[task], members = run_task(task, task_protocols, configs[task], names, args.quick)
        blended, blend_weights = ensemble_runs(task, task_protocols, members)
        runs[task] = pd.concat([runs[task], blended], ignore_index=True)
        weights.append(blend_weights)
        if task == "ranking" and "BiasedMF" in names:
            objectives = summarize_objectives(run_objectives(
                task_protocols, configs[task]["BiasedMF"][0], args.quick))
            objectives.to_csv(args.out / "compare_objectives.csv", index=False,
                              float_format="%.6g")
        tables[task] = summarize(runs[task], task)
        runs[task].to_csv(args.out / f"compare_{task}_runs.csv", index=False,
                          float_format="%.6g")
        tables[task].to_csv(args.out / f"compare_{task}.csv", index=False,
                            float_format="%.6g")
    if weights:
        weights = pd.concat(weights, ignore_index=True)
        path = args.out / "compare_ensemble_weights.csv"
        if path.exists() and not args.quick:  # keep the other task's weights
            old = pd.read_csv(path)
            weights = pd.concat([old[~old["task"].isin(weights["task"])], weights])
        weights.to_csv(path, index=False, float_format="%.6g")
    if "neumf" in parts:
        reason = contenders.missing("Cornac NeuMF")
        if reason:
            print(reason, file=sys.stderr)
            skipped.append(reason.replace("Cornac NeuMF skipped", "The NeuMF check skipped"))
        else:
            split = last_item_split(quick_ranking_data() if args.quick else None)
            neumf = neumf_check.run_check(
                FullRankingProtocol(split, seed=CANDIDATE_SEEDS[0]),
                seeds=neumf_check.SEEDS[:2] if args.quick else neumf_check.SEEDS,
                epochs=2 if args.quick else neumf_check.EPOCHS)
            neumf.to_csv(args.out / "compare_neumf_runs.csv", index=False, float_format="%.6g")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    for task in contenders.TASKS:  # a task run separately earlier still joins the report
        stored = args.out / f"compare_{task}_runs.csv"
        if task not in runs and stored.exists() and not args.quick:
            runs[task] = pd.read_csv(stored)
            tables[task] = summarize(runs[task], task)
            if task == "ranking" and (args.out / "compare_objectives.csv").exists():
                objectives = pd.read_csv(args.out / "compare_objectives.csv")
    stored = args.out / "compare_neumf_runs.csv"
    if neumf is None and stored.exists() and not args.quick:
        neumf = pd.read_csv(stored)
    write_markdown(args.out / "compare.md", tables, runs, configs, skipped, seconds,
                   args.quick, args.configs / "tune_trials_ranking.csv", objectives, neumf,
                   cpu_seconds, None if args.quick else tuning_line(args.configs), args.task)
    print(f"comparison took {seconds:.0f} s ({cpu_seconds:.0f} s of CPU); results in {args.out}")


if __name__ == "__main__":
    main()
