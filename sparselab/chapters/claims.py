r"""The claims registry: every number the book states as a finding, with the interval it must lie in.

``book/claims.yml`` is a list of claims, each a mapping with

``id``
    a short unique name (``lower-case-with-dashes``), quoted by the error when the claim fails;
``chapter``
    the notebook's stem (``learned_masks``, ``pruning``, ...);
``value``
    the name of a value the chapter glues (:func:`myst_nb.glue`), a number;
``interval``
    ``[low, high]``: the range the executed value must lie in for the sentence to stay true (either end may
    be ``null``, unbounded);
``sentence``
    the finding, one sentence, with ``{value}`` where the executed number goes (a format spec may follow:
    ``{value:.2f}``); other values the chapter glues may appear by name (``{cmp_soft_mse_low:.3f}``), e.g.
    the ends of the value's interval;
``source``
    the BibTeX key of the paper whose claim it tests, or ``null`` for the book's own finding;
``verdict``
    ``confirms``, ``refutes`` or ``qualifies`` (what the finding does to the source's claim), or ``finding``;
``figure`` (optional)
    the label of the figure that shows it (a ``{glue:figure}`` name), linked with ``{numref}``.

:func:`check_claims` compares a build's executed values with the registry and raises :class:`ClaimError`
naming every claim whose value left its interval (or is missing); :func:`findings_markdown` writes the
"Findings at a glance" page from the same registry and values, so the page can only say what the executed
numbers show.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import yaml

__all__ = [
    "VERDICTS",
    "ClaimError",
    "load_claims",
    "glued_values",
    "check_claims",
    "findings_markdown",
    "fill_claims",
]

#: What a finding can do to the claim of its source.
VERDICTS = ("confirms", "refutes", "qualifies", "finding")
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_KEYS = {"id", "chapter", "value", "interval", "sentence", "source", "verdict"}
_NUMPY_SCALAR = re.compile(r"^np\.(?:float|int|uint)\d*\((.*)\)$")


class ClaimError(ValueError):
    """A claim of ``book/claims.yml`` that the executed book no longer supports (or a malformed registry)."""


def _check_claim(i: int, claim) -> dict:
    if not isinstance(claim, dict):
        raise ClaimError(f"claims[{i}] must be a mapping, got {type(claim).__name__}")
    missing, unknown = _KEYS - set(claim), set(claim) - _KEYS - {"figure"}
    name = claim.get("id", f"claims[{i}]")
    if missing or unknown:
        raise ClaimError(f"claim {name!r}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    if not isinstance(claim["id"], str) or not _ID.match(claim["id"]):
        raise ClaimError(f"claim id {claim['id']!r} must be lower-case words joined by dashes")
    interval = claim["interval"]
    if not (isinstance(interval, list) and len(interval) == 2):
        raise ClaimError(f"claim {name!r}: interval must be [low, high], got {interval!r}")
    low, high = interval
    for end in (low, high):
        if end is not None and (isinstance(end, bool) or not isinstance(end, (int, float))):
            raise ClaimError(f"claim {name!r}: interval ends must be numbers or null, got {interval!r}")
    if low is not None and high is not None and low > high:
        raise ClaimError(f"claim {name!r}: interval low {low} is above high {high}")
    if claim["verdict"] not in VERDICTS:
        raise ClaimError(f"claim {name!r}: verdict must be one of {VERDICTS}, got {claim['verdict']!r}")
    if "{value" not in str(claim["sentence"]):
        raise ClaimError(f"claim {name!r}: the sentence must hold {{value}} where the number goes")
    return claim


def load_claims(path) -> list[dict]:
    """The checked list of claims in the YAML file ``path`` (ids unique, keys and intervals well formed)."""
    claims = yaml.safe_load(Path(path).read_text())
    if not isinstance(claims, list) or not claims:
        raise ClaimError(f"{path} must hold a non-empty list of claims")
    claims = [_check_claim(i, c) for i, c in enumerate(claims)]
    ids = [c["id"] for c in claims]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ClaimError(f"claim ids must be unique; repeated: {repeated}")
    return claims


def _parse(text: str):
    text = text.strip()
    match = _NUMPY_SCALAR.match(text)
    if match:
        text = match.group(1)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip("'\"")


def glued_values(notebook) -> dict:
    """``{name: value}`` of every value glued in the executed notebook at ``notebook`` (from its outputs).

    Numbers come back as Python numbers (``np.float64(0.5)`` as ``0.5``), strings as strings.
    """
    nb = json.loads(Path(notebook).read_text())
    values = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook", {})
            name = scrapbook.get("name")
            if name is None:
                continue
            data = output.get("data", {})
            # glue(display=False) stores the value under "<mime_prefix>text/plain"
            text = data.get(scrapbook.get("mime_prefix", "") + "text/plain", data.get("text/plain"))
            if text is not None:
                values[name] = _parse("".join(text) if isinstance(text, list) else text)
    return values


def _inside(value, interval) -> bool:
    low, high = interval
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def check_claims(claims: list[dict], values: dict[str, dict]) -> None:
    """Raise :class:`ClaimError` naming every claim whose value is missing or outside its interval.

    ``values`` maps a chapter to its glued values (:func:`glued_values`); claims of chapters absent from it are
    not checked (a build of some chapters only).
    """
    failures = []
    for claim in claims:
        chapter = values.get(claim["chapter"])
        if chapter is None:
            continue
        if claim["value"] not in chapter:
            failures.append(f"{claim['id']}: {claim['chapter']} glues no value {claim['value']!r}")
        elif not _inside(chapter[claim["value"]], claim["interval"]):
            failures.append(
                f"{claim['id']}: {claim['chapter']}'s {claim['value']} = {chapter[claim['value']]!r} "
                f"is outside the claim's interval {claim['interval']}"
            )
        else:
            try:
                _sentence(claim, chapter)
            except (KeyError, ValueError, IndexError) as err:
                failures.append(f"{claim['id']}: its sentence cannot be written from the glued values ({err!r})")
    if failures:
        raise ClaimError(f"{len(failures)} claim(s) no longer hold:\n  " + "\n  ".join(failures))


def _sentence(claim: dict, chapter: dict) -> str:
    return claim["sentence"].strip().format(**{**chapter, "value": chapter[claim["value"]]})


_VERDICT_WORDS = {"confirms": "confirms", "refutes": "refutes", "qualifies": "qualifies", "finding": ""}


def findings_markdown(claims: list[dict], values: dict[str, dict], titles: dict[str, str]) -> str:
    """The "Findings at a glance" page: per chapter (in ``titles`` order), one bullet per claim.

    Each bullet is the claim's sentence with its executed value, a link to the chapter, and what it does to
    the source's claim (e.g. "confirms {cite:t}`frankle2019lottery`"). Call :func:`check_claims` first.
    """
    lines = [
        "# Findings at a glance",
        "",
        "Each finding below is a number the chapters computed in this build, written into its sentence by the",
        "build itself from the claims registry (`book/claims.yml`), which also gives the interval every value must",
        "lie in: the build fails, naming the claim, when an executed value leaves its interval, so this page cannot",
        "state what the numbers no longer show. Where a finding tests the claim of a paper, the last words say",
        "whether it **confirms**, **refutes** or **qualifies** it. Intervals in the sentences are the book's one",
        "convention: a 95 % Student-$t$ interval over seeds, or a paired one for a difference between methods.",
        "",
    ]
    for chapter, title in titles.items():
        mine = [c for c in claims if c["chapter"] == chapter and chapter in values]
        if not mine:
            continue
        lines += [f"## {title}", ""]
        for claim in mine:
            sentence = _sentence(claim, values[chapter])
            verdict = _VERDICT_WORDS[claim["verdict"]]
            tail = f" *{verdict.capitalize()} {{cite:t}}`{claim['source']}`.*" if verdict and claim["source"] else ""
            where = f"{{numref}}`{claim['figure']}`, " if claim.get("figure") else ""
            lines.append(f"* {sentence.rstrip('.')} ({where}{{doc}}`chapter <{chapter}>`).{tail}")
        lines.append("")
    return "\n".join(lines)


_PLACEHOLDER = re.compile(r"\{\{\s*claim:([a-z0-9-]+)\s*\}\}")


def fill_claims(text: str, claims: list[dict], values: dict[str, dict]) -> str:
    """``text`` (a page's Markdown) with every ``{{ claim:ID }}`` replaced by that claim's sentence and value.

    Lets an authored page (the limitations) state a checked, executed number. An unknown id, or a claim whose
    chapter was not executed, is a :class:`ClaimError` naming it.
    """
    by_id = {c["id"]: c for c in claims}

    def sentence(match: re.Match) -> str:
        claim = by_id.get(match.group(1))
        if claim is None:
            raise ClaimError(f"the page refers to an unknown claim {match.group(1)!r}")
        if claim["chapter"] not in values:
            raise ClaimError(f"claim {claim['id']!r}: its chapter {claim['chapter']!r} was not executed")
        return _sentence(claim, values[claim["chapter"]])

    return _PLACEHOLDER.sub(sentence, text)
