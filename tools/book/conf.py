"""Sphinx configuration of the HTML book (used by ``python -m tools.book``)."""
from pathlib import Path

project = "Neural Collaborative Filtering, step by step"

extensions = ["myst_nb"]
# The committed outputs are the book's outputs: never execute a notebook here.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# Links to raw <a id="..."> anchors (lesson 00's bugs) resolve in the HTML, but MyST cannot
# see such ids while it reads; tests/test_book.py checks every link and anchor of the pages.
suppress_warnings = ["myst.xref_missing"]
exclude_patterns = ["_static", "**/.ipynb_checkpoints"]

html_theme = "sphinx_book_theme"
html_title = project
# Staged beside the notebooks by tools/book/__init__.py (this file is used with -c).
html_static_path = [str(Path(__file__).resolve().parents[2] / "build" / "book" / "src" / "_static")]
html_css_files = ["book.css"]  # code wraps at the column width (tools/book/book.css)
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "footer_content_items": [],
    "navbar_persistent": [],  # search lives in the sidebar (and Ctrl+K), not in a second bar
}
html_show_copyright = False
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False

# MathJax 3 from the local copy, relative to _static/: nothing is fetched from the network.
mathjax_path = "mathjax/tex-svg-full.js"
