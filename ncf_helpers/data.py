"""Load MovieLens into one schema, whatever the source.

Every loader returns the same frames:

``ratings``
    One row per rating: ``userId`` (int64), ``movieId`` (int64), ``rating`` (float64),
    ``timestamp`` (int64, seconds since the epoch), in file order.
``movies``
    Indexed by ``movieId`` (int64): ``title`` (str, as GroupLens prints it, e.g.
    ``"Toy Story (1995)"``), ``genres`` (str, ``"Animation|Children's|Comedy"``;
    ``"(no genres listed)"`` when there are none) and ``year`` (nullable Int64).
``users``
    Indexed by ``userId`` (int64): ``age`` (int64), ``gender`` (``"M"``/``"F"``),
    ``occupation`` (str). Only ml-100k and ml-1m have it; other variants give ``None``.

Where the files are looked for, in order: an explicit ``data_dir``; ``data/<name>/`` in
this repository; the copy of ml-100k embedded in the RecBole 1.2.1 wheel (installed with
``pip install --no-deps recbole==1.2.1``, read without importing recbole). If none has
the files, the error names the three ways to get them.
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
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .checks import integer_ids, non_empty, one_of, require_columns

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


@dataclass
class MovieLens:
    """The three frames of a MovieLens variant (``users`` is None where absent)."""

    ratings: pd.DataFrame
    movies: pd.DataFrame
    users: pd.DataFrame | None = None

    def __iter__(self):  # allows ``ratings, movies, users = load_movielens()``
        return iter((self.ratings, self.movies, self.users))


# --------------------------------------------------------------------------- checks
def _integer_ids(values, column, source):
    """An id column as int64, refusing NaN, text, fractions and ids beyond int64."""
    return integer_ids(values, f"{source}: column {column!r}")


def validate_ratings(ratings, source="ratings", rating_range=(0.5, 5.0)):
    """Check a ratings frame and return it in the canonical schema.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Must have ``userId``, ``movieId`` and ``rating``; ``timestamp`` is optional
        (filled with 0).
    source : str
        What to call the frame in error messages (e.g. the file it came from).
    rating_range : tuple of float
        Inclusive bounds a rating must lie in (MovieLens: 0.5 to 5 stars).

    Raises
    ------
    ValueError
        On no rows, a missing column, non-integer ids, NaN or out-of-range ratings, or
        a duplicated (userId, movieId) pair. Duplicates are an error, not silently
        dropped: which rating to keep is the caller's decision.
    """
    require_columns(ratings, ["userId", "movieId", "rating"], source)
    non_empty(ratings, source, "it has no rating rows (a header-only file?); download it again")
    out = pd.DataFrame({
        "userId": _integer_ids(ratings["userId"], "userId", source),
        "movieId": _integer_ids(ratings["movieId"], "movieId", source),
        "rating": pd.to_numeric(ratings["rating"], errors="coerce").astype("float64"),
        "timestamp": (_integer_ids(ratings["timestamp"], "timestamp", source)
                      if "timestamp" in ratings.columns else 0),
    })
    bad = ~out["rating"].between(*rating_range)  # NaN (missing, or not a number) is never between
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{source}: {int(bad.sum())} rating(s) are missing or not numbers, or "
                         f"outside the scale {list(rating_range)}, e.g. "
                         f"{ratings['rating'].iloc[row]} at row {row}; fix or drop those rows")
    dup = out.duplicated(["userId", "movieId"])
    if dup.any():
        user, movie = out.loc[dup, ["userId", "movieId"]].to_numpy()[0]
        raise ValueError(f"{source}: {int(dup.sum())} duplicated (userId, movieId) pair(s), e.g. "
                         f"user {user}, movie {movie}; keep one rating per pair, e.g. the latest: "
                         "ratings.sort_values('timestamp').drop_duplicates(['userId', 'movieId'], "
                         "keep='last')")
    return out.reset_index(drop=True)


def _movies_frame(movie_ids, titles, genres, source, years=None):
    """The movies frame; ``years`` default to the year in each title, "Heat (1995)"."""
    ids = _integer_ids(movie_ids, "movieId", source)
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
    return pd.DataFrame({"userId": _integer_ids(user_ids, "userId", source),
                         "age": _integer_ids(ages, "age", source),
                         "gender": pd.Series(genders, dtype="str").to_numpy(),
                         "occupation": pd.Series(occupations, dtype="str").to_numpy()}
                        ).set_index("userId")


def _need(path):
    if path.exists() and not path.is_file():
        raise IsADirectoryError(f"{path} is a folder, not a file: put the MovieLens file "
                                f"{path.name} there instead")
    if not path.is_file():
        raise FileNotFoundError(f"expected MovieLens file {path} does not exist")
    return path


def _text(path):
    """The file's text: UTF-8 if it decodes as such, else latin-1 (GroupLens' encoding).

    Real latin-1 titles ("Café" as byte E9) are never valid UTF-8, so re-saved UTF-8
    copies and the originals both read right.
    """
    raw = _need(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _dat(path, columns):
    """The fields of a ``::``-separated ml-1m/ml-10m ``.dat`` file, as text columns."""
    rows = [line.split("::") for line in _text(path).splitlines() if line.strip()]
    bad = [i for i, r in enumerate(rows) if len(r) != len(columns)]
    if bad:
        raise ValueError(f"{path}: line {bad[0] + 1} does not have {len(columns)} "
                         f"'::'-separated fields {columns}")
    return pd.DataFrame(rows, columns=columns)


def _movies_dat(path):
    movies = _dat(path, ["movieId", "title", "genres"])
    return _movies_frame(movies.movieId, movies.title, movies.genres, str(path))


def _read_csv(path, sniff=False, ncols=None, **kwargs):
    """``pd.read_csv`` of a MovieLens file, naming it if it is empty, garbled or has other
    than ``ncols`` columns.

    ``sniff`` decodes titles as :func:`_text` does; numeric files stream from disk.
    """
    source = io.StringIO(_text(path)) if sniff else _need(path)
    try:
        frame = pd.read_csv(source, **kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: download it again") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path} is not a valid MovieLens file ({exc})") from None
    if ncols is not None and frame.shape[1] != ncols:
        raise ValueError(f"{path}: expected {ncols} columns separated by {kwargs['sep']!r}, "
                         f"found {frame.shape[1]}; download it again")
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


def read_ml10m(folder):
    """Read the ml-10m layout (zip folder ``ml-10M100K``): ``::``-separated
    ``ratings.dat`` and ``movies.dat`` as in ml-1m, without ``users.dat``."""
    folder = Path(folder)
    path = folder / "ratings.dat"
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
    first = {"ml-100k": "u.data", "ml-1m": "ratings.dat", "ml-10m": "ratings.dat"}.get(
        name, "ratings.csv")
    return (Path(folder) / first).exists() and _need(Path(folder) / first).is_file()


def load_movielens(name="ml-100k", data_dir=None):
    """Load a MovieLens variant as ``ratings, movies, users`` (see the module docstring).

    Parameters
    ----------
    name : str
        One of ``ml-100k``, ``ml-1m``, ``ml-10m``, ``ml-latest-small``, ``ml-latest``,
        ``ml-20m``, ``ml-25m``, ``ml-32m``.
    data_dir : str or Path, optional
        Folder holding the unzipped files. If omitted: ``data/<name>/``, then (for
        ml-100k) the copy embedded in the RecBole wheel.

    Returns
    -------
    MovieLens
        ``ratings``, ``movies``, ``users`` frames; unpacks as a 3-tuple.
    """
    one_of(name, DATASETS, "MovieLens variant name")
    folder = REPO_DATA_DIR / name if data_dir is None else Path(data_dir)
    if data_dir is not None and (folder / name).is_dir() and not _has_files(folder, name):
        folder = folder / name  # accept the parent of the unzipped folder too
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
    return (f"MovieLens {name} not found in {folder}. Get it one of three ways:\n"
            f"1. download it: python -m ncf_helpers.data {name}  "
            f"(or download_movielens({name!r}, 'data'))\n"
            f"2. unzip {GROUPLENS_URL.format(name=name)} by hand so that its files are in "
            f"data/{name}/\n3. {embedded}")


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
