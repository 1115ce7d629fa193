"""Readers, canonicalisation, lookup order, subset and the download path."""
import hashlib
import http.server
import io
import threading
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ncf_helpers import data
from ncf_helpers.data import (
    download_movielens,
    embedded_ml100k_dir,
    load_movielens,
    read_csv_layout,
    read_ml1m,
    read_ml100k,
    read_recbole,
    subset,
    validate_ratings,
)

# Three movies and five ratings, written below in every layout.
MOVIES = [(1, "Toy Story", 1995, ["Animation", "Children's", "Comedy"]),
          (2, "GoldenEye", 1995, ["Action", "Adventure", "Thriller"]),
          (3, "Heat", 1995, ["Action", "Crime", "Thriller"])]
RATINGS = [(1, 1, 5, 881250949), (1, 2, 3, 881250950), (2, 1, 4, 891717742),
           (2, 3, 1, 878887116), (3, 2, 2, 880606923)]
USERS = [(1, 24, "M", "technician", "85711"), (2, 53, "F", "other", "94043"),
         (3, 23, "M", "writer", "32067")]


def write_ml100k(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS))
    lines = []
    for movie_id, title, year, genres in MOVIES:
        flags = ["1" if g in genres else "0" for g in data.ML100K_GENRES]
        lines.append("|".join([str(movie_id), f"{title} ({year})", f"01-Jan-{year}", "",
                               "http://x"] + flags))
    (folder / "u.item").write_text("\n".join(lines) + "\n", encoding="latin-1")
    (folder / "u.user").write_text("".join("|".join(map(str, u)) + "\n" for u in USERS))


def write_recbole(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS))
    (folder / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        + "".join(f"{m}\t{t}\t{y}\t{' '.join(g)}\n" for m, t, y, g in MOVIES))
    (folder / "ml-100k.user").write_text(
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        + "".join("\t".join(map(str, u)) + "\n" for u in USERS))


def write_ml1m(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in RATINGS))
    (folder / "movies.dat").write_text(
        "".join(f"{m}::{t} ({y})::{'|'.join(g)}\n" for m, t, y, g in MOVIES), encoding="latin-1")
    codes = {"technician": 17, "other": 0, "writer": 20}
    (folder / "users.dat").write_text(
        "".join(f"{u}::{g}::{a}::{codes[o]}::{z}\n" for u, a, g, o, z in USERS))


def write_csv(folder):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(RATINGS, columns=data.RATING_COLUMNS).to_csv(folder / "ratings.csv", index=False)
    pd.DataFrame([(m, f"{t} ({y})", "|".join(g)) for m, t, y, g in MOVIES],
                 columns=["movieId", "title", "genres"]).to_csv(folder / "movies.csv", index=False)


# ------------------------------------------------------------------ canonical schema
def test_grouplens_and_recbole_give_identical_frames(tmp_path):
    write_ml100k(tmp_path / "gl")
    write_recbole(tmp_path / "rb")
    grouplens = read_ml100k(tmp_path / "gl")
    recbole = read_recbole(tmp_path / "rb")
    pd.testing.assert_frame_equal(grouplens.ratings, recbole.ratings)
    pd.testing.assert_frame_equal(grouplens.movies, recbole.movies)
    pd.testing.assert_frame_equal(grouplens.users, recbole.users)
    assert recbole.movies.loc[1, "title"] == "Toy Story (1995)"
    assert recbole.movies.loc[1, "genres"] == "Animation|Children's|Comedy"


@pytest.mark.parametrize("writer, reader", [(write_ml1m, read_ml1m), (write_csv, read_csv_layout)])
def test_every_layout_gives_the_same_ratings_and_movies(tmp_path, writer, reader):
    write_ml100k(tmp_path / "gl")
    writer(tmp_path / "other")
    expected, got = read_ml100k(tmp_path / "gl"), reader(tmp_path / "other")
    pd.testing.assert_frame_equal(got.ratings, expected.ratings)
    pd.testing.assert_frame_equal(got.movies, expected.movies)


def test_schema_dtypes(tmp_path):
    write_ml1m(tmp_path)
    ratings, movies, users = read_ml1m(tmp_path)
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert list(ratings.dtypes.astype(str)) == ["int64", "int64", "float64", "int64"]
    assert list(movies.columns) == ["title", "genres", "year"]
    assert movies.index.name == "movieId" and str(movies["year"].dtype) == "Int64"
    assert list(users.columns) == ["age", "gender", "occupation"]
    assert users.loc[1, "occupation"] == "technician/engineer"  # ml-1m code 17 named


def test_csv_layout_has_no_users(tmp_path):
    write_csv(tmp_path)
    assert read_csv_layout(tmp_path).users is None


def test_year_missing_from_title_is_na(tmp_path):
    write_csv(tmp_path)
    movies = pd.read_csv(tmp_path / "movies.csv")
    movies.loc[0, "title"] = "Untitled"
    movies.to_csv(tmp_path / "movies.csv", index=False)
    assert pd.isna(read_csv_layout(tmp_path).movies.loc[1, "year"])


# ---------------------------------------------------------------------- embedded copy
def test_embedded_copy_matches_the_published_facts():
    ratings, movies, users = load_movielens("ml-100k")
    assert ratings.shape == (100_000, 4)
    assert ratings["userId"].nunique() == 943 and ratings["movieId"].nunique() == 1682
    counts = ratings["rating"].value_counts().sort_index()
    assert counts.to_dict() == {1.0: 6110, 2.0: 11370, 3.0: 27145, 4.0: 34174, 5.0: 21201}
    small = subset(ratings, users=range(1000), items=range(1000))
    assert (len(small), small["userId"].nunique(), small["movieId"].nunique()) == (92297, 943, 999)
    assert movies.shape == (1682, 3) and users.shape == (943, 3)
    assert movies.loc[50, "title"] == "Star Wars (1977)"


def test_embedded_copy_is_found_without_importing_recbole():
    import sys
    folder = embedded_ml100k_dir()
    assert folder is not None and (folder / "ml-100k.inter").is_file()
    assert "recbole" not in sys.modules


# ------------------------------------------------------------------------- lookup order
def test_explicit_data_dir_wins(tmp_path, monkeypatch):
    write_ml100k(tmp_path / "mine")
    monkeypatch.setattr(data, "REPO_DATA_DIR", tmp_path / "repo")
    assert len(load_movielens("ml-100k", tmp_path / "mine").ratings) == len(RATINGS)


def test_parent_of_unzipped_folder_is_accepted(tmp_path):
    write_ml100k(tmp_path / "ml-100k")
    assert len(load_movielens("ml-100k", tmp_path).ratings) == len(RATINGS)


def test_repo_data_folder_before_embedded_copy(tmp_path, monkeypatch):
    write_ml100k(tmp_path / "ml-100k")
    monkeypatch.setattr(data, "REPO_DATA_DIR", tmp_path)
    assert len(load_movielens("ml-100k").ratings) == len(RATINGS)


def test_embedded_copy_when_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "REPO_DATA_DIR", tmp_path)
    assert len(load_movielens("ml-100k").ratings) == 100_000


def test_missing_data_names_the_three_ways(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "REPO_DATA_DIR", tmp_path)
    monkeypatch.setattr(data, "embedded_ml100k_dir", lambda: None)
    with pytest.raises(FileNotFoundError) as err:
        load_movielens("ml-100k")
    message = str(err.value)
    assert "download_movielens" in message and "data/ml-100k/" in message
    assert "recbole==1.2.1" in message
    with pytest.raises(FileNotFoundError, match="ml-1m"):
        load_movielens("ml-1m")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_movielens("ml-100k", tmp_path / "nowhere")


def test_unknown_variant():
    with pytest.raises(ValueError, match="ml-5k"):
        load_movielens("ml-5k")


# ------------------------------------------------------------------------- validation
def frame(**changes):
    base = pd.DataFrame(RATINGS, columns=data.RATING_COLUMNS)
    for column, values in changes.items():
        base[column] = values
    return base


@pytest.mark.parametrize("file, column", [("ratings.csv", "rating"), ("movies.csv", "genres")])
def test_missing_column_names_column_and_file(tmp_path, file, column):
    write_csv(tmp_path)
    pd.read_csv(tmp_path / file).drop(columns=column).to_csv(tmp_path / file, index=False)
    with pytest.raises(ValueError, match=rf"{file.replace('.', '[.]')}.*'{column}'"):
        read_csv_layout(tmp_path)


@pytest.mark.parametrize("ratings, pattern", [
    ([5, np.nan, 4, 1, 2], "missing or not numbers"),
    ([5, 3, 4, 1, 7], r"outside the scale.*7"),
    ([5, 3, 0, 1, 2], "outside the scale"),
])
def test_bad_ratings(ratings, pattern):
    with pytest.raises(ValueError, match=pattern):
        validate_ratings(frame(rating=ratings))


def test_non_integer_ids():
    with pytest.raises(ValueError, match=r"'userId'.*'abc'"):
        validate_ratings(frame(userId=[1, 1, "abc", 2, 3]))
    with pytest.raises(ValueError, match="'movieId'.*1.5"):
        validate_ratings(frame(movieId=[1, 2, 1.5, 3, 2]))


def test_duplicate_pairs_are_an_error_naming_the_pair():
    with pytest.raises(ValueError, match="user 1, movie 1"):
        validate_ratings(frame(movieId=[1, 1, 1, 3, 2]))


def test_timestamp_optional():
    out = validate_ratings(frame().drop(columns="timestamp"))
    assert (out["timestamp"] == 0).all()


def test_wrong_column_count_in_u_data(tmp_path):
    write_ml100k(tmp_path)
    (tmp_path / "u.data").write_text("1\t2\t3\n")
    with pytest.raises(ValueError, match=r"u\.data: expected 4 columns .*found 3"):
        read_ml100k(tmp_path)
    write_ml100k(tmp_path)
    (tmp_path / "u.user").write_text("1|24|M|technician\n")
    with pytest.raises(ValueError, match=r"u\.user: expected 5 columns .*found 4"):
        read_ml100k(tmp_path)


def test_malformed_dat_line_is_named(tmp_path):
    write_ml1m(tmp_path)
    with open(tmp_path / "ratings.dat", "a") as f:
        f.write("1::2::3\n")
    with pytest.raises(ValueError, match="line 6"):
        read_ml1m(tmp_path)


# ----------------------------------------------------------------------------- subset
def test_subset_keeps_only_given_ids():
    out = subset(frame(), users=[1, 2], items=[1])
    assert out[["userId", "movieId"]].values.tolist() == [[1, 1], [2, 1]]


def test_empty_subset_is_an_error():
    with pytest.raises(ValueError, match="subset is empty"):
        subset(frame(), users=[99])


# --------------------------------------------------------------------------- download
def make_zip(tmp_path, name="ml-100k", corrupt=False):
    folder = tmp_path / "src" / name
    write_ml100k(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in folder.iterdir():
            archive.write(file, f"{name}/{file.name}")
    payload = buffer.getvalue()
    if corrupt:
        payload = payload[:40] + b"\0" * 200 + payload[240:]
    path = tmp_path / f"{name}.zip"
    path.write_bytes(payload)
    return path, hashlib.md5(payload).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


def test_download_from_file_url(tmp_path):
    archive, md5 = make_zip(tmp_path)
    target = download_movielens("ml-100k", tmp_path / "data", url=archive.as_uri(), md5=md5)
    assert target == tmp_path / "data" / "ml-100k"
    assert leftovers(tmp_path / "data") == ["ml-100k"]
    assert len(load_movielens("ml-100k", target).ratings) == len(RATINGS)


def test_download_over_http_with_published_md5(tmp_path):
    archive, md5 = make_zip(tmp_path)
    (tmp_path / "ml-100k.zip.md5").write_text(f"MD5 (ml-100k.zip) = {md5}\n")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/ml-100k.zip"
        # ml-latest-small has no pinned MD5: the published .md5 beside the zip is used.
        archive.rename(tmp_path / "ml-latest-small.zip")
        csv_dir = tmp_path / "src" / "ml-latest-small"
        write_csv(csv_dir)
        with zipfile.ZipFile(tmp_path / "ml-latest-small.zip", "w") as z:
            for file in csv_dir.iterdir():
                z.write(file, f"ml-latest-small/{file.name}")
        md5 = hashlib.md5((tmp_path / "ml-latest-small.zip").read_bytes()).hexdigest()
        (tmp_path / "ml-latest-small.zip.md5").write_text(f"{md5}  ml-latest-small.zip\n")
        url = f"http://127.0.0.1:{server.server_port}/ml-latest-small.zip"
        target = download_movielens("ml-latest-small", tmp_path / "data", url=url)
        assert len(load_movielens("ml-latest-small", target).ratings) == len(RATINGS)
    finally:
        server.shutdown()
    assert leftovers(tmp_path / "data") == ["ml-latest-small"]


def test_checksum_mismatch_leaves_nothing(tmp_path):
    archive, _ = make_zip(tmp_path)
    with pytest.raises(ValueError, match="checksum mismatch"):
        download_movielens("ml-100k", tmp_path / "data", url=archive.as_uri(), md5="0" * 32)
    assert leftovers(tmp_path / "data") == []


def test_corrupt_zip_is_reported_and_removed(tmp_path):
    archive, md5 = make_zip(tmp_path, corrupt=True)
    with pytest.raises(ValueError, match="not a valid zip"):
        download_movielens("ml-100k", tmp_path / "data", url=archive.as_uri(), md5=md5)
    assert leftovers(tmp_path / "data") == []


def test_interrupted_transfer_leaves_nothing(tmp_path, monkeypatch):
    archive, md5 = make_zip(tmp_path)

    def broken(url, dest, timeout, desc):
        dest.write(b"partial")
        raise OSError("download of x was interrupted: got 7 of 999 bytes")

    monkeypatch.setattr(data, "_fetch", broken)
    with pytest.raises(OSError, match="interrupted"):
        download_movielens("ml-100k", tmp_path / "data", url=archive.as_uri(), md5=md5)
    assert leftovers(tmp_path / "data") == []


def test_offline_gives_a_clear_message(tmp_path):
    # Port 9 on localhost: nothing listens, the connection is refused at once.
    with pytest.raises(ConnectionError, match="offline"):
        download_movielens("ml-100k", tmp_path / "data", url="http://127.0.0.1:9/ml-100k.zip",
                           timeout=5)
    assert leftovers(tmp_path / "data") == []


def test_existing_download_is_reused(tmp_path):
    write_ml100k(tmp_path / "data" / "ml-100k")
    assert download_movielens("ml-100k", tmp_path / "data", url="http://127.0.0.1:9/x") \
        == tmp_path / "data" / "ml-100k"
