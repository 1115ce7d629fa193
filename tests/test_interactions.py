"""load_interactions: a CSV or Parquet file of your own, in the series' schema (issue 21)."""
import gzip
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from ncf_helpers.data import REPO_DATA_DIR, MovieLens, load_interactions
from ncf_helpers.encoding import IdEncoder
from ncf_helpers.prepare import PreparedSplit
from ncf_helpers.splits import leakage_report, train_val_test_split
from tools import make_retail_sample

# fastparquet's import (in to_parquet here) asks pandas an option pandas 3 deprecates
pytestmark = pytest.mark.filterwarnings("ignore:The 'future.infer_string' option")
SAMPLE = REPO_DATA_DIR / "samples" / "retail_sample.csv"
COLUMNS = dict(user="customer_id", item="product_id", rating="quantity", timestamp="ts",
               item_names="product_name", item_categories="category")


@pytest.fixture(scope="module")
def raw():
    return pd.read_csv(SAMPLE, dtype=str)


@pytest.fixture(scope="module")
def sample():
    return load_interactions(SAMPLE, **COLUMNS)


def write(tmp_path, text, name="x.csv"):
    path = tmp_path / name
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


# ---------------------------------------------------------------------- the sample
def test_committed_sample_is_the_scripts_output(tmp_path):
    """data/samples/retail_sample.csv is what tools/make_retail_sample.py writes."""
    fresh = make_retail_sample.write(tmp_path / "sample.csv")
    assert fresh.read_bytes() == SAMPLE.read_bytes(), \
        "regenerate it: python -m tools.make_retail_sample"


def test_sample_comes_out_in_the_series_schema(sample, raw):
    assert isinstance(sample, MovieLens) and sample.users is None
    ratings, movies = sample.ratings, sample.movies
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert list(ratings.dtypes.astype(str)) == ["int64", "int64", "float64", "int64"]
    assert len(ratings) == len(raw) == 462
    assert (ratings["userId"].nunique(), ratings["movieId"].nunique()) == (60, 26)
    assert movies.index.name == "movieId" and list(movies.columns) == ["title", "genres", "year"]
    assert sorted(movies.index) == list(range(26)) and movies["year"].isna().all()


def test_labels_map_back_to_the_files_ids_row_by_row(sample, raw):
    users, items = sample.user_labels, sample.item_labels
    assert users.index.name == "userId" and items.index.name == "movieId"
    assert users.name == "customer_id" and items.name == "product_id"
    assert (users.loc[sample.ratings["userId"]].to_numpy() == raw["customer_id"]).all()
    assert (items.loc[sample.ratings["movieId"]].to_numpy() == raw["product_id"]).all()
    assert users.is_monotonic_increasing and users.iloc[0] == "C-1001"  # numbered in label order


def test_ratings_times_names_and_categories_are_the_files(sample, raw):
    ratings = sample.ratings
    assert (ratings["rating"] == raw["quantity"].astype(float)).all()
    seconds = (pd.to_datetime(raw["ts"]) - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    assert (ratings["timestamp"] == seconds).all()
    first = raw.drop_duplicates("product_id").set_index("product_id")
    titles = sample.movies["title"].set_axis(sample.item_labels.loc[sample.movies.index])
    assert (titles == first.loc[titles.index, "product_name"]).all()
    assert sample.movies.loc[sample.item_labels.tolist().index("P-101"), "genres"] == "Coffee"


def test_the_rest_of_the_series_works_unchanged(sample, raw):
    train, val, test = train_val_test_split(sample.ratings, method="last")
    split = PreparedSplit(train, val, test, IdEncoder().fit(sample.ratings), sample.movies,
                          sample.users)
    assert leakage_report(train, test)["shared_pairs"] == 0
    assert len(test) == len(val) == 60  # every customer bought at least 4 products
    # The held-out row is each customer's latest purchase in the file.
    latest = raw.assign(ts=pd.to_datetime(raw["ts"])).sort_values("ts").groupby(
        "customer_id").tail(1).set_index("customer_id")["product_id"]
    held_out = pd.Series(sample.item_labels.loc[test["movieId"]].to_numpy(),
                         index=sample.user_labels.loc[test["userId"]].to_numpy())
    assert held_out.sort_index().equals(latest.sort_index().rename(None).rename_axis(None))
    users, items, targets = split.arrays("train")
    assert users.max() < 60 and items.max() < 26 and targets.dtype == np.float32


def test_parquet_gives_the_same_frames(tmp_path, sample, raw):
    path = tmp_path / "retail.bin"  # told apart by content, not by name
    raw.to_parquet(path)
    again = load_interactions(path, **COLUMNS)
    pd.testing.assert_frame_equal(again.ratings, sample.ratings)
    pd.testing.assert_frame_equal(again.movies, sample.movies)
    pd.testing.assert_series_equal(again.user_labels, sample.user_labels)


def test_parquet_with_typed_columns(tmp_path):
    frame = pd.DataFrame({"u": [10, 20, 10], "i": [7, 7, 8], "r": [1.0, 2.0, 3.0],
                          "t": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"],
                                              utc=True)})
    frame.to_parquet(tmp_path / "x.parquet")
    data = load_interactions(tmp_path / "x.parquet", user="u", item="i", rating="r",
                             timestamp="t")
    assert data.ratings["userId"].tolist() == [10, 20, 10] and data.user_labels is None
    assert data.ratings["timestamp"].tolist() == [1704067200, 1704153600, 1704240000]


def test_reading_parquet_without_an_engine_says_what_to_install(tmp_path, monkeypatch, raw):
    raw.to_parquet(tmp_path / "x.parquet")
    for engine in ("pyarrow", "fastparquet"):  # importing them fails, as if not installed
        monkeypatch.setitem(sys.modules, engine, None)
    with pytest.raises(ImportError, match=r"x\.parquet is a Parquet file; reading it needs "
                                          r"fastparquet \(or pyarrow\): pip install fastparquet"):
        load_interactions(tmp_path / "x.parquet", **COLUMNS)


# ------------------------------------------------------------------ kinds of input
def test_integer_ids_are_kept_as_they_are(tmp_path):
    data = load_interactions(write(tmp_path, "u,i\n1042,7\n5,7\n1042,9\n"), user="u", item="i")
    assert data.ratings["userId"].tolist() == [1042, 5, 1042]
    assert data.user_labels is None and data.item_labels is None
    assert data.movies["title"].to_dict() == {7: "7", 9: "9"}


def test_implicit_feedback_rates_every_row_one(tmp_path):
    data = load_interactions(write(tmp_path, "u,i\na,x\nb,x\n"), user="u", item="i")
    assert data.ratings["rating"].tolist() == [1.0, 1.0]
    assert (data.ratings["timestamp"] == 0).all()
    assert data.movies["genres"].tolist() == [""]  # no category column: empty genres


def test_mixed_ids_can_be_read_as_labels(tmp_path):
    path = write(tmp_path, "u,i\n1,10002\n2,85123A\n3,10002\n")
    data = load_interactions(path, user="u", item="i", ids="label")
    assert data.item_labels.tolist() == ["10002", "85123A"]
    assert data.user_labels.tolist() == ["1", "2", "3"]  # ids='label' applies to both columns
    assert data.ratings["movieId"].tolist() == [0, 1, 0]


def test_separator_encoding_bom_compression_and_times_with_zones(tmp_path):
    text = "\ufeffu;i;n;t\nC-1;P-1;Caf\xe9;2024-01-01T01:00:00+01:00\nC-2;P-1;Caf\xe9;2024-01-01\n"
    for path in (write(tmp_path, text.encode("utf-8"), "utf8.csv"),
                 write(tmp_path, text[1:].encode("latin-1"), "latin1.csv"),
                 write(tmp_path, gzip.compress(text.encode("utf-8")), "x.csv.gz")):
        data = load_interactions(path, user="u", item="i", timestamp="t", item_names="n",
                                 sep=";")
        assert data.movies["title"].tolist() == ["Café"], path
        assert data.ratings["timestamp"].tolist() == [1704067200, 1704067200], path


@pytest.mark.parametrize("how, ratings, times", [
    ("sum", [3.0, 5.0], [1704153600, 1704067200]),
    ("last", [5.0, 2.0], [1704067200, 1704153600]),  # the kept rows, in file order
])
def test_duplicates_sum_or_last(tmp_path, how, ratings, times):
    path = write(tmp_path, "u,i,q,t\nA,x,1,2024-01-01\nA,y,5,2024-01-01\nA,x,2,2024-01-02\n")
    data = load_interactions(path, user="u", item="i", rating="q", timestamp="t",
                             duplicates=how)
    assert data.ratings["rating"].tolist() == ratings
    assert data.ratings["timestamp"].tolist() == times
    assert data.ratings["movieId"].tolist() == ([0, 1] if how == "sum" else [1, 0])


def test_duplicates_last_breaks_ties_by_file_order(tmp_path):
    path = write(tmp_path, "u,i,q\nA,x,1\nA,x,4\n")
    data = load_interactions(path, user="u", item="i", rating="q", duplicates="last")
    assert data.ratings["rating"].tolist() == [4.0]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("text, kwargs, error, pattern", [
    ("customer,product\n1,2\n", {}, ValueError,
     r"x\.csv has no column\(s\) \['u', 'i'\]; it has \['customer', 'product'\]: name the "
     r"columns as they are spelt"),
    ("u;i\n1;2\n", {}, ValueError,
     r"has no column\(s\) \['u', 'i'\]; it has \['u;i'\] \(line 1 looks separated by ';'"),
    ("u,i\n1,C-1\n2,17\n", {}, ValueError,
     r"x\.csv: column 'i' mixes integer ids \(1, e\.g\. '17' at row 1\) and other ids \(1, "
     r"e\.g\. 'C-1' at row 0\): if all are labels.*pass ids='label'"),
    ("u,i\n1,\n", {}, ValueError, r"column 'i' has 1 missing id\(s\), first at row 0"),
    ("u,i\nC-1,2\n", {"ids": "integer"}, ValueError,
     r"column 'u' must hold integer ids.*'C-1'"),
    ("u,i\n", {}, ValueError, r"x\.csv is empty; it has a header but no rows"),
    ("", {}, ValueError, r"x\.csv is empty \(0 bytes\)"),
    ("u,i,q\n1,1,3\n1,2,9\n", {"rating": "q", "rating_range": (1, 5)}, ValueError,
     r"x\.csv: 1 rating\(s\) are missing or not numbers, or outside the scale \[1\.0, 5\.0\], "
     r"e\.g\. '9' at row 1 of column 'q'"),
    ("u,i,q\n1,1,lots\n", {"rating": "q"}, ValueError,
     r"missing or not numbers, e\.g\. 'lots' at row 0 of column 'q'"),
    ("u,i,t\n1,1,yesterday\n", {"timestamp": "t"}, ValueError,
     r"x\.csv: column 't' must hold times.*'yesterday' at position 0"),
    ("u,i,t\n1,1,2024-01-01\n1,2,1704067200\n", {"timestamp": "t"}, ValueError,
     r"all of one kind.*'1704067200' at position 1"),
    ("u,i\nA,x\nB,y\nA,x\n", {}, ValueError,
     r"x\.csv: 1 duplicated \(user, item\) pair\(s\), e\.g\. user A, item x; .*"
     r"duplicates='sum'.*duplicates='last'"),
    ("u,i\n1,1\n", {"item": "u"}, ValueError,
     r"column\(s\) \['u'\] are named for more than one role"),
    ("u,i\n1,1\n", {"user": 0}, TypeError, r"user must be a str, got int"),
    ("u,i\n1,1\n", {"rating_range": (5, 1)}, ValueError, r"rating_range must be \(low, high\)"),
    ("u,i\n1,1\n", {"duplicates": "mean"}, ValueError, r"duplicates must be one of"),
    ("u,i\n1,1\n", {"ids": "text"}, ValueError, r"ids must be one of"),
    ("u,i\n1,1\n", {"item_names": "name"}, ValueError, r"has no column\(s\) \['name'\]"),
])
def test_bad_files_and_arguments_are_named(tmp_path, text, kwargs, error, pattern):
    kwargs = {"user": "u", "item": "i"} | kwargs
    with pytest.raises(error, match=pattern):
        load_interactions(write(tmp_path, text), **kwargs)


@pytest.mark.parametrize("content, pattern", [
    (b"PK\x03\x04" + b"\0" * 60, r"x\.csv is a zip archive \(an Excel workbook\?\), not a CSV "
                                 r"file: export it as CSV or Parquet"),
    ("u,i\n1,2\n".encode("utf-16"), r"neither a CSV file nor a Parquet file \(it holds NUL"),
    (b"PAR1" + b"\0" * 60, r"x\.csv is not a readable Parquet file .*cut off"),
])
def test_files_that_are_not_csv(tmp_path, content, pattern):
    with pytest.raises(ValueError, match=pattern):
        load_interactions(write(tmp_path, content), user="u", item="i")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"interactions file .*nope\.csv does not exist"):
        load_interactions(tmp_path / "nope.csv", user="u", item="i")
    with pytest.raises(IsADirectoryError, match=r"is a folder, not a file: pass the "
                                                r"interactions file itself"):
        load_interactions(tmp_path, user="u", item="i")


def test_no_warning_on_a_clean_file():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_interactions(SAMPLE, **COLUMNS)


def test_item_names_and_categories_take_each_items_first_non_blank_value(tmp_path):
    path = write(tmp_path, "u,i,n,c\nA,x,,\nB,x,Mug,Kitchen\nA,y,Tea,\nB,y,Green tea,Drinks\n")
    movies = load_interactions(path, user="u", item="i", item_names="n",
                               item_categories="c").movies
    assert movies["title"].tolist() == ["Mug", "Tea"]
    assert movies["genres"].tolist() == ["Kitchen", "Drinks"]
    path = write(tmp_path, "u,i,n\nA,x,\n", "blank.csv")  # no name at all: the item's label
    assert load_interactions(path, user="u", item="i", item_names="n").movies["title"].tolist() \
        == ["x"]
