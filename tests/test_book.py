"""The HTML book (`make book`): every notebook has a page, links resolve, nothing is remote.

Builds the book once (about 10 s) and reads the pages as files: no browser, no network.
"""
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

import pytest

from tools import book


class Page(HTMLParser):
    """The ids, links and script/stylesheet sources of one HTML page."""

    def __init__(self, path):
        super().__init__()
        self.ids, self.links, self.scripts, self.styles = set(), [], [], []
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.styles.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.links.append(attrs["src"])


def is_remote(url):
    return urlsplit(url).scheme in ("http", "https") or url.startswith("//")


@pytest.fixture(scope="module")
def built():
    index = book.build()
    pages = {p: Page(p) for p in book.HTML.rglob("*.html")}
    return index, pages


def test_every_notebook_has_a_page_listed_in_the_table_of_contents(built):
    index, pages = built
    notebooks = book.pages()
    assert len(book.lessons()) >= 8
    toc = set(pages[index].links)
    for rel in notebooks:
        page = book.HTML / rel.with_suffix(".html")
        assert page in pages, f"no page for {rel}"
        assert rel.with_suffix(".html").as_posix() in toc, f"{rel} missing from the contents"


def test_lessons_come_first_then_their_solutions_in_order(built):
    index, pages = built
    order = [link for link in pages[index].links if link.startswith("notebooks/")]
    expected = [p.with_suffix(".html").as_posix() for p in book.pages()]
    assert [link for link in dict.fromkeys(order) if link in expected] == expected


def test_internal_links_and_anchors_resolve(built):
    _, pages = built
    broken = []
    for path, page in pages.items():
        if book.HTML / "_static" in path.parents:  # the theme's template fragments
            continue
        for link in page.links + page.scripts + page.styles:
            url = urlsplit(link)
            if url.scheme or link.startswith(("//", "mailto:", "data:")):
                continue
            if not url.path and url.fragment.endswith(".ipynb"):  # how myst leaves it
                broken.append(f"{path.relative_to(book.HTML)} -> {url.fragment}: "
                              "a notebook that is not in the book")
                continue
            target = (path.parent / unquote(url.path)).resolve() if url.path else path
            if not target.exists():
                broken.append(f"{path.relative_to(book.HTML)} -> {link}")
            elif url.fragment and target.suffix == ".html" and target in pages \
                    and url.fragment not in pages[target].ids:
                broken.append(f"{path.relative_to(book.HTML)} -> {link} (no such anchor)")
    assert not broken, "\n".join(broken)


def test_no_page_loads_a_remote_script_or_stylesheet(built):
    _, pages = built
    remote = [f"{p.relative_to(book.HTML)}: {src}" for p, page in pages.items()
              for src in page.scripts + page.styles if is_remote(src)]
    assert not remote, "\n".join(remote)


def test_math_is_typeset_by_the_local_mathjax(built):
    _, pages = built
    theory = book.HTML / "notebooks" / "03_theory.html"
    [mathjax] = [s for s in pages[theory].scripts if "mathjax" in s]
    assert (theory.parent / urlsplit(mathjax).path).resolve().is_file()
    assert (book.HTML / "_static" / "mathjax" / book.MATHJAX_ENTRY).stat().st_size > 1_000_000
    assert theory.read_text(encoding="utf-8").count('class="math') > 10


def test_search_index_covers_every_notebook(built):
    index = (book.HTML / "searchindex.js").read_text(encoding="utf-8")
    for rel in book.pages():
        assert rel.with_suffix("").as_posix() in index


def test_index_lists_solutions_as_their_own_part_only_when_there_are_some(tmp_path):
    (tmp_path / "notebooks" / "solutions").mkdir(parents=True)
    for name in ["02_b.ipynb", "01_a.ipynb"]:
        (tmp_path / "notebooks" / name).write_text("{}")
    text = book.index_text(tmp_path)
    assert text.index("notebooks/01_a") < text.index("notebooks/02_b")
    assert "Solutions" not in text
    (tmp_path / "notebooks" / "solutions" / "01_a_solutions.ipynb").write_text("{}")
    text = book.index_text(tmp_path)
    assert text.index("notebooks/02_b") < text.index(":caption: Solutions") \
        < text.index("notebooks/solutions/01_a_solutions")
