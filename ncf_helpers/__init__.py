"""Helpers for the "Neural Collaborative Filtering, step by step" notebook series.

What the notebooks use, by role (each name also lives in its module):

* data in: :func:`load_movielens`, :func:`subset`, the splits and :class:`IdEncoder`;
  the two set-ups of the series, :func:`original_split` and :func:`last_item_split`;
* models and baselines, one contract (``fit``, ``predict``, ``recommend``):
  :class:`NCF`, :class:`MLP`, :class:`GMF`, :class:`NeuMF`, :class:`BiasedMF`,
  :class:`HistoryNeuMF` (NeuMF with the rated movies in the user, as SVD++),
  :class:`GlobalMean`, :class:`BiasBaseline`, :class:`Popularity`;
* training: :class:`TrainConfig` and :func:`fit`, the one engine; the losses;
  :class:`NegativeSampler`;
* evaluation: the metrics, :class:`RatingProtocol`, :class:`RankingProtocol`,
  :func:`train_and_score`, :func:`results_table`, :func:`seed_summary`;
* reading results: :func:`recommend`, :func:`similar_movies`, the plots;
* :func:`seed_everything`, the one way to seed every generator.
"""
from .baselines import BiasBaseline, GlobalMean, Popularity
from .data import load_interactions, load_movielens, subset
from .encoding import IdEncoder
from .evaluation import (
                         FullRankingProtocol,
                         RankingProtocol,
                         RatingProtocol,
                         Result,
                         refit_and_score,
                         results_table,
                         score_baseline,
                         seed_summary,
                         train_and_score,
)
from .losses import (
                         BCEL1L2Loss,
                         BPRLoss,
                         FullSoftmaxLoss,
                         MSEL1L2Loss,
                         OriginalMSEL1L2Loss,
                         SampledSoftmaxLoss,
)
from .metrics import (
                         ValMetric,
                         full_ranking_metrics,
                         mae,
                         ranking_metrics_from_candidates,
                         ranking_metrics_from_ranks,
                         rmse,
                         rmse_metric,
                         sample_candidates,
)
from .models import GMF, MLP, NCF, BiasedMF, HistoryNeuMF, NeuMF, RecModel, count_parameters
from .prepare import PreparedSplit, last_item_split, original_split
from .recommend import recommend, similar_movies
from .sampling import NegativeSampler, add_negatives, iterate_batches
from .splits import leakage_report, leave_last_out, random_split, train_val_test_split
from .training import TrainConfig, fit
from .utils import DEFAULT_SEED, get_device, seed_everything

__all__ = [
    "BiasBaseline", "GlobalMean", "Popularity", "load_interactions", "load_movielens", "subset",
    "IdEncoder",
    "FullRankingProtocol", "RankingProtocol", "RatingProtocol", "Result", "refit_and_score",
    "results_table", "score_baseline", "seed_summary", "train_and_score", "BCEL1L2Loss",
    "BPRLoss", "FullSoftmaxLoss", "MSEL1L2Loss", "OriginalMSEL1L2Loss", "SampledSoftmaxLoss",
    "ValMetric",
    "full_ranking_metrics", "mae", "ranking_metrics_from_candidates",
    "ranking_metrics_from_ranks", "rmse", "rmse_metric", "sample_candidates", "GMF", "MLP", "NCF",
    "BiasedMF", "HistoryNeuMF", "NeuMF", "RecModel", "count_parameters", "PreparedSplit",
    "last_item_split",
    "original_split", "recommend", "similar_movies", "NegativeSampler", "add_negatives",
    "iterate_batches", "leakage_report", "leave_last_out", "random_split", "train_val_test_split",
    "TrainConfig", "fit", "DEFAULT_SEED", "get_device", "seed_everything",
]
