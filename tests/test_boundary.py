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
from ncf_helpers.baselines import BiasBaseline, GlobalMean, Popularity
from ncf_helpers.checkpoint import load_checkpoint, save_checkpoint
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
from ncf_helpers.features import age_bucket, count_buckets, item_features, user_features
from ncf_helpers.losses import BCEL1L2Loss, MSEL1L2Loss
from ncf_helpers.metrics import (
    full_ranking_metrics,
    model_scorer,
    ranking_metrics_from_candidates,
    ranking_metrics_from_ranks,
    rmse,
    rmse_metric,
    sample_candidates,
)
from ncf_helpers.models import GMF
from ncf_helpers.original_reference import OriginalBookDataset
from ncf_helpers.prepare import PreparedSplit, original_split
from ncf_helpers.recommend import recommend, similar_movies
from ncf_helpers.sampling import (
    InteractionDataset,
    NegativeSampler,
    add_negatives,
    iterate_batches,
)
from ncf_helpers.splits import (
    leakage_report,
    leave_last_out,
    random_split,
    stratified_split,
    train_val_test_split,
)
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


def test_duplicate_movie_ids_in_movies(tmp_path, encoder):
    folder = csv_folder(tmp_path, movies=MOVIES_CSV + "2,Heat again (1995),Action\n")
    with pytest.raises(ValueError, match=r"movies\.csv: movieId 2 appears more than once"):
        read_csv_layout(folder)
    movies = pd.DataFrame({"movieId": [1, 2, 2, 3, 4], "title": list("abcde")})
    score = lambda u, i: np.asarray(i, dtype=float)  # noqa: E731
    with pytest.raises(ValueError, match=r"movieId 2 more than once; keep one row"):
        recommend(score, encoder, 1, [], [], movies=movies)


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


# ------------------------------------------------------------------ the wider sweep
def _probes(tmp_path, ratings, encoder, model):
    """``(name, call, error type, message pattern)`` for plausible mistakes."""
    sampler = NegativeSampler([0, 1, 2], [0, 1, 2], 4)
    users = pd.DataFrame({"age": [20, 30, 40], "gender": list("MFM"),
                          "occupation": list("abc")}, index=pd.Index([1, 2, 3], name="userId"))
    movies = pd.DataFrame({"title": list("abcd"), "genres": "Drama", "year": 1990},
                          index=pd.Index([1, 2, 3, 4], name="movieId"))
    score = lambda u, i: np.zeros(len(u))  # noqa: E731
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
        ("negative dataset ratio",
         lambda: InteractionDataset([0], [0], [1.0], sampler, ratio=-1), ValueError,
         "negative_samples_ratio must be >= 0, got -1"),
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
        ("name instead of a scorer", lambda: recommend("model", encoder, 1, [], []), TypeError,
         "score_fn must be callable, got str; pass e.g. metrics.model_scorer"),
        ("n = 0", lambda: recommend(score, encoder, 1, [], [], n=0), ValueError,
         "n must be an integer >= 1, got 0"),
        ("userId as text", lambda: recommend(score, encoder, "1", [], []), TypeError,
         r"user ids must be integers, got dtype <U1; convert"),
        ("unknown user", lambda: recommend(score, encoder, 99, [], []), KeyError,
         "unknown user id 99"),
        ("scorer with the wrong shape", lambda: recommend(lambda u, i: 0.0, encoder, 1, [], []),
         ValueError, r"score_fn returned shape \(\) for 4 \(user, item\) pairs"),
        ("movies without titles", lambda: recommend(score, encoder, 1, [], [],
                                                      movies=movies.drop(columns="title")),
         ValueError, r"movies is missing required column\(s\) \['title'\]"),
        ("embeddings of the wrong shape", lambda: similar_movies(np.zeros((3, 2)), encoder, 1),
         ValueError, r"shape \(n_items=4, d\), got \(3, 2\); pass model\.item_embedding"),
        ("diverged embeddings", lambda: similar_movies(np.full((4, 2), np.nan), encoder, 1),
         ValueError, "item_embeddings contain NaN or infinite values"),
        # baselines
        ("negative regularisation", lambda: BiasBaseline(reg_user=-1).fit([0], [0], [3.0], 1, 1),
         ValueError, "reg_user must be >= 0, got -1"),
        ("rating range as a number", lambda: GlobalMean(rating_range=5).fit([0], [0], [3.0], 1, 1),
         ValueError, r"rating_range must be \(low, high\) with low < high, got 5"),
        ("boolean n_users", lambda: GlobalMean().fit([0], [0], [3.0], True, 1), ValueError,
         "n_users must be an integer >= 1, got True"),
        ("predict before fit", lambda: BiasBaseline().predict([0], [0]), checks.NotFittedError,
         r"BiasBaseline is not fitted yet; call fit\(\) first"),
        ("index beyond the training set",
         lambda: Popularity().fit([0], [0], None, 1, 2).predict([0], [2]), IndexError,
         r"item index must be in \[0, 2\); found 2"),
        ("zero iterations", lambda: BiasBaseline(n_iters=0).fit([0], [0], [3.0], 1, 1),
         ValueError, "n_iters must be an integer >= 1, got 0"),
        # losses
        ("negative L1 weight", lambda: MSEL1L2Loss(model, l1_weight=-1), ValueError,
         "l1_weight must be >= 0, got -1"),
        # metrics
        ("ratings as text", lambda: rmse(["a"], [1.0]), TypeError, "y_true must hold numbers"),
        ("float k", lambda: ranking_metrics_from_ranks([0], [0], k=5.0), ValueError,
         "k must be an integer >= 1, got 5.0"),
        ("more negatives than unrated items",
         lambda: sample_candidates([0], [0], [0], [1], 4, n_negatives=3), ValueError,
         r"user 0 has only 2 unrated items, fewer than n_negatives=3"),
        ("chunk_size 0", lambda: full_ranking_metrics(score, [0], [0], [0], [1], 4, chunk_size=0),
         ValueError, "chunk_size must be an integer >= 1, got 0"),
        ("scorer batch 0", lambda: model_scorer(model, batch_size=0), ValueError,
         "batch_size must be an integer >= 1, got 0"),
        ("no scorer", lambda: ranking_metrics_from_candidates(None, [0], [[0, 1]]), TypeError,
         "score_fn must be callable, got NoneType; pass score_fn"),
        ("1-D candidates", lambda: ranking_metrics_from_candidates(score, [0], [0, 1]),
         ValueError, r"candidates must have shape \(n_test, 1 \+ n_negatives\)"),
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
