"""Hostile but realistic input files for the MovieLens readers and the splits (issue 20).

Every case is a clear error naming the file (and the line, column or value) and what to
do, or a documented behaviour: encodings, empty, cut-off, binary, unreadable and wrongly
separated files of every layout, a zip where a folder should be, and timestamps that are
text or datetimes.
"""
import contextlib
import os
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ncf_helpers import checks
from ncf_helpers.data import load_movielens, read_ml1m, validate_ratings
from ncf_helpers.splits import leave_last_out, train_val_test_split

RATINGS = [(1, 1, 5, 881250949), (1, 2, 3, 881250950), (2, 1, 4, 891717742),
           (2, 3, 1, 878887116), (3, 2, 2, 880606923)]
MOVIES = [(1, "Toy Story (1995)", "Animation|Comedy"), (2, "GoldenEye (1995)", "Action"),
          (3, "Heat (1995)", "Action|Crime")]
USERS = [(1, 24, "M", 17, "85711"), (2, 53, "F", 0, "94043"), (3, 23, "M", 20, "32067")]


def lines(rows, sep):
    return "".join(sep.join(map(str, row)) + "\n" for row in rows)


def write(folder, name):
    """The three movies and five ratings in the layout of ``name``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    if name == "ml-100k":
        flags = {1: "0|0|0|1|0|1" + "|0" * 13, 2: "0|1" + "|0" * 17, 3: "0|1|0|0|0|0|1" + "|0" * 12}
        files["u.data"] = lines(RATINGS, "\t")
        files["u.item"] = "".join(f"{m}|{t}|01-Jan-1995||http://x|{flags[m]}\n"
                                  for m, t, _ in MOVIES)
        files["u.user"] = lines([(u, a, g, "writer", z) for u, a, g, _, z in USERS], "|")
    elif name in ("ml-1m", "ml-10m"):
        files["ratings.dat"] = lines(RATINGS, "::")
        files["movies.dat"] = lines(MOVIES, "::")
        if name == "ml-1m":
            files["users.dat"] = lines([(u, g, a, o, z) for u, a, g, o, z in USERS], "::")
    else:
        files["ratings.csv"] = "userId,movieId,rating,timestamp\n" + lines(RATINGS, ",")
        files["movies.csv"] = "movieId,title,genres\n" + lines(MOVIES, ",")
    for file, text in files.items():
        (folder / file).write_text(text)
    return folder


LAYOUT_FILES = [("ml-100k", "u.data"), ("ml-100k", "u.item"), ("ml-100k", "u.user"),
                ("ml-1m", "ratings.dat"), ("ml-1m", "movies.dat"), ("ml-1m", "users.dat"),
                ("ml-10m", "ratings.dat"), ("ml-10m", "movies.dat"),
                ("ml-latest-small", "ratings.csv"), ("ml-latest-small", "movies.csv")]
SEPARATOR = {"u.data": "\t", "u.item": "|", "u.user": "|", "ratings.csv": ",",
             "movies.csv": ","}


def load(tmp_path, name):
    return load_movielens(name, tmp_path / name)


@pytest.mark.parametrize("name", ["ml-100k", "ml-1m", "ml-10m", "ml-latest-small"])
def test_the_fixture_files_load(tmp_path, name):
    """The writers above are valid, so each failure below is caused by its one change."""
    write(tmp_path / name, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load(tmp_path, name)
    assert len(data.ratings) == 5 and len(data.movies) == 3
    assert data.ratings["timestamp"].tolist() == [r[3] for r in RATINGS]


# ------------------------------------------------------------------------- encodings
def movies_dat(tmp_path, content):
    folder = write(tmp_path / "ml-1m", "ml-1m")
    (folder / "movies.dat").write_bytes(content)
    return folder


def test_mixed_encodings_are_decoded_per_line_with_a_warning(tmp_path):
    # é is C3 A9 in UTF-8 and E9 in latin-1 (GroupLens' encoding)
    folder = movies_dat(tmp_path, b"1::Caf\xc3\xa9 Society (2016)::Drama\n"
                                  b"2::M\xe9nage (1986)::Comedy\n"
                                  b"3::Heat (1995)::Action\n")
    with pytest.warns(UserWarning, match=r"movies\.dat mixes encodings: 1 line\(s\) are not "
                                         r"valid UTF-8 and were read as latin-1 \(line 2\)"):
        titles = read_ml1m(folder).movies["title"].tolist()
    assert titles == ["Café Society (2016)", "Ménage (1986)", "Heat (1995)"]


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8", "utf-8-sig"])
def test_one_encoding_reads_without_a_warning(tmp_path, encoding):
    folder = movies_dat(tmp_path, "1::Ménage (1986)::Comedy\n2::Heat (1995)::Action\n"
                        .encode(encoding))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_ml1m(folder).movies.loc[1, "title"] == "Ménage (1986)"


def test_utf16_file_is_named_not_garbled(tmp_path):
    folder = movies_dat(tmp_path, "1::Heat (1995)::Action\n".encode("utf-16"))
    with pytest.raises(ValueError, match=r"movies\.dat is not a text file \(it holds NUL "
                                         r"bytes: UTF-16 text.*save it as UTF-8"):
        read_ml1m(folder)


# ------------------------------------------------- empty, blank, cut off, folder, missing
@pytest.mark.parametrize("name, file", LAYOUT_FILES)
def test_empty_file(tmp_path, name, file):
    (write(tmp_path / name, name) / file).write_bytes(b"")
    with pytest.raises(ValueError, match=rf"{name}/{file} is empty: download it again"):
        load(tmp_path, name)


@pytest.mark.parametrize("name, file", LAYOUT_FILES)
def test_blank_lines_only(tmp_path, name, file):
    (write(tmp_path / name, name) / file).write_text("\n\n")
    with pytest.raises(ValueError, match=rf"{file} is empty"):
        load(tmp_path, name)


@pytest.mark.parametrize("file, what", [("ratings.csv", "rating"), ("movies.csv", "movie")])
def test_header_only_csv(tmp_path, file, what):
    folder = write(tmp_path / "ml-latest-small", "ml-latest-small")
    (folder / file).write_text((folder / file).read_text().splitlines()[0] + "\n")
    with pytest.raises(ValueError, match=rf"{file} is empty; it has no {what} rows"):
        load(tmp_path, "ml-latest-small")


@pytest.mark.parametrize("name, file", LAYOUT_FILES)
def test_cut_off_last_line(tmp_path, name, file):
    path = write(tmp_path / name, name) / file
    path.write_bytes(path.read_bytes()[:-5])  # "...::880606923\n" -> "...::88060"
    with pytest.raises(ValueError, match=rf"{file} does not end with a line break: its last "
                                         r"line, .*, looks cut off.*download it again"):
        load(tmp_path, name)


@pytest.mark.parametrize("name, file", LAYOUT_FILES)
def test_folder_in_place_of_a_file(tmp_path, name, file):
    path = write(tmp_path / name, name) / file
    path.unlink()
    path.mkdir()
    with pytest.raises(IsADirectoryError, match=rf"{file} is a folder, not a file"):
        load(tmp_path, name)


@pytest.mark.parametrize("name, file", [(n, f) for n, f in LAYOUT_FILES
                                        if f not in ("u.data", "ratings.dat", "ratings.csv")])
def test_missing_companion_file(tmp_path, name, file):
    (write(tmp_path / name, name) / file).unlink()
    with pytest.raises(FileNotFoundError, match=rf"{file} does not exist; .*unpack the whole "
                                                 "archive"):
        load(tmp_path, name)


# ------------------------------------------------------------------ separators, columns
@pytest.mark.parametrize("name, file", LAYOUT_FILES)
def test_wrong_separator_is_named(tmp_path, name, file):
    path = write(tmp_path / name, name) / file
    path.write_text(path.read_text().replace(SEPARATOR.get(file, "::"), ";"))
    with pytest.raises(ValueError, match=rf"{file}.*separated.*\(line 1 looks separated by "
                                         r"';' instead"):
        load(tmp_path, name)


@pytest.mark.parametrize("line", ["1::1::5\n", "1::1::5::10::x\n", "1\t1\t5\t10\n"])
def test_ml10m_ratings_with_other_fields(tmp_path, line):
    (write(tmp_path / "ml-10m", "ml-10m") / "ratings.dat").write_text(line)
    with pytest.raises(ValueError, match=r"ratings\.dat: line 1 does not have 4 "
                                         r"'::'-separated fields"):
        load(tmp_path, "ml-10m")


def test_ml10m_later_line_with_extra_fields(tmp_path):
    path = write(tmp_path / "ml-10m", "ml-10m") / "ratings.dat"
    path.write_text(path.read_text() + "4::1::5::10::99\n")
    with pytest.raises(ValueError, match=r"ratings\.dat: line 6 does not have 4 '::'-separated "
                                         r"fields.*'4::1::5::10::99'"):
        load(tmp_path, "ml-10m")


# --------------------------------------------------------------- zips and plain files
def zipped(tmp_path, name="ml-1m"):
    folder = write(tmp_path / "src" / name, name)
    archive = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for file in folder.iterdir():
            z.write(file, f"{name}/{file.name}")
    return archive


def test_zip_as_data_dir_says_unzip(tmp_path):
    archive = zipped(tmp_path)
    with pytest.raises(NotADirectoryError, match=r"ml-1m\.zip is a zip archive, not a folder "
                                                 r"holding the ml-1m files: unzip it first"):
        load_movielens("ml-1m", archive)


def test_folder_holding_the_zip_says_unzip(tmp_path):
    archive = zipped(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"There is .*ml-1m\.zip: unzip it there"):
        load_movielens("ml-1m", tmp_path)
    with zipfile.ZipFile(archive) as z:  # doing what the message says works
        z.extractall(tmp_path)
    assert len(load_movielens("ml-1m", tmp_path).ratings) == 5


def test_parent_of_the_ml10m_zip_folder_is_accepted(tmp_path):
    write(tmp_path / "ml-10M100K", "ml-10m")  # the top folder of GroupLens' ml-10m zip
    assert len(load_movielens("ml-10m", tmp_path).ratings) == 5


def test_plain_file_as_data_dir(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(NotADirectoryError, match=r"notes\.txt is a file, not a folder"):
        load_movielens("ml-1m", tmp_path / "notes.txt")


def test_a_zip_in_place_of_a_text_file(tmp_path):
    folder = write(tmp_path / "ml-1m", "ml-1m")
    archive = zipped(tmp_path / "z")
    shutil.copy(archive, folder / "movies.dat")
    with pytest.raises(ValueError, match=r"movies\.dat is a zip archive, not the text file"):
        load(tmp_path, "ml-1m")


# ------------------------------------------------------------------------- permissions
@contextlib.contextmanager
def unreadable(path):
    """``path`` unreadable while the block runs. chmod 000 is enough for a normal user;
    root reads anything, so as root the block runs as user nobody (effective uid)."""
    path.chmod(0)
    as_root = os.geteuid() == 0
    if as_root:
        os.seteuid(65534)
    try:
        yield
    finally:
        if as_root:
            os.seteuid(0)
        path.chmod(0o644)


@pytest.fixture
def open_dir():
    """A temporary folder that user nobody may enter (pytest's tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="ncf-perm-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.parametrize("name, file", [("ml-latest-small", "ratings.csv"),
                                        ("ml-1m", "movies.dat"), ("ml-100k", "u.data")])
def test_unreadable_file_is_named(open_dir, name, file):
    folder = write(open_dir / name, name)
    folder.chmod(0o755)
    with unreadable(folder / file):
        with pytest.raises(PermissionError, match=rf"cannot read .*{file}: permission denied; "
                                                  r"make it readable \(chmod u\+r"):
            load(open_dir, name)


# --------------------------------------------------------------------------- timestamps
def ratings(times):
    return pd.DataFrame({"userId": [1, 1, 1, 2, 2], "movieId": [1, 2, 3, 1, 2],
                         "rating": 3.0, "timestamp": times})


def test_text_timestamps_are_refused_by_the_split():
    # As text "99" > "100" > "5": the old split held out movie 1, not the latest (movie 2).
    frame = ratings(["99", "100", "5", "7", "8"])
    with pytest.raises(TypeError, match=r"ratings\['timestamp'\] must hold numbers or datetimes"
                                        r".*got text, e\.g\. '99'.*'100' before '99'.*"
                                        r"pd\.to_numeric"):
        leave_last_out(frame)
    with pytest.raises(TypeError, match="got text"):
        train_val_test_split(frame, method="last")


def test_text_timestamps_parsed_where_they_enter_give_the_latest():
    frame = validate_ratings(ratings(["99", "100", "5", "7", "8"]))
    assert frame["timestamp"].tolist() == [99, 100, 5, 7, 8]
    _, test = leave_last_out(frame)
    assert test["movieId"].tolist() == [2, 2]


@pytest.mark.parametrize("tz", [None, "Europe/Paris"])
def test_datetime_timestamps_work_in_the_split(tz):
    times = pd.to_datetime(["2020-01-03", "2020-01-10", "2020-01-01", "2021-05-01",
                            "2021-04-01"]).tz_localize(tz)
    _, test = leave_last_out(ratings(times))
    assert test["movieId"].tolist() == [2, 1]
    assert test["timestamp"].tolist() == [times[1], times[3]]  # kept as they were


def test_datetimes_become_seconds_where_they_enter():
    times = pd.to_datetime(["1970-01-01 00:00:01.9", "2020-01-01", "2020-01-01 01:00",
                            "2020-01-01", "2020-01-01"], format="ISO8601")
    frame = validate_ratings(ratings(times))
    assert frame["timestamp"].tolist() == [1, 1577836800, 1577840400, 1577836800, 1577836800]
    paris = pd.Series(times).dt.tz_localize("Europe/Paris")  # 01:00 in Paris is 00:00 UTC
    assert validate_ratings(ratings(paris))["timestamp"].iloc[2] == 1577836800


def test_iso_timestamps_in_a_ratings_csv(tmp_path):
    folder = write(tmp_path / "ml-latest-small", "ml-latest-small")
    text = "userId,movieId,rating,timestamp\n1,1,5,2020-01-01\n1,2,3,2020-01-02T10:00:00Z\n"
    (folder / "ratings.csv").write_text(text)
    assert load(tmp_path, "ml-latest-small").ratings["timestamp"].tolist() == [1577836800,
                                                                               1577959200]


@pytest.mark.parametrize("values, pattern", [
    (["2020-01-01", "5"], r"all of one kind; 1 value\(s\) are not, e\.g\. '5' at position 1"),
    (["soon"], r"must hold times.*'soon' at position 0"),
    ([1.0, np.nan], r"is missing at position 1"),
    ([np.inf], r"holds inf at position 0, not a time"),
])
def test_values_that_are_not_times(values, pattern):
    with pytest.raises(ValueError, match=pattern):
        checks.timestamps(pd.Series(values), "f.csv: column 'ts'")


def test_booleans_and_durations_are_not_times():
    with pytest.raises(TypeError, match="got dtype bool"):
        checks.timestamps([True, False], "ts")
    with pytest.raises(TypeError, match="got dtype timedelta64"):
        checks.timestamps(pd.to_timedelta([1, 2], unit="s"), "ts")


def test_numbers_in_an_object_column_are_put_in_numeric_order():
    _, test = leave_last_out(ratings(pd.Series([99, 100, 5, 7, 8], dtype=object)))
    assert test["movieId"].tolist() == [2, 2]


def test_booleans_cannot_be_put_in_time_order():
    with pytest.raises(TypeError, match=r"got dtype bool, e\.g\. True; convert it first"):
        leave_last_out(ratings([True, False, True, False, True]))
