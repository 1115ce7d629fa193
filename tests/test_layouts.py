"""The big releases' file layouts: ml-10m's '::' files in ml-10M100K/, ml-20m's CSVs."""
import hashlib
import zipfile

from ncf_helpers.cli import load_arrays
from ncf_helpers.data import download_movielens, load_movielens

ML10M_RATINGS = "1::122::5::838985046\n1::185::4.5::838983525\n2::122::3::868245777\n"
ML10M_MOVIES = "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action|Crime\n"


def test_ml10m_layout_reads_and_downloads_from_its_zip_folder(tmp_path):
    """ml-10m ships as ml-10M100K/ with '::' files; load_arrays encodes it."""
    folder = tmp_path / "ml-10M100K"
    folder.mkdir()
    (folder / "ratings.dat").write_text(ML10M_RATINGS)
    (folder / "movies.dat").write_text(ML10M_MOVIES)
    data = load_movielens("ml-10m", folder)
    assert data.ratings["rating"].tolist() == [5.0, 4.5, 3.0] and data.users is None
    assert data.movies.loc[185, "title"] == "Net, The (1995)"
    archive = tmp_path / "ml-10m.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("ratings.dat", "movies.dat"):
            z.write(folder / name, f"ml-10M100K/{name}")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    target = download_movielens("ml-10m", tmp_path / "data", url=archive.as_uri(), md5=md5)
    assert target == tmp_path / "data" / "ml-10m"
    users, items, ratings, n_users, n_items, encoder = load_arrays("ml-10m", target)
    assert (n_users, n_items) == (2, 2) and users.tolist() == [0, 0, 1]
    assert items.tolist() == [0, 1, 0] and ratings.tolist() == [5.0, 4.5, 3.0]
    assert encoder.item_ids.tolist() == [122, 185]


def test_ml20m_uses_the_csv_layout(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n")
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n2,Jumanji (1995),Adventure\n")
    assert load_movielens("ml-20m", tmp_path).ratings["rating"].tolist() == [3.5]
