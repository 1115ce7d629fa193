"""Every model on several splits, the classic peers computed here on the same rows.

* **Rating** -- five holdouts of the notebooks' subset: ``original_split(seed)`` for each
  seed of ``SPLIT_SEEDS`` (ids below 1000, a random 10 % test, validation carved as
  ``original_split`` does). Our BiasedMF, GMF, MLP and NeuMF and Surprise's BaselineOnly,
  SVD, SVD++ and KNNBaseline, each trained twice: on train only (early stopping on
  validation for ours) and refitted on train + validation (ours for the best
  epoch found on validation). Test RMSE and MAE.
* **Ranking** -- leave-last-out on full ml-100k with three draws of the 99 sampled
  candidates (``CANDIDATE_SEEDS``, which also seed the training): our models and
  implicit's ALS and BPR, on train only and refitted. Sampled and full HR@10 and
  NDCG@10 of the test items.

The configurations come from the stored study (``experiments/results/tuned_*.json``,
written by ``python -m experiments.tune``), the same budget for every model; without
it, the hand-picked defaults of :mod:`experiments.contenders`. Writes, under ``--out``:
``compare_rating.csv`` and ``compare_ranking.csv`` (mean and std over splits per
model and training rows), ``compare_rating_runs.csv`` and ``compare_ranking_runs.csv``
(one row per run), ``compare_objectives.csv`` (BiasedMF's ranking objectives head to head:
BCE, BPR, sampled softmax, the rest of its config fixed) and ``compare.md`` (the tables
and the verdicts).

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

from experiments import contenders
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
TARGETS = {"rating": 0.895, "ranking": 0.65}  # best NCF RMSE at most; sampled HR at least
# Ranking objectives compared head to head: BiasedMF's tuned config with only the loss
# (and its negatives per positive) swapped, train only, on the ranking splits.
OBJECTIVES = {"BCE, 4 negatives": ("bce", 4), "BPR, 5 negatives": ("bpr", 5),
              "sampled softmax, 16 negatives": ("softmax", 16)}


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


def _row(task, name, result, split_seed, refit):
    return {"model": name, "family": contenders.family(name), "trained on": TRAINED_ON[refit],
            "split": split_seed, **{m: result.test[key(m)] for m in METRICS[task]},
            **{f"val {m}": result.val.get(key(m), np.nan) for m in METRICS[task]},
            "epochs": result.best_epoch, "seconds": result.seconds}


def run_task(task, protocols, configs, names, quick=False):
    """Every model of ``names`` on every protocol, without and with the refit."""
    max_epochs = 2 if quick else None
    rows = []
    for split_seed, protocol in protocols:
        for name in names:
            config = configs[name][0]
            result = contenders.run(task, name, config, protocol, seed=split_seed,
                                    max_epochs=max_epochs)
            refit = contenders.run(task, name, config, protocol, seed=split_seed, refit=True,
                                   refit_epochs=result.best_epoch)
            rows += [_row(task, name, result, split_seed, False),
                     _row(task, name, refit, split_seed, True)]
            print(f"{task:7s} split {split_seed:2d} {name:12s} "
                  f"{MAIN[task]} {result.test[key(MAIN[task])]:.4f} -> refit "
                  f"{refit.test[key(MAIN[task])]:.4f}  ({result.seconds + refit.seconds:5.1f} s)",
                  flush=True)
    return pd.DataFrame(rows)


def run_objectives(protocols, config, quick=False):
    """BiasedMF with ``config`` and each loss of ``OBJECTIVES``, on every ranking protocol."""
    rows = []
    for split_seed, protocol in protocols:
        for label, (loss, negatives) in OBJECTIVES.items():
            swapped = {**contenders.upgrade(config), "loss": loss, "negatives": negatives}
            result = contenders.run("ranking", "BiasedMF", swapped, protocol, seed=split_seed,
                                    max_epochs=2 if quick else None)
            rows.append({"objective": label, "split": split_seed,
                         **{m: result.test[key(m)] for m in METRICS["ranking"]},
                         "val full HR": result.val["full_hr"], "epochs": result.best_epoch,
                         "seconds": result.seconds})
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


def _fmt(table, task):
    out = table[["model", "family", "trained on"]].copy()
    for m in METRICS[task]:
        out[m] = [f"{a:.4f} ± {b:.4f}" for a, b in zip(table[f"{m} mean"], table[f"{m} std"])]
    out["n"] = table["n"]
    out["seconds"] = table["seconds"].round(1)
    return out


def _markdown_table(frame):
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.to_numpy()]
    return "\n".join([header, rule, *lines])


def verdicts(runs, table, task):
    """Lines saying who wins where, by how much, and whether it beats the noise."""
    metric, better = MAIN[task], (min if task == "rating" else max)
    lines = []
    for trained_on in TRAINED_ON.values():
        part = table[table["trained on"] == trained_on].set_index("model")[f"{metric} mean"]
        ours = [m for m in part.index if m in contenders.OURS]
        peers = [m for m in part.index if m not in contenders.OURS]
        if not ours or not peers:
            continue
        best_ours, best_peer = better(ours, key=part.get), better(peers, key=part.get)
        mean, std, wins, n = paired_gap(runs, task, best_ours, best_peer, trained_on)
        noise = "larger than" if abs(mean) > std else "within"
        lines.append(f"- trained on {trained_on}: best NCF-family model {best_ours} "
                     f"{part[best_ours]:.4f}, best peer {best_peer} {part[best_peer]:.4f}; "
                     f"paired difference per split {mean:+.4f} ± {std:.4f} ({noise} the "
                     f"split-to-split spread), {best_ours} better on {wins} of {n}.")
    return lines


def target_lines(table, task):
    refit = table[(table["trained on"] == "train + validation")
                  & table["model"].isin(contenders.OURS)]
    peers = table[(table["trained on"] == "train + validation")
                  & ~table["model"].isin(contenders.OURS)]
    if refit.empty:
        return []
    if task == "rating":
        best = refit.nsmallest(1, "RMSE mean").iloc[0]
        met = "met" if best["RMSE mean"] <= TARGETS["rating"] else "missed"
        line = (f"- target RMSE <= {TARGETS['rating']}: {best['model']} refitted "
                f"{best['RMSE mean']:.4f} ({met}, {best['RMSE mean'] - TARGETS['rating']:+.4f})")
        if not peers.empty:
            beaten = (best["RMSE mean"] < peers["RMSE mean"]).all()
            line += f"; below every Surprise model on the same rows: {'yes' if beaten else 'no'}"
        return [line]
    lines = []
    sampled = table[table["model"].isin(contenders.OURS)].nlargest(1, "sampled HR mean").iloc[0]
    lines.append(f"- target sampled HR@10 >= {TARGETS['ranking']}: {sampled['model']} "
                 f"({sampled['trained on']}) {sampled['sampled HR mean']:.4f} "
                 f"({'met' if sampled['sampled HR mean'] >= TARGETS['ranking'] else 'missed'})")
    for trained_on in TRAINED_ON.values():
        ours = table[(table["trained on"] == trained_on) & table["model"].isin(contenders.OURS)]
        others = table[(table["trained on"] == trained_on) & ~table["model"].isin(contenders.OURS)]
        if ours.empty or others.empty:
            continue
        best = ours.nlargest(1, "full HR mean").iloc[0]
        beaten = (best["full HR mean"] > others["full HR mean"]).all()
        lines.append(f"- target full HR@10 above ALS and BPR ({trained_on}): {best['model']} "
                     f"{best['full HR mean']:.4f} vs best peer {others['full HR mean'].max():.4f}"
                     f" ({'met' if beaten else 'missed'})")
    return lines


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
    frame = cells.reset_index()
    return ["Best validation full HR@10 per ranking objective in each study "
            "(trials in brackets):", "", _markdown_table(frame)]


def objectives_markdown(table):
    if table is None:
        return []
    frame = table[["objective"]].copy()
    for m in ["val full HR", *METRICS["ranking"]]:
        frame[m] = [f"{a:.4f} ± {b:.4f}" for a, b in zip(table[f"{m} mean"], table[f"{m} std"])]
    frame["epochs"] = table["epochs"].round(1)
    return ["", "### Ranking objectives, head to head", "",
            "BiasedMF's configuration of the table above, only the training objective swapped "
            "(train only, early stopping on validation full HR@10), over the ranking splits:",
            "", _markdown_table(frame)]


def write_markdown(path, tables, runs, configs, skipped, seconds, quick, trials_path,
                   objectives=None):
    quick_flag = " --quick" if quick else ""
    lines = ["# Classic recommenders and the NCF family, computed on the same rows", "",
             f"Regenerate: `{COMMAND}{quick_flag}` ({seconds / 60:.1f} min when this was "
             "written); the configurations: `python -m experiments.tune`.", ""]
    for task, label in (("rating", "rating: `original_split` seeds"),
                        ("ranking", "ranking: leave-last-out, candidate seeds")):
        if task in runs:
            seeds = ", ".join(map(str, sorted(runs[task]["split"].unique())))
            lines.append(f"Mean ± std over splits ({label} {seeds}).")
    for task in [t for t in contenders.TASKS if t in tables]:
        table = tables[task]
        lines += ["", f"## {task.capitalize()}", "", _markdown_table(_fmt(table, task)), ""]
        lines += verdicts(runs[task], table, task) + target_lines(table, task)
        sources = sorted({source for _, source in configs[task].values()})
        lines += [f"- configurations: {', '.join(sources)}"]
    if "ranking" in tables:
        lines += objectives_markdown(objectives)
        lines += ["", *objective_lines(trials_path)]
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=[*contenders.TASKS, "all"], default="all")
    parser.add_argument("--models", nargs="+", help="only these models (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: data slice, 2 splits, 2 epochs, default configs")
    parser.add_argument("--configs", type=Path, default=None,
                        help="folder of the studies' tuned_<task>.json (default: --out's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ.setdefault("NCF_PROGRESS", "0")
    args.out.mkdir(parents=True, exist_ok=True)
    args.configs = args.configs or args.out
    configs = load_configs(args.configs, args.quick)
    tasks = contenders.TASKS if args.task == "all" else (args.task,)
    start = time.perf_counter()
    tables, runs, skipped, objectives = {}, {}, [], None
    for task in tasks:
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
        runs[task] = run_task(task, task_protocols, configs[task], names, args.quick)
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
    seconds = time.perf_counter() - start
    for task in contenders.TASKS:  # a task run separately earlier still joins the report
        stored = args.out / f"compare_{task}_runs.csv"
        if task not in runs and stored.exists() and not args.quick:
            runs[task] = pd.read_csv(stored)
            tables[task] = summarize(runs[task], task)
            if task == "ranking" and (args.out / "compare_objectives.csv").exists():
                objectives = pd.read_csv(args.out / "compare_objectives.csv")
    write_markdown(args.out / "compare.md", tables, runs, configs, skipped, seconds,
                   args.quick, args.configs / "tune_trials_ranking.csv", objectives)
    print(f"comparison took {seconds:.0f} s; results in {args.out}")


if __name__ == "__main__":
    main()
