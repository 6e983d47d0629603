"""Sphinx extension of the book: a bibliography labelled author–year, as the text cites.

The text cites author–year (``bibtex_reference_style = "author_year"``), but pybtex's ``plain`` style labels the
bibliography [1], [2], ... This registers the pybtex formatting style ``plain_author_year``: ``plain``'s entries,
sorted by author, year and title, each labelled like the citations ("Frankle and Carbin, 2019"; "Ramanujan et
al., 2020" for three or more authors; a, b, ... after the year when one label repeats).
"""

from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle


def _last_names(entry) -> list[str]:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    # decode LaTeX accents ("Cand{\\`e}s" -> "Candès") and drop protective braces
    return [Text.from_latex(" ".join(person.last_names)).render_as("text") for person in people]


def _label(entry) -> str:
    names = _last_names(entry)
    year = entry.fields.get("year", "n.d.")
    if not names:
        return f"{entry.fields.get('title', entry.key)[:20]}, {year}"
    if len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {year}"


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        labels = [_label(entry) for entry in sorted_entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            else:
                yield label


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabelStyle
    default_sorting_style = SortingStyle


def setup(app):
    register_plugin("pybtex.style.formatting", "plain_author_year", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
