"""Hostile input at the public boundary: every bad input gets a clear error.

Each case asserts the error type and that the message names the offending thing (file,
column, id, value or argument) and, where there is one, what to do. The first part holds
the cases seen in the wild; ``PROBES`` below is a wider sweep of plausible mistakes.
"""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from ncf_helpers import checks
from ncf_helpers.base import Recommender
from ncf_helpers.baselines import BiasBaseline, GlobalMean, Popularity
from ncf_helpers.checkpoint import load_checkpoint, save_checkpoint
from ncf_helpers.cli import load_arrays, parse_args
from ncf_helpers.data import (
    MovieLens,
    download_movielens,
    load_movielens,
    read_csv_layout,
    read_ml1m,
    subset,
    validate_ratings,
)
from ncf_helpers.encoding import IdEncoder
from ncf_helpers.evaluation import RankingProtocol, RatingProtocol
from ncf_helpers.features import age_bucket, count_buckets, item_features, user_features
from ncf_helpers.losses import BCEL1L2Loss, MSEL1L2Loss
from ncf_helpers.metrics import (
    full_ranking_metrics,
    ranking_metrics_from_candidates,
    ranking_metrics_from_ranks,
    rmse,
    rmse_metric,
    sample_candidates,
    sampled_ranking_metric,
)
from ncf_helpers.models import GMF
from ncf_helpers.original_reference import OriginalBookDataset
from ncf_helpers.prepare import PreparedSplit, original_split
from ncf_helpers.recommend import recommend, similar_movies
from ncf_helpers.sampling import NegativeSampler, add_negatives, iterate_batches
from ncf_helpers.splits import (
    leakage_report,
    leave_last_out,
    random_split,
    stratified_split,
    train_val_test_split,
)
from ncf_helpers.training import TrainConfig, fit
from ncf_helpers.utils import get_device, seed_everything

RATINGS_CSV = "userId,movieId,rating,timestamp\n1,1,5,10\n1,2,3,11\n2,1,4,12\n2,3,1,13\n"
MOVIES_CSV = "movieId,title,genres\n1,Toy Story (1995),Comedy\n2,Heat (1995),Action\n" \
             "3,Café Society (2016),Drama\n"


def csv_folder(tmp_path, ratings=RATINGS_CSV, movies=MOVIES_CSV):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(ratings)
    (folder / "movies.csv").write_text(movies)
    return folder


def ml1m_folder(tmp_path, movies_encoding="latin-1", occupation=17):
    folder = tmp_path / "ml-1m"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text("1::1::5::10\n1::2::3::11\n2::1::4::12\n")
    (folder / "movies.dat").write_bytes(
        "1::Toy Story (1995)::Comedy\n2::Café Society (2016)::Drama\n".encode(movies_encoding))
    (folder / "users.dat").write_text(f"1::M::25::{occupation}::1\n2::F::35::0::2\n")
    return folder


def frame(users, items, timestamps=None):
    out = pd.DataFrame({"userId": users, "movieId": items, "rating": 3.0})
    if timestamps is not None:
        out["timestamp"] = timestamps
    return out


@pytest.fixture
def ratings():
    return frame([1, 1, 1, 2, 2, 2, 3, 3], [1, 2, 3, 1, 2, 4, 3, 4],
                 [1, 2, 3, 4, 5, 6, 7, 8])


@pytest.fixture
def encoder(ratings):
    return IdEncoder().fit(ratings)


# ------------------------------------------------------------------ ids and loading
def test_nan_id_in_encoder_names_column_and_value():
    with pytest.raises(ValueError, match=r"'userId'.*nan at position 1 \(missing\).*drop"):
        IdEncoder().fit(frame([1.0, np.nan], [1, 2]))


def test_twenty_digit_user_id_in_ratings_csv_is_refused(tmp_path):
    folder = csv_folder(tmp_path, ratings="userId,movieId,rating,timestamp\n"
                                          "12345678901234567890123,1,5,10\n2,1,4,12\n")
    with pytest.raises(ValueError, match=r"ratings\.csv: column 'userId'.*"
                                         r"12345678901234567890123.*too large"):
        read_csv_layout(folder)
    # Just above int64 (pandas reads it as uint64): refused too, not wrapped around.
    folder = csv_folder(tmp_path, ratings="userId,movieId,rating,timestamp\n"
                                          "12345678901234567890,1,5,10\n")
    with pytest.raises(ValueError, match="12345678901234567890.*too large"):
        read_csv_layout(folder)


def test_string_ids_name_the_column_and_first_bad_value(tmp_path):
    folder = csv_folder(tmp_path, ratings="userId,movieId,rating,timestamp\n1,1,5,1\nu1,2,3,2\n")
    with pytest.raises(ValueError, match=r"ratings\.csv: column 'userId'.*'u1'.*fix or drop"):
        read_csv_layout(folder)
    with pytest.raises(ValueError, match=r"'movieId'.*'m2' at position 1 \(not a number\)"):
        IdEncoder().fit(frame([1, 2], ["1", "m2"]))


def test_header_only_ratings_file(tmp_path):
    folder = csv_folder(tmp_path, ratings="userId,movieId,rating,timestamp\n")
    with pytest.raises(ValueError, match=r"ratings\.csv is empty; .*no rating rows.*download"):
        read_csv_layout(folder)


def test_empty_ratings_file_is_named(tmp_path):
    folder = csv_folder(tmp_path, ratings="")
    with pytest.raises(ValueError, match=r"ml-latest-small/ratings\.csv is empty: download"):
        load_movielens("ml-latest-small", data_dir=folder)


def test_ratings_csv_that_is_a_folder(tmp_path):
    folder = csv_folder(tmp_path)
    (folder / "ratings.csv").unlink()
    (folder / "ratings.csv").mkdir()
    with pytest.raises(IsADirectoryError, match=r"ratings\.csv is a folder, not a file"):
        load_movielens("ml-latest-small", data_dir=folder)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        load_movielens("ml-latest-small", data_dir=tmp_path)  # the parent folder


def test_duplicate_movie_ids_in_movies(tmp_path, ratings, encoder):
    folder = csv_folder(tmp_path, movies=MOVIES_CSV + "2,Heat again (1995),Action\n")
    with pytest.raises(ValueError, match=r"movies\.csv: movieId 2 appears more than once"):
        read_csv_layout(folder)
    movies = pd.DataFrame({"movieId": [1, 2, 2, 3, 4], "title": list("abcde")})
    split = PreparedSplit(ratings, ratings, ratings, encoder, movies)
    with pytest.raises(ValueError, match=r"movieId 2 more than once; keep one row"):
        recommend(Scores(encoder), split, 1)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_ml1m_movies_read_in_either_encoding(tmp_path, encoding):
    movies = read_ml1m(ml1m_folder(tmp_path, encoding)).movies
    assert movies.loc[2, "title"] == "Café Society (2016)"


def test_transform_before_fit_and_missing_column(ratings):
    with pytest.raises(checks.NotFittedError, match=r"not fitted yet; call IdEncoder\(\)\.fit"):
        IdEncoder().transform(ratings)
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['movieId'\]"):
        IdEncoder().fit(ratings).transform(ratings.drop(columns="movieId"))


# ------------------------------------------------------------------------- splits
def test_leave_last_out_with_only_single_rating_users():
    with pytest.raises(ValueError, match=r"test part of this 'last' split would be empty.*"
                                         r"at least 2 ratings"):
        leave_last_out(frame([1, 2, 3], [1, 1, 1], [1, 2, 3]))


def test_train_val_test_split_names_the_empty_validation_part():
    two_each = frame([1, 1, 2, 2], [1, 2, 1, 2], [1, 2, 3, 4])
    with pytest.raises(ValueError, match=r"validation part.*'last'.*3 for train_val_test_split"):
        train_val_test_split(two_each, method="last")


def test_stratified_split_with_only_single_rating_users():
    with pytest.raises(ValueError, match=r"test part of this 'stratified' split would be empty"
                                         r".*larger fraction"):
        stratified_split(frame([1, 2, 3], [1, 1, 1]), 0.5)


def test_nan_timestamp_in_leave_last_out():
    with pytest.raises(ValueError, match=r"timestamp.*missing at row 1 \(userId 1\).*"
                                         r"fill or drop"):
        leave_last_out(frame([1, 1, 2, 2], [1, 2, 1, 2], [5, np.nan, 1, 2]))


def test_frame_or_tuple_mix_ups(ratings):
    data = MovieLens(ratings, pd.DataFrame(), None)
    with pytest.raises(TypeError, match=r"data must be what load_movielens returns.*"
                                        r"got DataFrame; pass data=load_movielens"):
        original_split(data=ratings)
    with pytest.raises(TypeError, match=r"ratings must be a DataFrame, got MovieLens; "
                                        r"pass the ratings frame"):
        train_val_test_split(data)
    with pytest.raises(TypeError, match="got tuple"):
        random_split(tuple(data))


def test_numpy_scalars_are_numbers(ratings):
    train, test = random_split(ratings, test_fraction=np.float32(0.25), seed=np.int64(1))
    assert (len(train), len(test)) == (6, 2)
    assert (train, test)[0].equals(random_split(ratings, 0.25, seed=1)[0])


# ----------------------------------------------------------------------- sampling
def test_add_negatives_with_misaligned_lengths():
    sampler = NegativeSampler([0, 1], [0, 1], 5)
    with pytest.raises(ValueError, match="same length: users has 3, items has 2, targets has 3"):
        add_negatives([0, 1, 1], [0, 1], [1.0, 1.0, 1.0], sampler, 1.0)


def test_negative_sampler_refuses_bad_user_indices():
    with pytest.raises(IndexError, match="users must be non-negative; found -1 at position 1"):
        NegativeSampler([0, -1], [0, 1], 5)
    sampler = NegativeSampler([0, 1], [0, 1], 5, n_users=2)
    with pytest.raises(IndexError, match=r"users must be in \[0, 2\); found -1"):
        sampler.sample([0, -1])
    with pytest.raises(IndexError, match=r"users must be in \[0, 2\); found 7"):
        sampler.sample([7])
    with pytest.raises(IndexError, match=r"users must be in \[0, 2\); found 2"):
        NegativeSampler([0, 2], [0, 1], 5, n_users=2)


def test_too_large_negative_ratio_says_how_much_memory():
    sampler = NegativeSampler([0, 1], [0, 1], 5)
    with pytest.raises(ValueError, match=r"negative_samples_ratio=1e\+15 is too large: 2 "
                                         r"positives .* GiB of memory.*use a ratio of at most"):
        add_negatives([0, 1], [0, 1], [1.0, 1.0], sampler, 1e15)


# ------------------------------------------------------------------ devices, losses
@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_lists_the_devices():
    with pytest.raises(ValueError, match=r"device 'cuda' is not available.*\['cpu'.*None"):
        get_device("cuda")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
def test_mps_without_mps_lists_the_devices():
    with pytest.raises(ValueError, match=r"device 'mps' is not available.*available: \["):
        get_device("mps")


def test_bce_on_a_rating_head_is_refused_at_construction():
    with pytest.raises(ValueError, match=r"head='bounded'.*not logits.*head='logits'"):
        BCEL1L2Loss(GMF(3, 4, embedding_dim=2))


# --------------------------------------------------------------------- checkpoints
@pytest.fixture
def model():
    return GMF(3, 4, embedding_dim=2)


def test_checkpoint_into_a_missing_folder_names_the_target(tmp_path, model):
    target = tmp_path / "runs" / "model.pt"
    with pytest.raises(FileNotFoundError, match=rf"{target}: folder .*runs does not exist; "
                                                r"create it"):
        save_checkpoint(target, model)


def test_checkpoint_onto_a_folder(tmp_path, model):
    with pytest.raises(IsADirectoryError, match=rf"{tmp_path}: it is a folder; give a file"):
        save_checkpoint(tmp_path, model)
    assert os.listdir(tmp_path) == []


def test_checkpoint_write_failure_names_the_target_and_keeps_the_old_file(tmp_path, model):
    """A file-size limit makes the write fail as a full disk does (EFBIG vs ENOSPC)."""
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    script = textwrap.dedent(f"""
        import resource, signal
        from ncf_helpers.checkpoint import save_checkpoint
        from ncf_helpers.models import GMF
        model = GMF(300, 400, embedding_dim=64)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, resource.RLIM_INFINITY))
        try:
            save_checkpoint({str(target)!r}, model)
        except OSError as exc:
            print(type(exc).__name__, exc)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
    assert out.startswith(f"OSError could not write the checkpoint {target} ("), out
    assert "disk full" in out and "unchanged" in out and ".tmp" not in out
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.pt"]


def test_checkpoint_permissions_follow_the_umask_and_are_kept(tmp_path, model):
    old = os.umask(0o027)
    try:
        new = save_checkpoint(tmp_path / "new.pt", model)
        assert new.stat().st_mode & 0o777 == 0o640
        kept = tmp_path / "kept.pt"
        kept.write_bytes(b"")
        kept.chmod(0o604)
        save_checkpoint(kept, model)
        assert kept.stat().st_mode & 0o777 == 0o604
    finally:
        os.umask(old)


# ------------------------------------------------------------------------ download
def test_offline_download_into_a_new_folder_leaves_nothing_behind(tmp_path):
    target = tmp_path / "new" / "data"
    with pytest.raises(ConnectionError, match="offline"):
        download_movielens("ml-100k", target, url="http://127.0.0.1:9/ml-100k.zip", timeout=5)
    assert not (tmp_path / "new").exists()


def test_download_into_a_partial_copy_fails_before_downloading(tmp_path):
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.item").write_text("partial")
    # The URL is unreachable: a FileExistsError (not ConnectionError) shows nothing was fetched.
    with pytest.raises(FileExistsError, match=r"ml-100k exists but does not hold the ml-100k "
                                              r"files.*delete it, then download again"):
        download_movielens("ml-100k", tmp_path, url="http://127.0.0.1:9/x.zip", timeout=5)


def test_a_numpy_generator_for_tensor_users_is_named():
    sampler = NegativeSampler([0, 1], [0, 1], 5)
    with pytest.raises(TypeError, match="torch.Generator.*numpy Generator"):
        sampler.sample(torch.tensor([0]), np.random.default_rng(0))


# ------------------------------------------------------------------ training
class Scores(Recommender):
    """A fitted stand-in: every pair scores 0 (or what ``fn`` says)."""

    def __init__(self, encoder, fn=None):
        self.n_users, self.n_items = encoder.n_users, encoder.n_items
        self.fn = fn or (lambda users, items: np.zeros(len(users)))

    def _predict(self, users, items):
        return self.fn(users, items)

    def item_embeddings(self):
        return self.fn(None, None)


TRAIN = (np.array([0, 1, 2]), np.array([0, 1, 3]), np.array([4.0, 3.0, 5.0]))


@pytest.mark.parametrize("field, value, error, pattern", [
    ("epochs", 0, ValueError, "epochs must be an integer >= 1, got 0"),
    ("epochs", True, ValueError, "epochs must be an integer >= 1, got True"),
    ("epochs", 2.0, ValueError, "epochs must be an integer >= 1, got 2.0"),
    ("batch_size", np.float32(16), ValueError, "batch_size must be an integer >= 1"),
    ("seed", -1, ValueError, "seed must be an integer >= 0, got -1"),
    ("patience", 0, ValueError, "patience must be an integer >= 1, got 0"),
    ("max_steps", 0, ValueError, "max_steps must be an integer >= 1, got 0"),
    ("lr", 0.0, ValueError, r"lr must be > 0, got 0\.0"),
    ("lr", float("nan"), ValueError, "lr must be a finite number, got nan"),
    ("lr", "1e-3", ValueError, "lr must be a finite number, got '1e-3'"),
    ("eps", -1e-8, ValueError, "eps must be >= 0"),
    ("momentum", -0.5, ValueError, "momentum must be >= 0"),
    ("weight_decay", float("inf"), ValueError, "weight_decay must be a finite number"),
    ("l1", -1, ValueError, "l1 must be >= 0, got -1"),
    ("l2", None, ValueError, "l2 must be a finite number, got None"),
    ("negatives", -1, ValueError, "negatives must be >= 0, got -1"),
    ("negative_value", float("nan"), ValueError, "negative_value must be a finite number"),
    ("betas", (0.9,), ValueError, r"betas must be two numbers in \[0, 1\), got \(0\.9,\)"),
    ("betas", (0.9, 1.0), ValueError, r"betas must be two numbers in \[0, 1\)"),
    ("optimizer", "rmsprop", ValueError, r"optimizer must be one of \('adam', 'sgd'\)"),
    ("scheduler", "cosine", ValueError, "scheduler must be one of .*got 'cosine'"),
    ("scheduler_kwargs", [("gamma", 0.1)], TypeError, "scheduler_kwargs must be a dict"),
    ("loss", "hinge", ValueError, r"loss must be one of \('mse', 'bce', 'bpr', 'softmax', "
                                  r"'original_mse', 'full_softmax'\), got 'hinge'"),
    ("loss", "MSE", ValueError, "loss must be one of .*got 'MSE'"),
    ("on_device", "yes", TypeError, "on_device must be a bool.*True, False or None"),
    ("progress", 1, TypeError, "progress must be a bool"),
    ("amp", None, TypeError, "amp must be a bool.*True or False"),
])
def test_train_config_refuses_a_bad_field(field, value, error, pattern):
    with pytest.raises(error, match=pattern):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
@pytest.mark.parametrize("negatives", [0.5, 2.5, 0])
def test_ranking_losses_refuse_a_fractional_or_zero_negatives(loss, negatives):
    with pytest.raises(ValueError, match=rf"loss='{loss}' ranks each positive against its own "
                                         rf"negatives: set negatives to a whole number >= 1, "
                                         rf"got {negatives!r}"):
        TrainConfig(loss=loss, negatives=negatives)


def test_a_loss_class_instead_of_an_instance(model):
    with pytest.raises(TypeError, match=r"loss must be a loss object, got the class MSEL1L2Loss; "
                                        r"build it with its model, e\.g\. MSEL1L2Loss\(model\)"):
        fit(model, TRAIN, TrainConfig(epochs=1, progress=False), loss=MSEL1L2Loss)


def test_torch_mse_loss_as_the_loss(model):
    with pytest.raises(TypeError, match=r"one of the package's losses.*got MSELoss; for mean "
                                        r"squared error use TrainConfig\(loss='mse'\)"):
        fit(model, TRAIN, TrainConfig(epochs=1, progress=False), loss=torch.nn.MSELoss())


def test_a_loss_built_for_another_model(model):
    with pytest.raises(ValueError, match="loss was built for another model: its penalty would "
                                         "regularise the wrong weights"):
        fit(model, TRAIN, TrainConfig(epochs=1, progress=False), loss=MSEL1L2Loss(GMF(3, 4)))


@pytest.mark.parametrize("side, index, size", [("user", 7, 3), ("item", 9, 4)])
def test_a_model_too_small_for_the_data_is_blamed_not_the_data(model, side, index, size):
    train = [a.copy() for a in TRAIN]
    train[0 if side == "user" else 1][1] = index
    pattern = (rf"train has {side} index {index}, but the model was built for "
               rf"n_{side}s={size}: build it with n_{side}s={index + 1} or more")
    with pytest.raises(IndexError, match=pattern):
        fit(model, tuple(train), TrainConfig(epochs=1, progress=False))
    with pytest.raises(IndexError, match=rf"has {side} index {index}, but the model was built"):
        GlobalMean(3, 4).fit(tuple(train))


# ------------------------------------------------------------------ evaluation
def test_k_as_large_as_the_candidate_lists(ratings, encoder):
    score = lambda u, i: np.zeros(len(u))  # noqa: E731
    with pytest.raises(ValueError, match=r"k=2 is not smaller than the 2 candidates of each "
                                         r"list.*\(HR = 1\); use k < 2"):
        ranking_metrics_from_candidates(score, [0], [[0, 1]], k=2)
    with pytest.raises(ValueError, match=r"k=10 is not smaller than the 5 candidates"):
        sampled_ranking_metric([0], [[0, 1, 2, 3, 4]], k=10)
    with pytest.raises(ValueError, match=r"k=3 but user 0 has only 3 candidate items \(every "
                                         r"item not rated in train\).*use k < 3"):
        full_ranking_metrics(score, [0], [0], [0], [1], 4, k=3)
    # a protocol checks its k against its own lists: 1 held-out + 1 sampled item
    split = PreparedSplit(ratings, ratings, ratings, encoder, None)
    with pytest.raises(ValueError, match=r"k=2 is not smaller than the 2 candidates"):
        RankingProtocol(split, n_sampled=1, k=2)


@pytest.mark.parametrize("part", ["val", "test"])
def test_an_empty_part_is_named(ratings, encoder, part):
    parts = {"train": ratings, "val": ratings, "test": ratings, part: ratings.iloc[:0]}
    split = PreparedSplit(**parts, encoder=encoder, movies=None)
    with pytest.raises(ValueError, match=rf"the {part} part of the split is empty; a protocol "
                                         r"scores models on it; use a split that gives it rows"):
        RatingProtocol(split)


# ------------------------------------------------------------------ .npz files for the CLI
def npz(tmp_path, **arrays):
    found = {"users": np.array([0, 1, 1]), "items": np.array([0, 0, 2]),
             "ratings": np.array([4.0, 3.0, 5.0]), "n_users": 2, "n_items": 3, **arrays}
    path = tmp_path / "ratings.npz"
    np.savez(path, **{k: v for k, v in found.items() if v is not None})
    return str(path)


@pytest.mark.parametrize("arrays, error, pattern", [
    ({"users": np.array([0.0, 1.0, 1.9])}, TypeError,
     r"ratings\.npz: users must hold integer indices, got dtype float64"),
    ({"items": np.array([0, 0, 3])}, IndexError,
     r"ratings\.npz: items must be in \[0, 3\); found 3 at position 2"),
    ({"ratings": np.array([4.0, np.nan, 5.0])}, ValueError,
     r"ratings\.npz: ratings contains NaN or infinite values \(first at position 1\)"),
    ({"ratings": np.array([4.0, 3.0])}, ValueError,
     "same length: users has 3, items has 3, ratings has 2"),
    ({"n_items": None}, ValueError,
     r"ratings\.npz lacks the array\(s\) \['n_items'\]; it must hold \['users', "),
    ({"n_users": 0}, ValueError, r"ratings\.npz: n_users must be an integer >= 1, got 0"),
    ({"users": np.array([], int), "items": np.array([], int), "ratings": np.array([])},
     ValueError, r"ratings\.npz: users is empty; it holds no ratings"),
])
def test_npz_problems_name_the_file_and_the_array(tmp_path, arrays, error, pattern):
    with pytest.raises(error, match=pattern):
        load_arrays(npz(tmp_path, **arrays))


def test_a_corrupt_or_missing_npz(tmp_path):
    path = npz(tmp_path)
    with open(path, "r+b") as f:
        f.truncate(40)
    with pytest.raises(ValueError, match=r"ratings\.npz is not a readable \.npz file "
                                         r"\(BadZipFile: .*write it again with np\.savez"):
        load_arrays(path)
    with pytest.raises(FileNotFoundError, match=r"no ratings file '.*nowhere\.npz'"):
        load_arrays(str(tmp_path / "nowhere.npz"))


# ------------------------------------------------------------------ CLI flags
CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("argv, pattern", [
    (["--lr", "0"], r"lr must be > 0, got 0\.0 \(flags use dashes: --lr\)"),
    (["--lr", "nan"], "lr must be a finite number"),
    (["--epochs", "0"], r"epochs must be an integer >= 1, got 0 \(flags use dashes: --epochs\)"),
    (["--batch-size", "0"], r"batch_size must be .* \(flags use dashes: --batch-size\)"),
    (["--max-steps", "0"], "max_steps must be an integer >= 1"),
    (["--seed", "-1"], "seed must be an integer >= 0, got -1"),
    (["--beta1", "1"], r"betas must be two numbers in \[0, 1\)"),
    (["--negatives", "-1"], "negatives must be >= 0"),
    (["--l2", "-0.1"], "l2 must be >= 0"),
    (["--epochs", "2.5"], "argument --epochs: invalid int value: '2.5'"),
    (["--model", "BookModel"], "argument --model: invalid choice: 'BookModel'"),
    (["--loss", "hinge"], "argument --loss: invalid choice: 'hinge'"),
    (["--optimizer", "rmsprop"], "argument --optimizer: invalid choice"),
    (["--model-config", "{gmf_dim: 16}"], r"--model-config is not valid JSON .*pass e\.g\."),
    (["--model-config", "[16]"], "--model-config must be a JSON object"),
    (["--val-fraction", "1"], r"--val-fraction must be in \(0, 1\)"),
    (["--test-fraction", "-0.1"], r"--test-fraction in \[0, 1\)"),
    (["--timeout", "0"], "--timeout must be a positive number of seconds"),
    (["--timeout", "inf"], "--timeout must be a positive number of seconds"),
    (["--val-users", "0"], "--val-users must be a positive integer"),
    (["--chunk-users", "-2"], "--chunk-users must be a positive integer"),
    (["--task", "implicit"], r"--task implicit needs --negatives > 0"),
    (["--task", "implicit", "--negatives", "4", "--loss", "mse"],
     "--loss mse is for --task rating; use bce, bpr or softmax"),
    (["--loss", "bpr", "--negatives", "4"], "--loss bpr ranks implicit feedback; use --task "
                                            "implicit"),
    (["--task", "implicit", "--loss", "softmax", "--negatives", "0.5"],
     "loss='softmax' ranks each positive against its own negatives"),
    (["--on-device", "maybe"], "argument --on-device: invalid choice"),
    pytest.param(["--device", "cuda"], r"device 'cuda' is not available on this machine",
                 marks=pytest.mark.skipif(CUDA, reason="CUDA is available here")),
    (["--device", "gpu"], r"'gpu' is not a torch device"),
])
def test_cli_flags_are_refused_before_any_work(capsys, argv, pattern):
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and re.search(pattern, err), err


@pytest.mark.parametrize("data", ["ml-7m", "synthetic:ml-7m", "missing.npz"])
def test_an_unknown_data_flag_is_refused_with_the_flags(capsys, data):
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--data", data])
    assert exit_.value.code == 2 and "--data" in capsys.readouterr().err


# ------------------------------------------------------------------ the wider sweep
def _probes(tmp_path, ratings, encoder, model):
    """``(name, call, error type, message pattern)`` for plausible mistakes."""
    sampler = NegativeSampler([0, 1, 2], [0, 1, 2], 4)
    users = pd.DataFrame({"age": [20, 30, 40], "gender": list("MFM"),
                          "occupation": list("abc")}, index=pd.Index([1, 2, 3], name="userId"))
    movies = pd.DataFrame({"title": list("abcd"), "genres": "Drama", "year": 1990},
                          index=pd.Index([1, 2, 3, 4], name="movieId"))
    score = lambda u, i: np.zeros(len(u))  # noqa: E731
    fitted = Scores(encoder)
    split = PreparedSplit(ratings, ratings, ratings, encoder, movies)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a checkpoint")
    return [
        # data
        ("variant as a number", lambda: load_movielens(100), ValueError,
         r"MovieLens variant name must be one of \('ml-100k', .*got 100"),
        ("data_dir without the files", lambda: load_movielens("ml-1m", tmp_path / "nope"),
         FileNotFoundError, r"ml-1m not found in .*nope.*download it"),
        ("ratings.csv without 'rating'",
         lambda: read_csv_layout(csv_folder(tmp_path / "a", "userId,movieId\n1,1\n")),
         ValueError, r"ratings\.csv is missing required column\(s\) \['rating'\]"),
        ("rating as text", lambda: validate_ratings(frame([1], [1]).assign(rating="five")),
         ValueError, r"ratings: 1 rating\(s\) are missing or not numbers"),
        ("rating off the scale", lambda: validate_ratings(frame([1], [1]).assign(rating=7.0)),
         ValueError, r"outside the scale \[0\.5, 5\.0\], e\.g\. 7\.0"),
        ("timestamp as text", lambda: validate_ratings(frame([1], [1], ["yesterday"])),
         ValueError, r"column 'timestamp'.*'yesterday'"),
        ("movies.csv without genres",
         lambda: read_csv_layout(csv_folder(tmp_path / "b", movies="movieId,title\n1,x\n")),
         ValueError, r"movies\.csv is missing required column\(s\) \['genres'\]"),
        ("ml-1m occupation code out of range",
         lambda: read_ml1m(ml1m_folder(tmp_path / "c", occupation=25)), ValueError,
         r"users\.dat: occupation codes must be 0\.\.20, found 25"),
        ("validate_ratings of an array", lambda: validate_ratings(ratings.to_numpy()),
         TypeError, "ratings must be a pandas DataFrame, got ndarray"),
        ("subset of an array", lambda: subset(ratings.to_numpy(), users=[1]), TypeError,
         "ratings must be a pandas DataFrame"),
        ("download an unknown variant", lambda: download_movielens("ml-5k", tmp_path),
         ValueError, "MovieLens variant name must be one of .*got 'ml-5k'"),
        ("download where a file blocks the folder",
         lambda: (tmp_path / "ml-1m").write_text("") or download_movielens("ml-1m", tmp_path),
         FileExistsError, r"ml-1m exists but does not hold the ml-1m files.*move it away"),
        # encoding
        ("fit an array", lambda: IdEncoder().fit(ratings.to_numpy()), TypeError,
         "ratings must be a pandas DataFrame"),
        ("fit an empty frame", lambda: IdEncoder().fit(ratings.iloc[:0]), ValueError,
         "ratings is empty; an IdEncoder needs at least one rating"),
        ("text catalogue ids", lambda: IdEncoder().fit(ratings, movie_ids=["a"]), ValueError,
         r"movie_ids must hold integer ids.*'a'"),
        ("boolean ids", lambda: IdEncoder().fit(frame([True, False], [1, 2])), TypeError,
         r"'userId' must hold integer ids, got booleans"),
        ("fractional id lookup", lambda: encoder.user_index([1.5]), ValueError,
         r"user ids must hold integer ids.*1\.5.*not a whole number"),
        ("whole float id lookup", lambda: encoder.item_index([2.0]), TypeError,
         r"movie ids must be integers, got dtype float64; convert with \.astype"),
        ("2-D id lookup", lambda: encoder.item_index([[1, 2]]), ValueError,
         r"movie ids must be 1-D"),
        ("from_dict of junk", lambda: IdEncoder.from_dict({"users": []}), ValueError,
         r"'user_ids' and 'item_ids'.*to_dict"),
        ("n_users before fit", lambda: IdEncoder().n_users, checks.NotFittedError,
         "IdEncoder is not fitted yet"),
        # splits
        ("negative seed", lambda: random_split(ratings, seed=-1), ValueError,
         "seed must be an integer >= 0, got -1"),
        ("fractional seed", lambda: stratified_split(ratings, seed=1.5), ValueError,
         "seed must be an integer >= 0, got 1.5"),
        ("method in capitals", lambda: train_val_test_split(ratings, method="Random"),
         ValueError, r"method must be one of \('random', 'stratified', 'last'\), got 'Random'"),
        ("val_fraction of 1", lambda: train_val_test_split(ratings, val_fraction=1),
         ValueError, r"val_fraction must be in \(0, 1\), got 1"),
        ("one rating", lambda: random_split(ratings.iloc[:1]), ValueError,
         "need at least 2 ratings to split, got 1"),
        ("fraction rounding to no test row", lambda: random_split(ratings, 0.01), ValueError,
         r"test part of this 'random' split would be empty \(8 ratings"),
        ("fraction leaving no train row", lambda: random_split(ratings, 0.99), ValueError,
         r"train part of this 'random' split would be empty"),
        ("leakage_report of an array", lambda: leakage_report(ratings, ratings.to_numpy()),
         TypeError, "test must be a pandas DataFrame"),
        # sampling
        ("float n_items", lambda: NegativeSampler([0], [0], 10.0), ValueError,
         "n_items must be an integer >= 1, got 10.0"),
        ("float user indices", lambda: NegativeSampler([0.0, 1.0], [0, 1], 5), TypeError,
         "users must hold integer indices, got dtype float64; encode ids with IdEncoder"),
        ("popularity as text", lambda: NegativeSampler([0], [0], 5, popularity="0.75"),
         ValueError, "popularity must be a finite number, got '0.75'"),
        ("keys beyond 64 bits", lambda: NegativeSampler([0, 2**40], [0, 1], 2**30), ValueError,
         "do not fit in 64-bit keys; encode ids with IdEncoder"),
        ("2-D users to sample", lambda: sampler.sample([[0, 1]]), ValueError,
         r"users must be a 1-D array of indices, got shape \(1, 2\)"),
        ("ratio without a sampler", lambda: add_negatives([0], [0], [1.0], None, 1.0),
         TypeError, "sampler must be a NegativeSampler, got NoneType; build one with"),
        ("float items to add_negatives", lambda: add_negatives([0], [0.5], [1.0], sampler, 1),
         TypeError, "items must hold integer indices, got dtype float64"),
        ("float batch size", lambda: next(iterate_batches(*[torch.zeros(4)] * 3, 2.0)),
         ValueError, "batch_size must be an integer >= 1, got 2.0"),
        ("float tensor items to add_negatives",
         lambda: add_negatives(torch.tensor([0]), torch.tensor([0.5]), torch.tensor([1.0]),
                               sampler, 1), TypeError,
         "items must hold integer indices, got dtype float32"),
        # checkpoints
        ("checkpoint of a non-model", lambda: save_checkpoint(tmp_path / "m.pt", {}),
         TypeError, "model must be a RecModel, got dict"),
        ("encoder as text", lambda: save_checkpoint(tmp_path / "m.pt", model, "enc"), TypeError,
         "encoder must be a IdEncoder or NoneType, got str; pass the fitted IdEncoder"),
        ("extra as a list", lambda: save_checkpoint(tmp_path / "m.pt", model, None, [1]),
         TypeError, r"extra must be a dict or NoneType, got list; e\.g\."),
        ("load a text file", lambda: load_checkpoint(text_file), ValueError,
         r"notes\.txt' is not a readable checkpoint"),
        ("load a folder", lambda: load_checkpoint(tmp_path), IsADirectoryError,
         "is a folder; pass the checkpoint file in it"),
        # utils
        ("seed beyond NumPy's range", lambda: seed_everything(2**40), ValueError,
         r"seed must be below 2\*\*32 \(NumPy's limit\), got 1099511627776"),
        ("device name typo", lambda: get_device("gpu"), ValueError,
         r"'gpu' is not a torch device.*available here: \["),
        # features
        ("features of an array", lambda: item_features(movies.to_numpy(), encoder), TypeError,
         "movies must be a DataFrame, got ndarray; pass the movies frame of load_movielens"),
        ("features with a missing user", lambda: user_features(users.iloc[:2], encoder),
         KeyError, r"user id 3 is in the encoder but not in the users frame"),
        ("age as text", lambda: age_bucket(["twenty"]), TypeError,
         "ages must hold numbers"),
        ("bucket edges as text", lambda: count_buckets([1, 2], ["ten"]), ValueError,
         "each of edges must be an integer >= 1, got 'ten'"),
        # recommend
        ("a name instead of a model", lambda: recommend("model", split, 1), TypeError,
         "model must be a Recommender, got str; pass a fitted model or baseline"),
        ("a scorer instead of a model", lambda: recommend(score, split, 1), TypeError,
         "model must be a Recommender, got function"),
        ("n = 0", lambda: recommend(fitted, split, 1, n=0), ValueError,
         "n must be an integer >= 1, got 0"),
        ("userId as text", lambda: recommend(fitted, split, "1"), TypeError,
         r"user ids must be integers, got dtype <U1; convert"),
        ("unknown user", lambda: recommend(fitted, split, 99), KeyError, "unknown user id 99"),
        ("predictions of the wrong shape",
         lambda: recommend(Scores(encoder, lambda u, i: 0.0), split, 1), ValueError,
         r"Scores\.predict returned shape \(\) for 4 \(user, item\) pairs"),
        ("NaN predictions",
         lambda: recommend(Scores(encoder, lambda u, i: np.full(len(u), np.nan)), split, 1),
         ValueError, r"the scores of Scores\.predict contains NaN"),
        ("movies without titles",
         lambda: recommend(fitted, PreparedSplit(ratings, ratings, ratings, encoder,
                                                 movies.drop(columns="title")), 1),
         ValueError, r"movies is missing required column\(s\) \['title'\]"),
        ("embeddings instead of a model", lambda: similar_movies(np.zeros((4, 2)), split, 1),
         TypeError, "model.item_embeddings must be callable, got NoneType; pass a trained"),
        ("embeddings of the wrong shape",
         lambda: similar_movies(Scores(encoder, lambda u, i: np.zeros((3, 2))), split, 1),
         ValueError, r"the model has 3 item embeddings but the split's encoder knows 4 movies: "
                     r"use the split the model was trained on"),
        ("diverged embeddings",
         lambda: similar_movies(Scores(encoder, lambda u, i: np.full((4, 2), np.nan)), split, 1),
         ValueError, "item embeddings contain NaN or infinite values: the model diverged"),
        ("exclude of the wrong form", lambda: fitted.recommend([0], exclude=[0, 1, 2]),
         ValueError, r"exclude must be a \(users, items\) pair of index arrays, got list"),
        # baselines
        ("negative regularisation", lambda: BiasBaseline(1, 1, reg_user=-1), ValueError,
         "reg_user must be >= 0, got -1"),
        ("rating range as a number", lambda: GlobalMean(1, 1, rating_range=5), ValueError,
         r"rating_range must be \(low, high\) with low < high, got 5"),
        ("boolean n_users", lambda: GlobalMean(True, 1), ValueError,
         "n_users must be an integer >= 1, got True"),
        ("predict before fit", lambda: BiasBaseline(1, 1).predict([0], [0]),
         checks.NotFittedError, r"BiasBaseline is not fitted yet; call fit\(train\) first"),
        ("index beyond the catalogue",
         lambda: Popularity(1, 2).fit(([0], [0])).predict([0], [2]), IndexError,
         r"items must be in \[0, 2\); found 2"),
        ("zero iterations", lambda: BiasBaseline(1, 1, n_iters=0), ValueError,
         "n_iters must be an integer >= 1, got 0"),
        ("the old fit call", lambda: GlobalMean(1, 1).fit([0], [0], [3.0]), TypeError,
         "takes 2 positional arguments but 4 were given"),
        ("ratings left out", lambda: BiasBaseline(1, 1).fit(([0], [0])), ValueError,
         r"must be a \(users, items, targets\) tuple of arrays, got tuple of length 2"),
        ("a frame instead of arrays", lambda: GlobalMean(1, 1).fit(ratings), ValueError,
         r"must be a \(users, items, targets\) tuple of arrays, got DataFrame"),
        # losses
        ("negative L1 weight", lambda: MSEL1L2Loss(model, l1_weight=-1), ValueError,
         "l1_weight must be >= 0, got -1"),
        # metrics
        ("ratings as text", lambda: rmse(["a"], [1.0]), TypeError, "y_true must hold numbers"),
        ("float k", lambda: ranking_metrics_from_ranks([0], [0], k=5.0), ValueError,
         "k must be an integer >= 1, got 5.0"),
        ("more negatives than unrated items",
         lambda: sample_candidates([0], [0], [0], [1], 4, n_sampled=3), ValueError,
         r"user 0 has only 2 unrated items, fewer than n_sampled=3"),
        ("chunk_size 0", lambda: full_ranking_metrics(score, [0], [0], [0], [1], 4, chunk_size=0),
         ValueError, "chunk_size must be an integer >= 1, got 0"),
        ("a model instead of its predict",
         lambda: ranking_metrics_from_candidates(fitted, [0], [[0, 1]], k=1), TypeError,
         r"score_fn must be callable, got Scores; pass score_fn\(users, items\) -> scores, "
         r"e\.g\. model\.predict"),
        ("no scorer", lambda: ranking_metrics_from_candidates(None, [0], [[0, 1]]), TypeError,
         "score_fn must be callable, got NoneType; pass score_fn"),
        ("1-D candidates", lambda: ranking_metrics_from_candidates(score, [0], [0, 1]),
         ValueError, r"candidates must have shape \(n_test, 1 \+ n_sampled\)"),
        ("an empty test part",
         lambda: full_ranking_metrics(score, [], [], [0], [1], 4), ValueError,
         "test users is empty; there is nothing to evaluate"),
        # training
        ("train as a frame", lambda: fit(model, ratings, TrainConfig(epochs=1)), ValueError,
         r"train must be a \(users, items, targets\) tuple of arrays, got DataFrame"),
        ("settings as keywords", lambda: fit(model, TRAIN, epochs=1), TypeError,
         "unexpected keyword argument 'epochs'"),
        ("a metric without a mode", lambda: fit(model, TRAIN, TrainConfig(epochs=1), len),
         TypeError, r"val_metric needs a name and a mode \('min' if lower is better\)"),
        ("plateau without a metric",
         lambda: fit(model, TRAIN, TrainConfig(epochs=1, scheduler="plateau")), ValueError,
         r"scheduler='plateau' steps with the validation score: pass a val_metric"),
        ("a baseline to fit", lambda: fit(GlobalMean(3, 4), TRAIN), TypeError,
         "model must be a Module, got GlobalMean"),
        ("a split to a protocol", lambda: RatingProtocol(ratings), TypeError,
         "split must be a PreparedSplit .*got DataFrame"),
        ("NaN validation ratings", lambda: rmse_metric([0], [0], [np.nan]), ValueError,
         r"validation ratings contains NaN or infinite values \(first at position 0\)"),
        # prepare, seed reference
        ("data as a pair", lambda: original_split(data=(ratings, movies)), TypeError,
         "data must be what load_movielens returns"),
        ("part 'validation'", lambda: split.arrays("validation"), ValueError,
         r"part must be one of \('train', 'val', 'test'\), got 'validation'"),
        ("negative max_id", lambda: original_split(data=(ratings, movies, None), max_id=-5),
         ValueError, "max_id must be an integer >= 0, got -5"),
        ("seed ratio as text", lambda: OriginalBookDataset(ratings, [1, 2], "0.5"), ValueError,
         "negative_samples_ratio must be a finite number, got '0.5'"),
    ]


def test_hostile_probe(tmp_path, ratings, encoder, model):
    probes = _probes(tmp_path, ratings, encoder, model)
    assert len(probes) >= 40
    silent, unclear = [], []
    for name, call, error, pattern in probes:
        try:
            call()
        except error as exc:
            if not re.search(pattern, str(exc), re.S):
                unclear.append(f"{name}: {type(exc).__name__}: {exc}")
        except Exception as exc:  # the wrong type of error is an unclear error too
            unclear.append(f"{name}: {type(exc).__name__} (expected {error.__name__}): {exc}")
        else:
            silent.append(name)
    assert not silent and not unclear, "\n".join(["silent:", *silent, "unclear:", *unclear])
