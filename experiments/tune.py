"""Tuning as code: one seeded Optuna study per model, on validation only.

Every contender -- our BiasedMF, GMF, MLP, NeuMF and HistoryNeuMF, and the peers
(Surprise and LensKit for ratings; implicit, Cornac and LensKit for ranking) -- gets the
same trial budget, a TPE sampler seeded with the same seed, and the search space declared
in :mod:`experiments.contenders`.
A trial trains on the train split and returns a *validation* number: RMSE for
ratings (``original_split(42)``), full HR@10 of the validation items for ranking
(leave-last-out); the test split is never touched here. Our models stop early on that
same validation metric, and the best epoch is kept with the trial, for the refit.

Writes, under ``--out`` (default ``experiments/results``):

* ``tuned_<task>.json`` -- the best config of every model, read by
  :mod:`experiments.compare`;
* ``tune_trials_<task>.csv`` -- every trial: model, number, validation value,
  parameters, best epoch, seconds;
* ``tune_importances_<task>.csv`` -- Optuna's PED-ANOVA parameter importances per
  study: how much each parameter matters for reaching the study's best quarter;
* ``tune_draws_<task>.csv`` -- does the choice hold on another draw? The five best
  configurations of the best NCF-family model and of the best peer, trained again on a
  second draw (ratings: the validation split of ``original_split(43)``; ranking, whose
  leave-last-out split is fixed: training seed 1) and ranked there. Validation only.

One file per task, so ``--task rating`` and ``--task ranking`` can run as two processes.

Run ``python -m experiments.tune`` (every study; see ``--help``), or with ``--quick``
for a smoke run on a tiny slice of the data (seconds).
"""
import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import contenders
from ncf_helpers.data import load_movielens, subset
from ncf_helpers.evaluation import FullRankingProtocol, RatingProtocol
from ncf_helpers.prepare import last_item_split, original_split

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 42               # TPE sampler, training seed and rating split of every study
CANDIDATE_SEED = 0      # the ranking protocol's validation candidates
# Trials per study, the same for every model of a task (a ranking trial costs ~5x more).
TRIALS = {"rating": 20, "ranking": 12}
# The second draw of the draw check: another rating split; ranking trains with another seed.
OTHER_DRAW = {"rating": 43, "ranking": 1}
DRAW_TOP = 5            # configurations of a study retrained on the other draw
QUICK_TRIALS = 2
QUICK_MAX_ID = 120      # --quick: users and movies with ids below this only
COMMAND = "OMP_NUM_THREADS=1 NCF_PROGRESS=0 python -m experiments.tune"


def quick_ranking_data():
    """The ``--quick`` ranking data: ml-100k users with ids below ``QUICK_MAX_ID``."""
    ratings, movies, users = load_movielens("ml-100k")
    return subset(ratings, users=range(QUICK_MAX_ID)), movies, users


def protocols(quick=False):
    """The tuning protocols: ``{"rating": RatingProtocol, "ranking": FullRankingProtocol}``.

    ``quick``: only users (and, for ratings, movies) with ids below ``QUICK_MAX_ID``.
    """
    if not quick:
        return {"rating": RatingProtocol(original_split(SEED)),
                "ranking": FullRankingProtocol(last_item_split(), seed=CANDIDATE_SEED)}
    return {"rating": RatingProtocol(original_split(SEED, max_id=QUICK_MAX_ID)),
            "ranking": FullRankingProtocol(last_item_split(quick_ranking_data()),
                                           seed=CANDIDATE_SEED)}


def quick_config(task, name, config):
    """Shrink a config so a --quick run takes seconds (few epochs and factors)."""
    shrunk = {"SVD": {"n_epochs": 3, "n_factors": 10}, "SVD++": {"n_epochs": 2, "n_factors": 5},
              "BaselineOnly": {"n_epochs": 3}, "ALS": {"iterations": 2, "factors": 16},
              "BPR": {"iterations": 5, "factors": 16},
              "Cornac BPR": {"max_iter": 5, "k": 8},
              "LensKit BiasedMF": {"epochs": 2, "embedding_size": 8},
              "LensKit ImplicitMF": {"epochs": 2, "embedding_size": 8}}
    return {**config, **shrunk.get(name, {})}


def validation_value(task, result):
    """The number a study optimises: validation RMSE, or validation full HR@10."""
    return result.val["rmse"] if task == "rating" else result.val["full_hr"]


def direction(task):
    return "minimize" if task == "rating" else "maximize"


def objective(task, name, protocol, quick=False):
    """The Optuna objective of one model: train on train, score on validation."""
    max_epochs = 2 if quick else None

    def run_trial(trial):
        config = contenders.suggest(task, name, trial)
        if quick:
            config = quick_config(task, name, config)
        cpu = time.process_time()
        result = contenders.run(task, name, config, protocol, seed=SEED, max_epochs=max_epochs)
        trial.set_user_attr("config", config)
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("seconds", result.seconds)
        trial.set_user_attr("cpu_seconds", time.process_time() - cpu)
        return validation_value(task, result)

    return run_trial


def tune(task, name, protocol, n_trials, quick=False):
    """Run one seeded TPE study; return it."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=SEED, n_startup_trials=min(8, n_trials))
    study = optuna.create_study(direction=direction(task), sampler=sampler,
                                study_name=f"{task}:{name}")
    # A diverging trial (NaN loss at a large learning rate) fails alone; the study goes on.
    study.optimize(objective(task, name, protocol, quick), n_trials=n_trials,
                   catch=(FloatingPointError,))
    return study


def importances(study):
    """PED-ANOVA importances: how much each parameter matters to reach the best quarter.

    PED-ANOVA (Watanabe et al., IJCAI 2023) needs no extra package (fANOVA needs
    scikit-learn), is deterministic, and handles conditional parameters.
    """
    import optuna

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 4:
        return {}
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=0.25)
    try:
        with warnings.catch_warnings():  # "some regimes have < 2 trials": small budgets
            warnings.simplefilter("ignore", UserWarning)
            return optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError) as error:  # e.g. every trial scored the same
        print(f"  no importances for {study.study_name}: {error}", file=sys.stderr)
        return {}


def trial_rows(task, name, study):
    rows = []
    for t in study.trials:
        rows.append({"task": task, "model": name, "trial": t.number, "state": t.state.name,
                     "value": t.value, "best_epoch": t.user_attrs.get("best_epoch"),
                     "seconds": t.user_attrs.get("seconds"),
                     "cpu_seconds": t.user_attrs.get("cpu_seconds"),
                     "params": json.dumps(t.params, sort_keys=True)})
    return rows


def best_entry(task, name, study):
    """What compare.py needs of a study: the best trial's params, config and epoch."""
    best = study.best_trial
    return {"params": best.params, "config": best.user_attrs["config"],
            "value": best.value, "metric": "val RMSE" if task == "rating" else "val full HR@10",
            "best_epoch": best.user_attrs.get("best_epoch"), "trial": best.number,
            "n_trials": len(study.trials)}


def _merge_json(path, entries):
    """Update ``path`` with ``entries`` ({model: entry}), keeping the other studies."""
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored.update(entries)
    stored["_command"] = COMMAND
    path.write_text(json.dumps(stored, indent=1, sort_keys=True, default=float) + "\n")


def _merge_csv(path, rows, keys):
    """Replace the rows of the studies just run in ``path`` (keyed by ``keys``)."""
    new = pd.DataFrame(rows)
    if path.exists() and not new.empty:
        old = pd.read_csv(path)
        done = set(map(tuple, new[keys].drop_duplicates().to_numpy()))
        old = old[[tuple(r) not in done for r in old[keys].to_numpy()]]
        new = pd.concat([old, new], ignore_index=True)
    new.to_csv(path, index=False, float_format="%.6g")


def draw_protocol(task, all_protocols, quick=False):
    """``(protocol, training seed)`` of the draw check's other draw of ``task``."""
    if task == "rating":
        max_id = QUICK_MAX_ID if quick else 1000
        return RatingProtocol(original_split(OTHER_DRAW["rating"], max_id=max_id)), SEED
    return all_protocols["ranking"], OTHER_DRAW["ranking"]


def draw_check(task, folder, protocol, seed, quick=False, top=DRAW_TOP):
    """Retrain the ``top`` best configurations of two studies on another draw.

    The studies are the stored ones under ``folder`` (``tuned_<task>.json`` and
    ``tune_trials_<task>.csv``): the NCF-family model and the peer with the best
    validation value. Each configuration is trained as in its trial, but on the other
    draw, and scored on that draw's validation split. Returns one row per
    configuration: its rank and value in the study (draw A) and on the other draw (B).
    """
    tuned = json.loads((folder / f"tuned_{task}.json").read_text())
    trials = pd.read_csv(folder / f"tune_trials_{task}.csv")
    trials = trials[(trials["task"] == task) & (trials["state"] == "COMPLETE")]
    lower = task == "rating"
    entries = {name: entry for name, entry in tuned.items() if not name.startswith("_")}
    chosen = []
    for group in (contenders.OURS, contenders.PEERS[task]):
        values = {n: e["value"] for n, e in entries.items()
                  if n in group and contenders.missing(n) is None}
        if values:
            chosen.append((min if lower else max)(values, key=values.get))
    rows = []
    for name in chosen:
        mine = trials[trials["model"] == name].sort_values(["value", "trial"],
                                                           ascending=[lower, True]).head(top)
        for rank, row in enumerate(mine.itertuples(index=False), 1):
            config = contenders.config_from_params(task, name, json.loads(row.params))
            if quick:
                config = quick_config(task, name, config)
            cpu = time.process_time()
            result = contenders.run(task, name, config, protocol, seed=seed,
                                    max_epochs=2 if quick else None)
            rows.append({"task": task, "model": name, "trial": row.trial, "rank A": rank,
                         "value A": row.value, "value B": validation_value(task, result),
                         "best epoch A": row.best_epoch, "best epoch B": result.best_epoch,
                         "seconds": result.seconds, "cpu seconds": time.process_time() - cpu})
            print(f"draw check {task:7s} {name:18s} trial {row.trial:2d} (rank {rank}) "
                  f"{row.value:.4f} -> {rows[-1]['value B']:.4f}", flush=True)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["rank B"] = frame.groupby("model")["value B"].rank(
            ascending=lower, method="min").astype(int)
    return frame


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=[*contenders.TASKS, "all"], default="all")
    parser.add_argument("--models", nargs="+", help="only these models (default: all)")
    parser.add_argument("--trials", type=int, default=None,
                        help=f"trials per model (default {TRIALS}; --quick {QUICK_TRIALS})")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny data slice, 2 epochs, 2 trials")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--draw-check", action=argparse.BooleanOptionalAction, default=None,
                        help="retrain the best configurations on another draw (default: "
                             "only when every model of the task is tuned, without --models)")
    args = parser.parse_args(argv)
    unknown = contenders.unknown_models(args.models)
    if unknown:  # before any work: a typo would otherwise run nothing and report it
        parser.error(unknown)
    if args.trials is not None and args.trials < 1:
        parser.error(f"--trials must be at least 1, got {args.trials}")
    tasks = contenders.TASKS if args.task == "all" else (args.task,)
    os.environ.setdefault("NCF_PROGRESS", "0")
    args.out.mkdir(parents=True, exist_ok=True)
    all_protocols = protocols(args.quick)
    start, cpu_start = time.perf_counter(), time.process_time()
    for task in tasks:
        names = [n for n in contenders.models(task) if not args.models or n in args.models]
        for name in names:
            reason = contenders.missing(name)
            if reason:
                print(reason, file=sys.stderr)
                continue
            t0 = time.perf_counter()
            n_trials = args.trials or (QUICK_TRIALS if args.quick else TRIALS[task])
            study = tune(task, name, all_protocols[task], n_trials, args.quick)
            best = best_entry(task, name, study)
            print(f"{task:7s} {name:12s} best {best['metric']} {best['value']:.4f} "
                  f"(trial {best['trial']}, epoch {best['best_epoch']}) "
                  f"{time.perf_counter() - t0:6.1f} s  {best['params']}", flush=True)
            # Write after every study: a long run that is stopped keeps what it found.
            _merge_json(args.out / f"tuned_{task}.json", {name: best})
            _merge_csv(args.out / f"tune_trials_{task}.csv", trial_rows(task, name, study),
                       ["task", "model"])
            imp = importances(study)
            _merge_csv(args.out / f"tune_importances_{task}.csv",
                       [{"task": task, "model": name, "param": p, "importance": v}
                        for p, v in imp.items()] or [{"task": task, "model": name,
                                                      "param": None, "importance": np.nan}],
                       ["task", "model"])
        if args.draw_check or (args.draw_check is None and not args.models):
            t0 = time.perf_counter()
            protocol, seed = draw_protocol(task, all_protocols, args.quick)
            frame = draw_check(task, args.out, protocol, seed, args.quick,
                               top=2 if args.quick else DRAW_TOP)
            frame.to_csv(args.out / f"tune_draws_{task}.csv", index=False, float_format="%.6g")
            print(f"draw check {task}: {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"tuning took {time.perf_counter() - start:.0f} s "
          f"({time.process_time() - cpu_start:.0f} s of CPU); results in {args.out}")


if __name__ == "__main__":
    main()
