"""Load MovieLens, or any file of interactions, into one schema.

Every loader returns the same frames:

``ratings``
    One row per rating: ``userId`` (int64), ``movieId`` (int64), ``rating`` (float64),
    ``timestamp`` (int64, seconds since 1970-01-01 UTC), in file order.
``movies``
    Indexed by ``movieId`` (int64): ``title`` (str, as GroupLens prints it, e.g.
    ``"Toy Story (1995)"``), ``genres`` (str, ``"Animation|Children's|Comedy"``;
    ``"(no genres listed)"`` when there are none) and ``year`` (nullable Int64).
``users``
    Indexed by ``userId`` (int64): ``age`` (int64), ``gender`` (``"M"``/``"F"``),
    ``occupation`` (str). Only ml-100k and ml-1m have it; other variants give ``None``.

:func:`load_interactions` reads a CSV or Parquet file of your own into the same schema
(``movieId`` then holds the item id; see there).

Where the MovieLens files are looked for, in order: an explicit ``data_dir``;
``data/<name>/`` in this repository; the copy of ml-100k embedded in the RecBole 1.2.1
wheel (installed with ``pip install --no-deps recbole==1.2.1``, read without importing
recbole). If none has the files, the error names the three ways to get them.

Text files are decoded as UTF-8 when they are valid UTF-8, else as latin-1, GroupLens'
encoding for ml-100k, ml-1m and ml-10m; a file that mixes the two is decoded line by
line, with a warning naming its latin-1 lines.
"""
import hashlib
import importlib.util
import io
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .checks import (
    bounds,
    instance,
    integer_ids,
    non_empty,
    one_of,
    require_columns,
    timestamps,
)

REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/{name}.zip"
# MD5s published by GroupLens next to each zip (<url>.md5). The "latest" releases
# change over time, so for them the published .md5 is fetched at download time.
KNOWN_MD5 = {
    "ml-100k": "0e33842e24a9c977be4e0107933c0723",
    "ml-1m": "c4d9eecfca2ab87c1945afe126590906",
    "ml-25m": "6b51fb2759a8657d3bfcbfc42b592ada",
}
CSV_FAMILY = ("ml-latest-small", "ml-latest", "ml-20m", "ml-25m", "ml-32m")
DATASETS = ("ml-100k", "ml-1m", "ml-10m") + CSV_FAMILY
# The top folder of a GroupLens zip is named like the variant, except for these.
ZIP_FOLDERS = {"ml-10m": "ml-10M100K"}
RATING_COLUMNS = ["userId", "movieId", "rating", "timestamp"]

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
# ml-1m stores occupations as codes; names from its README.
ML1M_OCCUPATIONS = [
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer",
    "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
    "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
]
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")
# What a wrongly separated line is usually separated by, to say so in the error.
_SEPARATORS = ("::", "\t", ",", ";", "|")


@dataclass
class MovieLens:
    """The frames of a MovieLens variant or of an interactions file.

    ``users`` is None where a source has no user attributes. ``user_labels`` and
    ``item_labels`` are set by :func:`load_interactions` when a file's ids are text
    ("C-1042"): Series indexed by the integer ``userId``/``movieId`` the loader gave
    each label, holding the label; None where the ids were integers already.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    users: pd.DataFrame | None = None
    user_labels: pd.Series | None = None
    item_labels: pd.Series | None = None

    def __iter__(self):  # allows ``ratings, movies, users = load_movielens()``
        return iter((self.ratings, self.movies, self.users))


# --------------------------------------------------------------------------- checks
def _integer_ids(values, column, source):
    """An id column as int64, refusing NaN, text, fractions and ids beyond int64."""
    return integer_ids(values, f"{source}: column {column!r}")


def _checked_ratings(values, column, source, rating_range):
    """A rating column as float64: every value a number, within ``rating_range`` if given."""
    out = pd.to_numeric(pd.Series(values).reset_index(drop=True), errors="coerce")
    out = out.astype("float64")
    bad = ~np.isfinite(out.to_numpy()) if rating_range is None else ~out.between(*rating_range)
    if bad.any():  # NaN (missing, or not a number) is never between
        row = int(np.flatnonzero(bad)[0])
        value = pd.Series(values).iloc[row]
        value = value.item() if hasattr(value, "item") else value
        scale = "" if rating_range is None else f", or outside the scale {list(rating_range)}"
        raise ValueError(f"{source}: {int(bad.sum())} rating(s) are missing or not numbers"
                         f"{scale}, e.g. {value!r} at row {row} of column {column!r}; fix or "
                         "drop those rows")
    return out


def _refuse_duplicates(out, source, show=None, hint="", item="movie"):
    """Raise on a (userId, movieId) pair seen twice; ``show`` turns ids into labels."""
    dup = out.duplicated(["userId", "movieId"])
    if dup.any():
        user, movie = out.loc[dup, ["userId", "movieId"]].to_numpy()[0]
        user, movie = show(user, movie) if show else (user, movie)
        raise ValueError(f"{source}: {int(dup.sum())} duplicated (user, {item}) pair(s), e.g. "
                         f"user {user}, {item} {movie}; keep one rating per pair"
                         + (hint or ", e.g. the latest: ratings.sort_values('timestamp')"
                            ".drop_duplicates(['userId', 'movieId'], keep='last')"))


def validate_ratings(ratings, source="ratings", rating_range=(0.5, 5.0)):
    """Check a ratings frame and return it in the canonical schema.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Must have ``userId``, ``movieId`` and ``rating``; ``timestamp`` is optional
        (filled with 0). Timestamps may be seconds since 1970, datetimes or ISO 8601 text;
        they come out as int64 seconds (see :func:`ncf_helpers.checks.timestamps`).
    source : str
        What to call the frame in error messages (e.g. the file it came from).
    rating_range : tuple of float or None
        Inclusive bounds a rating must lie in (MovieLens: 0.5 to 5 stars); None
        accepts any finite number.

    Raises
    ------
    ValueError
        On no rows, a missing column, non-integer ids, NaN or out-of-range ratings,
        timestamps that are not times, or a duplicated (userId, movieId) pair.
        Duplicates are an error, not silently dropped: which rating to keep is the
        caller's decision.
    """
    require_columns(ratings, ["userId", "movieId", "rating"], source)
    non_empty(ratings, source, "it has no rating rows (a header-only file?); download it again")
    rating_range = None if rating_range is None else bounds(rating_range, "rating_range")
    out = pd.DataFrame({
        "userId": _integer_ids(ratings["userId"], "userId", source),
        "movieId": _integer_ids(ratings["movieId"], "movieId", source),
        "rating": _checked_ratings(ratings["rating"], "rating", source, rating_range),
        "timestamp": (timestamps(ratings["timestamp"], f"{source}: column 'timestamp'")
                      if "timestamp" in ratings.columns else 0),
    })
    _refuse_duplicates(out, source)
    return out.reset_index(drop=True)


def _movies_frame(movie_ids, titles, genres, source, years=None):
    """The movies frame; ``years`` default to the year in each title, "Heat (1995)"."""
    ids = _integer_ids(movie_ids, "movieId", source)
    non_empty(ids, source, "it has no movie rows (a header-only file?); download it again")
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise ValueError(f"{source}: movieId {ids[dup][0]} appears more than once "
                         f"({int(dup.sum())} duplicated id(s)); each movie needs one row")
    titles = pd.Series(titles, dtype="str")
    if years is None:
        years = titles.str.extract(_YEAR_IN_TITLE, expand=False).astype("Int64")
    # set_index, not index=: pandas keeps contiguous ids as a RangeIndex of plain ints
    return pd.DataFrame({"movieId": ids, "title": titles.str.strip().to_numpy(),
                         "genres": pd.Series(genres, dtype="str").to_numpy(),
                         "year": pd.array(years, dtype="Int64")}).set_index("movieId")


def _users_frame(user_ids, ages, genders, occupations, source):
    ids = _integer_ids(user_ids, "userId", source)
    non_empty(ids, source, "it has no user rows (a header-only file?); download it again")
    return pd.DataFrame({"userId": ids,
                         "age": _integer_ids(ages, "age", source),
                         "gender": pd.Series(genders, dtype="str").to_numpy(),
                         "occupation": pd.Series(occupations, dtype="str").to_numpy()}
                        ).set_index("userId")


# ------------------------------------------------------------------------ raw files
def _bytes_of(path, what):
    """``(path, first 8 KiB, last 200 bytes)`` of a readable, non-empty file, else an error
    naming it and the fix."""
    path = Path(path)
    try:
        if path.exists() and not path.is_file():
            raise IsADirectoryError(f"{path} is a folder, not a file: " + (
                f"put the {what} {path.name} there instead" if what == "MovieLens file"
                else f"pass the {what} itself"))
        if not path.is_file():
            raise FileNotFoundError(f"expected {what} {path} does not exist" + (
                "; if it is one of several files, unpack the whole archive there again"
                if what == "MovieLens file" else ""))
        with open(path, "rb") as f:
            head = f.read(8192)
            size = f.seek(0, os.SEEK_END)
            f.seek(max(size - 200, 0))
            tail = f.read()
    except PermissionError:
        raise PermissionError(f"cannot read {path}: permission denied; make it readable "
                              f"(chmod u+r '{path}') or copy it to a folder of yours") from None
    if size == 0:
        raise ValueError(f"{path} is empty: download it again" if what == "MovieLens file"
                         else f"{path} is empty (0 bytes)")
    return path, head, tail


def _need(path, whole_lines=True):
    """``path`` if it is a readable, non-empty text file, else an error naming it and the fix.

    ``whole_lines``: the file must end with a line break, as every GroupLens file does;
    one that does not was most likely cut off by an interrupted download or copy.
    """
    path, head, tail = _bytes_of(path, "MovieLens file")
    if head.startswith(b"PK\x03\x04"):
        raise ValueError(f"{path} is a zip archive, not the text file {path.name}: unzip it, "
                         "or download it again")
    if b"\0" in head:
        raise ValueError(f"{path} is not a text file (it holds NUL bytes: UTF-16 text, or a "
                         "binary file?): save it as UTF-8 text, or download it again")
    if whole_lines and not tail.endswith(b"\n"):
        last = tail.splitlines()[-1].decode("latin-1")[-60:] if tail.strip() else ""
        raise ValueError(f"{path} does not end with a line break: its last line, {last!r}, "
                         "looks cut off (an interrupted download or copy?); download it again "
                         "(delete the damaged copy first), or add the line break if the line "
                         "is complete")
    return path


def _text(path, whole_lines=True):
    """The file's text: UTF-8 if it decodes as such, else latin-1 (GroupLens' encoding).

    Real latin-1 titles ("Café" as byte E9) are never valid UTF-8, so re-saved UTF-8
    copies and the originals both read right. A file that mixes the two (UTF-8 lines
    pasted into a latin-1 file) is decoded line by line, with a warning.
    """
    raw = _need(path, whole_lines=whole_lines).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    lines, latin, utf8 = raw.removeprefix(b"\xef\xbb\xbf").splitlines(keepends=True), [], False
    for number, line in enumerate(lines, 1):
        try:
            lines[number - 1] = line.decode("utf-8")
            utf8 = utf8 or not line.isascii()
        except UnicodeDecodeError:
            lines[number - 1] = line.decode("latin-1")
            latin.append(number)
    if utf8:
        warnings.warn(f"{path} mixes encodings: {len(latin)} line(s) are not valid UTF-8 and "
                      f"were read as latin-1 (line {', '.join(map(str, latin[:5]))}"
                      f"{', ...' if len(latin) > 5 else ''}), the others as UTF-8; check those "
                      "lines, and save the file in one encoding to silence this", stacklevel=2)
    return "".join(lines)


def _separator_hint(line, expected, fields=3):
    """Where ``line`` splits into ``fields`` or more by another separator than
    ``expected``, say so."""
    counts = {sep: len(line.split(sep)) for sep in _SEPARATORS if sep != expected}
    sep, n = max(counts.items(), key=lambda kv: kv[1])
    return f" (line 1 looks separated by {sep!r} instead, into {n} fields)" if n >= fields else ""


def _first_line(path):
    """The first line of ``path`` that is not blank ("" if there is none)."""
    with open(path, "rb") as f:
        return next((line for line in map(bytes.strip, f) if line), b"").decode("latin-1")


def _dat(path, columns):
    """The fields of a ``::``-separated ml-1m/ml-10m ``.dat`` file, as text columns."""
    lines = [line for line in _text(path).splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} is empty (blank lines only): download it again")
    rows = [line.split("::") for line in lines]
    bad = [i for i, r in enumerate(rows) if len(r) != len(columns)]
    if bad:
        hint = _separator_hint(lines[0], "::") if bad[0] == 0 else ""
        raise ValueError(f"{path}: line {bad[0] + 1} does not have {len(columns)} "
                         f"'::'-separated fields {columns}{hint}; download it again")
    return pd.DataFrame(rows, columns=columns)


def _movies_dat(path):
    movies = _dat(path, ["movieId", "title", "genres"])
    return _movies_frame(movies.movieId, movies.title, movies.genres, str(path))


def _read_csv(path, sniff=False, ncols=None, **kwargs):
    """``pd.read_csv`` of a MovieLens file, naming it if it is empty, garbled or has other
    than ``ncols`` columns (or, with a header, a single column: the wrong separator).

    ``sniff`` decodes titles as :func:`_text` does; numeric files stream from disk.
    """
    source = io.StringIO(_text(path)) if sniff else _need(path)
    sep = kwargs.get("sep", ",")
    try:
        frame = pd.read_csv(source, **kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: download it again") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a valid MovieLens file ({exc}); download it "
                         "again") from None
    if ncols is not None and frame.shape[1] != ncols or ncols is None and frame.shape[1] < 2:
        raise ValueError(f"{path}: expected {ncols or 'several'} columns separated by {sep!r}, "
                         f"found {frame.shape[1]}{_separator_hint(_first_line(path), sep)}; "
                         "download it again")
    return frame


# -------------------------------------------------------------------------- readers
def read_ml100k(folder):
    """Read the GroupLens ml-100k layout (``u.data``, ``u.item``, ``u.user``)."""
    folder = Path(folder)
    path = folder / "u.data"
    raw = _read_csv(path, ncols=4, sep="\t", header=None)
    raw.columns = RATING_COLUMNS
    ratings = validate_ratings(raw, source=str(path))

    path = folder / "u.item"
    item = _read_csv(path, sniff=True, ncols=5 + len(ML100K_GENRES), sep="|", header=None)
    genres = ["|".join(g for g, on in zip(ML100K_GENRES, row) if on) or "(no genres listed)"
              for row in item.iloc[:, 5:].to_numpy(dtype=bool)]
    movies = _movies_frame(item[0], item[1].fillna("unknown"), genres, str(path))

    path = folder / "u.user"
    user = _read_csv(path, ncols=5, sep="|", header=None, dtype={4: str})
    users = _users_frame(user[0], user[1], user[2], user[3], str(path))
    return MovieLens(ratings, movies, users)


def read_ml1m(folder):
    """Read the GroupLens ml-1m layout (``::``-separated ``.dat`` files)."""
    folder = Path(folder)
    ratings = validate_ratings(_dat(folder / "ratings.dat", RATING_COLUMNS),
                               source=str(folder / "ratings.dat"))
    movies = _movies_dat(folder / "movies.dat")
    src = str(folder / "users.dat")
    us = _dat(folder / "users.dat", ["userId", "gender", "age", "occupation", "zip"])
    codes = _integer_ids(us.occupation, "occupation", src)
    if codes.min() < 0 or codes.max() >= len(ML1M_OCCUPATIONS):
        raise ValueError(f"{src}: occupation codes must be 0..{len(ML1M_OCCUPATIONS) - 1}, "
                         f"found {codes[(codes < 0) | (codes >= len(ML1M_OCCUPATIONS))][0]}")
    occupation = np.array(ML1M_OCCUPATIONS, dtype=object)[codes]
    users = _users_frame(us.userId, us.age, us.gender, occupation, src)
    return MovieLens(ratings, movies, users)


def _check_dat_fields(path, n_fields):
    """Raise unless every line of a ``::``-separated file has ``n_fields`` fields.

    pandas' ``usecols`` would silently drop extra fields, so the colons are counted
    first (a fast pass over the bytes); lines are split only to name a bad one.
    """
    colons = newlines = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            colons, newlines = colons + chunk.count(b":"), newlines + chunk.count(b"\n")
    if colons == 2 * (n_fields - 1) * newlines:
        return
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip() and len(line.split(b"::")) != n_fields:
                text = line.decode("latin-1").rstrip("\r\n")
                hint = _separator_hint(text, "::") if number == 1 else ""
                raise ValueError(f"{path}: line {number} does not have {n_fields} '::'-separated "
                                 f"fields {RATING_COLUMNS}{hint}: {text[:60]!r}; download it "
                                 "again")


def read_ml10m(folder):
    """Read the ml-10m layout (zip folder ``ml-10M100K``): ``::``-separated
    ``ratings.dat`` and ``movies.dat`` as in ml-1m, without ``users.dat``."""
    folder = Path(folder)
    path = _need(folder / "ratings.dat")
    if not _first_line(path):
        raise ValueError(f"{path} is empty (blank lines only): download it again")
    _check_dat_fields(path, 4)
    # "1::122::5::838985046" split on ':' leaves empty fields between the values;
    # pandas' fast parser takes one-character separators only (10M lines).
    raw = _read_csv(path, sep=":", header=None, usecols=[0, 2, 4, 6])
    raw.columns = RATING_COLUMNS
    ratings = validate_ratings(raw, source=str(path))
    return MovieLens(ratings, _movies_dat(folder / "movies.dat"), None)


def read_csv_layout(folder):
    """Read the CSV family (ml-latest-small, ml-latest, ml-20m, ml-25m, ml-32m): ``ratings.csv``
    and ``movies.csv`` (the original's format)."""
    folder = Path(folder)
    path = folder / "ratings.csv"
    ratings = validate_ratings(_read_csv(path), source=str(path))
    path = folder / "movies.csv"
    mv = _read_csv(path, sniff=True, dtype={"title": str, "genres": str})
    require_columns(mv, ["movieId", "title", "genres"], str(path))
    return MovieLens(ratings, _movies_frame(mv.movieId, mv.title, mv.genres, str(path)), None)


def read_recbole(folder, name="ml-100k"):
    """Read RecBole's atomic files (``<name>.inter/.item/.user``) into the GroupLens schema.

    RecBole keeps the title without its year, the year in its own column and the
    genres space-separated; this puts them back as GroupLens writes them.
    """
    folder = Path(folder)

    def atomic(ext):
        path = folder / f"{name}.{ext}"
        frame = _read_csv(path, ext == "item", sep="\t", dtype=str, keep_default_na=False)
        return frame.rename(columns=lambda c: c.split(":")[0]), str(path)  # drop ":token" types

    inter, src = atomic("inter")
    inter = inter.rename(columns={"user_id": "userId", "item_id": "movieId"})
    ratings = validate_ratings(inter, source=src)

    item, src = atomic("item")
    year = pd.to_numeric(item["release_year"], errors="coerce").astype("Int64")
    title = item["movie_title"].where(
        year.isna(), item["movie_title"] + " (" + item["release_year"] + ")")
    genres = item["class"].str.split().str.join("|").replace("", "(no genres listed)")
    movies = _movies_frame(item.item_id, title, genres, src, year)

    user, src = atomic("user")
    users = _users_frame(user.user_id, user.age, user.gender, user.occupation, src)
    return MovieLens(ratings, movies, users)


READERS = {"ml-100k": read_ml100k, "ml-1m": read_ml1m, "ml-10m": read_ml10m}
READERS.update({name: read_csv_layout for name in CSV_FAMILY})


# ------------------------------------------------------------------------- locating
def embedded_ml100k_dir():
    """Folder of the ml-100k copy inside the installed RecBole 1.2.1 wheel, or None.

    Found through the package's import spec, so recbole (and its long list of
    dependencies) is never imported.
    """
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "dataset_example" / "ml-100k"
    return folder if (folder / "ml-100k.inter").is_file() else None


def _has_files(folder, name):
    """Whether ``folder`` holds the variant's ratings file (a folder in its place is an error)."""
    first = Path(folder) / {"ml-100k": "u.data", "ml-1m": "ratings.dat",
                            "ml-10m": "ratings.dat"}.get(name, "ratings.csv")
    if first.exists() and not first.is_file():
        _need(first)  # names the folder that stands where the file should be
    return first.is_file()


def load_movielens(name="ml-100k", data_dir=None):
    """Load a MovieLens variant as ``ratings, movies, users`` (see the module docstring).

    Parameters
    ----------
    name : str
        One of ``ml-100k``, ``ml-1m``, ``ml-10m``, ``ml-latest-small``, ``ml-latest``,
        ``ml-20m``, ``ml-25m``, ``ml-32m``.
    data_dir : str or Path, optional
        Folder holding the unzipped files (or its parent). If omitted: ``data/<name>/``,
        then (for ml-100k) the copy embedded in the RecBole wheel.

    Returns
    -------
    MovieLens
        ``ratings``, ``movies``, ``users`` frames; unpacks as a 3-tuple.

    Raises
    ------
    FileNotFoundError
        If no copy is found (the message names the three ways to get one).
    NotADirectoryError
        If ``data_dir`` is a file, e.g. the GroupLens zip itself (unzip it first).
    ValueError, PermissionError
        If a file is empty, cut off, unreadable or not in the variant's layout; the
        message names the file.
    """
    one_of(name, DATASETS, "MovieLens variant name")
    folder = REPO_DATA_DIR / name if data_dir is None else Path(data_dir)
    if data_dir is not None and folder.is_file():
        unzip = (f": unzip it first (python -m zipfile -e {folder} {folder.parent}) and pass "
                 f"the folder it makes, {folder.parent / ZIP_FOLDERS.get(name, name)}"
                 if zipfile.is_zipfile(folder) else "")
        raise NotADirectoryError(f"data_dir {folder} is a {'zip archive' if unzip else 'file'}, "
                                 f"not a folder holding the {name} files{unzip}")
    for inner in dict.fromkeys((name, ZIP_FOLDERS.get(name, name))):
        if data_dir is not None and (folder / inner).is_dir() and not _has_files(folder, name):
            folder = folder / inner  # accept the parent of the unzipped folder too
    if _has_files(folder, name):
        return READERS[name](folder)
    embedded = embedded_ml100k_dir() if data_dir is None and name == "ml-100k" else None
    if embedded is None:
        raise FileNotFoundError(_missing_message(name, folder))
    return read_recbole(embedded, "ml-100k")


def _missing_message(name, folder):
    embedded = ("install the embedded copy: pip install --no-deps recbole==1.2.1 (the Makefile "
                "does this)" if name == "ml-100k" else
                "(ml-100k only) the copy embedded in the recbole==1.2.1 wheel")
    zips = [z for z in (folder / f"{name}.zip", folder.parent / f"{name}.zip") if z.is_file()]
    found = (f"\nThere is {zips[0]}: unzip it there (python -m zipfile -e {zips[0]} "
             f"{zips[0].parent}), then load_movielens({name!r}, {str(zips[0].parent)!r})"
             if zips else "")
    return (f"MovieLens {name} not found in {folder}. Get it one of three ways:\n"
            f"1. download it: python -m ncf_helpers.data {name}  "
            f"(or download_movielens({name!r}, 'data'))\n"
            f"2. unzip {GROUPLENS_URL.format(name=name)} by hand so that its files are in "
            f"data/{name}/\n3. {embedded}{found}")


# -------------------------------------------------------------- your own interactions
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar")


def load_interactions(path, user, item, rating=None, timestamp=None, *, rating_range=None,
                      item_names=None, item_categories=None, duplicates="error", ids="auto",
                      sep=","):
    """Load a CSV or Parquet file of interactions whose columns you name.

    The result is the container :func:`load_movielens` returns, in the same schema, so
    splits, :class:`~ncf_helpers.prepare.PreparedSplit`, :class:`~ncf_helpers.encoding.IdEncoder`,
    training and recommending work on it unchanged. The names are MovieLens's: for other
    data ``movieId`` holds the item id and ``movies`` describes the items.

    Parameters
    ----------
    path : str or Path
        A CSV file (also ``.csv.gz`` and the like) or a Parquet file (told apart by its
        content, not its name; reading Parquet needs ``fastparquet`` or ``pyarrow``).
    user, item : str
        The columns holding the user and the item ids. Integer ids are kept as they are;
        text ids ("C-1042") are numbered 0..n-1 in sorted order of their labels, and the
        labels kept in ``user_labels``/``item_labels`` (and as item titles).
    rating : str, optional
        The column holding the feedback (stars, a quantity, a play count). None for
        implicit feedback: every interaction then gets ``rating`` 1.0.
    timestamp : str, optional
        The column holding when the interaction happened: seconds since 1970, or ISO 8601
        dates and times ("2024-03-05 14:22:00", naive ones taken as UTC). It comes out as
        int64 seconds. Without it every timestamp is 0, and leave-last-out then holds out
        each user's last row in file order.
    rating_range : (low, high), optional
        Inclusive bounds every rating must lie in, e.g. ``(1, 5)``. Default: any finite
        number.
    item_names, item_categories : str, optional
        Columns with each item's display name (the items' ``title``; default: its label)
        and its categories, ``|``-separated (``genres``; default: empty). Where an item's
        rows disagree, its first non-blank value wins.
    duplicates : {"error", "sum", "last"}
        What to do with a (user, item) pair that occurs more than once: refuse the file
        (default), add the ratings up (quantities, play counts; the latest timestamp is
        kept) or keep the latest row (by timestamp, then file order).
    ids : {"auto", "integer", "label"}
        ``"auto"``: integer ids when every id reads as an integer, labels when none does,
        an error when a column mixes both. ``"label"`` treats every id as a label, e.g.
        product codes "10002" and "85123A"; ``"integer"`` requires integers.
    sep : str
        The CSV separator.

    Returns
    -------
    MovieLens
        ``ratings`` (``userId``, ``movieId``, ``rating``, ``timestamp``, in file order),
        ``movies`` (indexed by ``movieId``: ``title``, ``genres``, ``year`` always missing),
        ``users`` None, and ``user_labels``/``item_labels``: for text ids, Series from
        the new integer id to the file's label; None for integer ids.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        If ``path`` is not a readable file.
    ValueError
        If the file is empty or not CSV/Parquet, a named column is missing, an id is
        missing or a column mixes integer and text ids, a rating is not a number or
        outside ``rating_range``, a timestamp is not a time, or a pair repeats (with
        ``duplicates="error"``); each message names the file, the column and a row.
    """
    columns = {"user": user, "item": item, "rating": rating, "timestamp": timestamp,
               "item_names": item_names, "item_categories": item_categories}
    for arg, column in columns.items():
        if column is not None or arg in ("user", "item"):
            instance(column, str, arg, f"the name of a column of {path}")
    named = [c for c in columns.values() if c is not None]
    repeated = sorted({c for c in named if named.count(c) > 1})
    if repeated:
        raise ValueError(f"column(s) {repeated} are named for more than one role "
                         f"({ {a: c for a, c in columns.items() if c in repeated} }); each "
                         "role needs its own column")
    rating_range = None if rating_range is None else bounds(rating_range, "rating_range")
    one_of(duplicates, ("error", "sum", "last"), "duplicates")
    one_of(ids, ("auto", "integer", "label"), "ids")
    path, head, _ = _bytes_of(path, "interactions file")
    frame = _read_table(path, head, named, sep)
    source = str(path)

    user_ids, user_labels = _ids_of(frame[user], user, source, ids, "userId")
    item_ids, item_labels = _ids_of(frame[item], item, source, ids, "movieId")
    out = pd.DataFrame({
        "userId": user_ids, "movieId": item_ids,
        "rating": (1.0 if rating is None
                   else _checked_ratings(frame[rating], rating, source, rating_range)),
        "timestamp": (0 if timestamp is None
                      else timestamps(frame[timestamp], f"{source}: column {timestamp!r}")),
    })
    if duplicates == "error":
        show = lambda u, i: (_label(user_labels, u), _label(item_labels, i))  # noqa: E731
        _refuse_duplicates(out, source, show, item="item", hint=": pass duplicates='sum' to "
                           "add their ratings up (quantities, counts) or duplicates='last' to "
                           "keep the latest")
    kept = _collapse(out, duplicates)
    movies = _items_frame(frame, out["movieId"], item_labels, item_names, item_categories)
    return MovieLens(kept, movies, None, user_labels, item_labels)


def _read_table(path, head, columns, sep):
    """The named ``columns`` of a CSV or Parquet file, as read (CSV: as text); ``head``
    is the file's first bytes."""
    if head.startswith(b"PAR1"):
        try:
            with warnings.catch_warnings():  # fastparquet's import asks pandas a deprecated option
                warnings.filterwarnings("ignore", "The 'future.infer_string' option")
                frame = pd.read_parquet(path)  # fastparquet's or pyarrow's reader
        except ImportError:
            raise ImportError(f"{path} is a Parquet file; reading it needs fastparquet (or "
                              "pyarrow): pip install fastparquet (pinned in requirements.txt)"
                              ) from None
        except Exception as exc:  # each engine has its own errors for a damaged file
            raise ValueError(f"{path} is not a readable Parquet file ({type(exc).__name__}: "
                             f"{exc}); is it cut off? Write it again") from None
        _require(frame.columns, columns, path)
        frame = frame[columns]
    else:
        compressed = path.suffix.lower() in _COMPRESSED
        if head.startswith(b"PK\x03\x04") and not compressed:
            raise ValueError(f"{path} is a zip archive (an Excel workbook?), not a CSV file: "
                             "export it as CSV or Parquet")
        if b"\0" in head and not compressed:
            raise ValueError(f"{path} is neither a CSV file nor a Parquet file (it holds NUL "
                             "bytes: UTF-16 text, or another binary format?): save it as UTF-8 "
                             "CSV or as Parquet")
        try:
            header = _csv(path, sep=sep, nrows=0).columns
            hint = (_separator_hint(_first_line(path), sep, 2)
                    if len(header) == 1 and not compressed else "")
            _require(header, columns, path, hint and hint + ": pass that separator as sep=")
            frame = _csv(path, sep=sep, usecols=columns, dtype=str, skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path} is empty (no header line)") from None
        except pd.errors.ParserError as exc:
            raise ValueError(f"{path} is not a valid CSV file with separator {sep!r} ({exc}); "
                             "pass sep= if it uses another") from None
    return non_empty(frame, str(path), "it has a header but no rows")


def _csv(path, **kwargs):
    """``pd.read_csv`` of UTF-8 text, or of text decoded as :func:`_text` does."""
    try:
        return pd.read_csv(path, **kwargs)
    except UnicodeDecodeError:
        return pd.read_csv(io.StringIO(_text(path, whole_lines=False)), **kwargs)


def _require(names, columns, path, fix=""):
    missing = [c for c in columns if c not in list(names)]
    if missing:
        raise ValueError(f"{path} has no column(s) {missing}; it has {list(names)}"
                         + (fix or ": name the columns as they are spelt in the file"))


def _ids_of(values, column, source, ids, role):
    """``(int64 ids, labels or None)`` of an id column (see ``load_interactions(ids=...)``)."""
    name = f"{source}: column {column!r}"
    missing = values.isna().to_numpy()
    if missing.any():
        raise ValueError(f"{name} has {int(missing.sum())} missing id(s), first at row "
                         f"{int(np.flatnonzero(missing)[0])}: fill or drop those rows")
    text = values.astype("str").str.strip()
    number = pd.to_numeric(text, errors="coerce")
    integer = (number.notna() & (number == np.floor(number))).to_numpy()
    if ids == "integer" or ids == "auto" and integer.all():
        # text goes through to_numeric, so "12345678901234567890123" is "too large", not text
        return integer_ids(values if values.dtype.kind in "iuf"
                           else number.where(number.notna(), text).to_numpy(), name), None
    if ids == "auto" and integer.any():
        first_int, first_text = np.flatnonzero(integer)[0], np.flatnonzero(~integer)[0]
        raise ValueError(f"{name} mixes integer ids ({int(integer.sum())}, e.g. "
                         f"{text.iloc[first_int]!r} at row {first_int}) and other ids "
                         f"({int((~integer).sum())}, e.g. {text.iloc[first_text]!r} at row "
                         f"{first_text}): if all are labels (product codes), pass ids='label'; "
                         "otherwise fix the rows that are not integers")
    codes, labels = pd.factorize(text, sort=True)
    return codes.astype(np.int64), pd.Series(np.asarray(labels), name=column,
                                             index=pd.RangeIndex(len(labels), name=role))


def _label(labels, value):
    return value if labels is None else labels.iloc[int(value)]


def _collapse(out, duplicates):
    """One row per (user, item) pair, in file order (a sum where its pair first occurs)."""
    if duplicates == "sum":
        out = out.groupby(["userId", "movieId"], sort=False, as_index=False).agg(
            rating=("rating", "sum"), timestamp=("timestamp", "max"))
    elif duplicates == "last":  # a stable sort keeps file order among equal times
        latest = out.sort_values("timestamp", kind="stable")
        out = out.loc[np.sort(latest.index[~latest.duplicated(["userId", "movieId"],
                                                              keep="last")])]
    return out.reset_index(drop=True)


def _items_frame(frame, item_ids, labels, names, categories):
    """The items frame: one row per item id, sorted, with title, genres and year."""
    ids = np.unique(item_ids.to_numpy())
    label = pd.Series(ids.astype(str) if labels is None else labels.loc[ids].to_numpy(),
                      index=ids, dtype="str")

    def first(column):  # each item's first non-blank value, NaN where it has none
        text = frame[column].astype("str").str.strip().replace("", np.nan)
        return text.groupby(item_ids.to_numpy()).first().reindex(ids)

    title = label if names is None else first(names).fillna(label)
    genres = "" if categories is None else first(categories).fillna("")
    return pd.DataFrame({"movieId": ids, "title": title.to_numpy(), "genres": genres,
                         "year": pd.array([pd.NA] * len(ids), dtype="Int64")},
                        index=ids).astype({"title": "str", "genres": "str"}).set_index("movieId")


# ------------------------------------------------------------------------- download
def _fetch(url, dest, timeout, desc):
    """Stream ``url`` into the open binary file ``dest`` with a progress bar."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm.wrapattr(dest, "write", total=total, desc=desc, leave=False) as out:
            shutil.copyfileobj(response, out)
    if total is not None and dest.tell() != total:
        raise OSError(f"download of {url} was interrupted: got {dest.tell()} of {total} bytes")


def _published_md5(url, timeout):
    buffer = io.BytesIO()
    _fetch(url + ".md5", buffer, timeout, "md5")
    match = re.search(rb"\b([0-9a-fA-F]{32})\b", buffer.getvalue())
    if match is None:
        raise ValueError(f"no MD5 found in {url}.md5")
    return match.group(1).decode().lower()


def download_movielens(name="ml-100k", data_dir=REPO_DATA_DIR, url=None, md5=None,
                       timeout=60):
    """Download and unzip a MovieLens variant from GroupLens into ``data_dir/<name>/``.

    The zip is streamed into a hidden temporary folder on the target's disk, its MD5
    checked, and only then unpacked there and renamed into place, so a failed,
    interrupted or corrupt download leaves nothing behind (not even new empty folders).

    Parameters
    ----------
    name : str
        The variant, e.g. ``"ml-100k"``.
    data_dir : str or Path
        Parent folder; the files land in ``data_dir/<name>/``.
    url : str, optional
        Override the GroupLens address (tests use a ``file://`` URL).
    md5 : str, optional
        Expected MD5 of the zip. Defaults to the pinned value, or else the ``.md5``
        file GroupLens publishes beside the zip.

    Returns
    -------
    Path
        The folder holding the unzipped files.
    """
    one_of(name, DATASETS, "MovieLens variant name")
    data_dir = Path(data_dir)
    target = data_dir / name
    if _has_files(target, name):
        return target
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} exists but does not hold the {name} files (a partial "
                              "copy?); move it away or delete it, then download again")
    url = url or GROUPLENS_URL.format(name=name)
    # Download and unpack in a hidden folder inside the nearest existing folder: it is on
    # the target's disk (so the final rename is atomic) and nothing is left if this fails.
    base = next(p for p in (data_dir, *data_dir.parents) if p.exists())
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=base) as tmp:
        tmp_zip, unzipped = Path(tmp) / f"{name}.zip", Path(tmp) / "unzipped"
        try:
            expected = (md5 or KNOWN_MD5.get(name) or _published_md5(url, timeout)).lower()
            with open(tmp_zip, "wb") as out:
                _fetch(url, out, timeout, name)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ConnectionError(f"could not download {url} ({exc}). Are you offline? "
                                  + _missing_message(name, target).split(". ", 1)[1]) from exc
        actual = hashlib.md5(tmp_zip.read_bytes()).hexdigest()
        if actual != expected:
            raise ValueError(f"checksum mismatch for {url}: MD5 {actual}, expected {expected}; "
                             "the file was deleted, try again")
        try:  # extracting checks each member's CRC
            with zipfile.ZipFile(tmp_zip) as archive:
                archive.extractall(unzipped)
        except zipfile.BadZipFile as exc:
            raise ValueError(f"downloaded file from {url} is not a valid zip ({exc})") from exc
        # GroupLens zips hold one top folder, named like the variant (see ZIP_FOLDERS).
        top = ZIP_FOLDERS.get(name, name)
        inner = unzipped / top if (unzipped / top).is_dir() else unzipped
        if not _has_files(inner, name):
            raise ValueError(f"the zip from {url} does not contain the {name} files")
        data_dir.mkdir(parents=True, exist_ok=True)
        os.replace(inner, target)
    return target


# --------------------------------------------------------------------------- subset
def subset(ratings, users=None, items=None):
    """Keep the ratings whose user and movie are in the given ids (the original's
    "ids below 1000" subset is ``subset(r, users=range(1000), items=range(1000))``).

    Raises ValueError if nothing is left, so an empty frame never reaches training.
    """
    require_columns(ratings, ["userId", "movieId"], "ratings")
    keep = np.ones(len(ratings), dtype=bool)
    for column, ids in (("userId", users), ("movieId", items)):
        if ids is not None:
            keep &= ratings[column].isin(np.asarray(list(ids))).to_numpy()
    if not keep.any():
        raise ValueError("subset is empty: no rating has both a user and a movie in the "
                         "ids you gave; check the ranges against ratings.userId/movieId")
    return ratings[keep].reset_index(drop=True)


if __name__ == "__main__":  # python -m ncf_helpers.data ml-1m [data_dir]
    import sys

    args = sys.argv[1:] or ["ml-100k"]
    print(download_movielens(args[0], *args[1:2]))
