"""Check every internal link of a built HTML book: the target file exists and so does its anchor.

    python tools/check_links.py _build/site/_build/html

An internal link is an ``href`` or ``src`` (of ``a``, ``link``, ``img``, ``script``, ``source``) that is not
absolute (``http:``, ``https:``, ``mailto:``, ``data:``, ``javascript:``, ``//host``): a path relative to
the page, a page-local ``#anchor``, or both. A link is broken when the file it names does not exist under the
book, or when it names an anchor that no element of the target page carries as ``id`` (or an old-style
``<a name=...>``). External links are not fetched: the book must build offline. Exits 1 and lists every broken
link (page, link, reason) when there is one, 0 otherwise. ``make book`` runs it on the built site.
"""

from __future__ import annotations

import argparse
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

EXTERNAL = ("http:", "https:", "mailto:", "data:", "javascript:", "ftp:", "tel:")
LINKING = {"a": "href", "link": "href", "img": "src", "script": "src", "source": "src", "iframe": "src"}


class _Page(HTMLParser):
    """The ids and the internal links of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        attribute = LINKING.get(tag)
        target = attrs.get(attribute) if attribute else None
        if target and not target.lower().startswith(EXTERNAL) and not target.startswith("//"):
            self.links.append(target)


def _is_asset(relative: Path) -> bool:
    """Theme files (``_static/``: Jinja templates named .html) and page sources (``_sources/``) are no pages."""
    return relative.parts[0] in ("_static", "_sources", "_images")


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def broken_links(root) -> list[tuple[str, str, str]]:
    """Every broken internal link under the HTML folder ``root``, as (page, link, reason), sorted.

    Pages are the ``.html`` files outside ``_static/``, ``_sources/`` and ``_images/`` (theme templates and
    copies, not pages). Raises :class:`FileNotFoundError` when ``root`` holds no page.
    """
    root = Path(root)
    pages = sorted(p for p in root.rglob("*.html") if not _is_asset(p.relative_to(root))) if root.is_dir() else []
    if not pages:
        raise FileNotFoundError(f"root must be a folder of built HTML pages; found none under {root}")
    parsed: dict[Path, _Page] = {}

    def page(path: Path) -> _Page:
        if path not in parsed:
            parsed[path] = _parse(path)
        return parsed[path]

    broken = []
    for source in pages:
        for link in page(source).links:
            parts = urlsplit(link)
            name = source.relative_to(root).as_posix()
            target = (source.parent / unquote(parts.path)).resolve() if parts.path else source.resolve()
            if parts.path and target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append((name, link, "no such file"))
                continue
            if parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in page(target).ids:
                broken.append((name, link, f"no anchor #{unquote(parts.fragment)} in {target.name}"))
    return sorted(set(broken))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="check the internal links of a built HTML book (offline)")
    p.add_argument("root", type=Path, help="the built HTML folder, e.g. _build/site/_build/html")
    args = p.parse_args(argv)
    broken = broken_links(args.root)
    n_pages = sum(1 for p in args.root.rglob("*.html") if not _is_asset(p.relative_to(args.root)))
    for source, link, reason in broken:
        print(f"{source}: {link}: {reason}")
    print(f"{len(broken)} broken internal link(s) in {n_pages} pages under {args.root}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
