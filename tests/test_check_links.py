"""Tests of tools/check_links.py: the offline check of a built book's internal links."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_links", ROOT / "tools" / "check_links.py")
check_links = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_links)


def _site(tmp_path, pages: dict[str, str]) -> Path:
    for name, body in pages.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")
    return tmp_path


def test_good_links_pass(tmp_path):
    site = _site(
        tmp_path,
        {
            "index.html": '<a href="book/ch1.html#fig-a">Fig. 1</a> <a href="#top">up</a> <p id="top"></p>'
            '<a href="https://example.org/missing">external, not fetched</a> <img src="_images/a.png">'
            '<a href="book/">folder</a> <a href="mailto:x@y">mail</a>',
            "book/ch1.html": '<figure id="fig-a"></figure><a href="../index.html">home</a><a name="old"></a>'
            '<a href="ch1.html#old">old-style anchor</a><a href="ch%201.html">quoted</a>',
            "book/ch 1.html": "",
            "book/index.html": "",
            "_images/a.png": "",
            # theme templates under _static are not pages, even with unresolved Jinja in them
            "_static/macros.html": "<script src=\"{{ pathto('x.js', 1) }}\"></script>",
        },
    )
    assert check_links.broken_links(site) == []
    assert check_links.main([str(site)]) == 0


def test_a_missing_page_and_a_missing_anchor_are_reported(tmp_path, capsys):
    site = _site(
        tmp_path,
        {
            "index.html": '<a href="book/gone.html">gone</a> <a href="book/ch1.html#fig-b">bad figure</a>'
            '<a href="#nowhere">bad local</a>',
            "book/ch1.html": '<figure id="fig-a"></figure>',
        },
    )
    assert check_links.broken_links(site) == [
        ("index.html", "#nowhere", "no anchor #nowhere in index.html"),
        ("index.html", "book/ch1.html#fig-b", "no anchor #fig-b in ch1.html"),
        ("index.html", "book/gone.html", "no such file"),
    ]
    assert check_links.main([str(site)]) == 1
    out = capsys.readouterr().out
    assert "index.html: book/gone.html: no such file" in out and "3 broken internal link(s) in 2 pages" in out


def test_a_folder_without_pages_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="root"):
        check_links.broken_links(tmp_path)
    with pytest.raises(FileNotFoundError, match="root"):
        check_links.broken_links(tmp_path / "absent")
