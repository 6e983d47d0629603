"""Tests of the claims registry (sparselab.chapters.claims, book/claims.yml, tools/findings.py)."""

from __future__ import annotations

import json
import re
import string
import sys
from pathlib import Path

import pytest

from sparselab.chapters import claims as C

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTERS = (
    "learned_masks",
    "pruning",
    "thresholding",
    "phase_transitions",
    "generalisation",
    "recovery",
    "recovery_beyond",
    "factorization",
)


def _claim(**kw):
    base = dict(
        id="a-claim",
        chapter="ch",
        value="x",
        interval=[0.0, 1.0],
        sentence="x is {value:.2f}.",
        source=None,
        verdict="finding",
    )
    return {**base, **kw}


def _notebook(tmp_path, outputs, name="ch"):
    nb = {"cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": outputs}], "metadata": {}}
    path = tmp_path / f"{name}.ipynb"
    path.write_text(json.dumps(nb))
    return path


def _glued(name, text, hidden=True):
    prefix = "application/papermill.record/" if hidden else ""
    return {
        "output_type": "display_data",
        "metadata": {"scrapbook": {"name": name, "mime_prefix": prefix}},
        "data": {prefix + "text/plain": text},
    }


# ----------------------------------------------------------------------------- the registry itself
def _glue_patterns(chapter: str) -> list[re.Pattern]:
    """Regexes of every name the chapter's notebook glues (f-string names become wildcards)."""
    source = "\n".join("".join(c["source"]) for c in json.loads((BOOK / f"{chapter}.ipynb").read_text())["cells"])
    names = re.findall(r"glue\(\s*f?[\"']([^\"']+)[\"']", source)
    for body in re.findall(r"glue_values\(\s*(?:dict\()?\{?([^)]*)", source):  # publish.glue_values({...})
        names += re.findall(r"[\"']([A-Za-z_]\w*)[\"']\s*:", body) + re.findall(r"\b([A-Za-z_]\w*)=", body)
    return [re.compile("^" + re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(n)) + "$") for n in names]


def test_registry_has_at_least_25_well_formed_claims_from_every_chapter():
    claims = C.load_claims(BOOK / "claims.yml")
    assert len(claims) >= 25
    assert {c["chapter"] for c in claims} == set(CHAPTERS)
    keys = set(re.findall(r"^@\w+\{([^,]+),", (BOOK / "references.bib").read_text(), flags=re.M))
    for claim in claims:
        assert claim["source"] is None or claim["source"] in keys, claim["id"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_name_a_claim_uses_is_glued_by_its_chapter(chapter):
    patterns = _glue_patterns(chapter)
    claims = [c for c in C.load_claims(BOOK / "claims.yml") if c["chapter"] == chapter]
    for claim in claims:
        fields = {f for _, f, _, _ in string.Formatter().parse(claim["sentence"]) if f} - {"value"}
        for name in {claim["value"], *fields}:
            assert any(p.match(name) for p in patterns), f"{claim['id']}: {chapter} never glues {name!r}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_figure_a_claim_links_is_a_placed_figure_of_its_chapter(chapter):
    source = (BOOK / f"{chapter}.ipynb").read_text()
    glued = set(re.findall(r'glue_figure\(\s*\\"([^\\"]+)\\"', source))
    placed = set(re.findall(r":name: (fig-[\w-]+)", source))
    claims = [c for c in C.load_claims(BOOK / "claims.yml") if c["chapter"] == chapter]
    linked = [c for c in claims if c.get("figure")]
    assert len(linked) >= len(claims) - 1, "every finding but at most one per chapter links the figure showing it"
    for claim in linked:
        assert claim["figure"] in glued and claim["figure"] in placed, f"{claim['id']}: no figure {claim['figure']!r}"


# ----------------------------------------------------------------------------- loading and checking
@pytest.mark.parametrize(
    "change, words",
    [
        ({"interval": [0, "1e-10"]}, "numbers or null"),
        ({"interval": [2.0, 1.0]}, "above high"),
        ({"interval": [0.0]}, "[low, high]"),
        ({"verdict": "proves"}, "verdict must be one of"),
        ({"sentence": "no number here"}, "{value}"),
        ({"id": "Bad Id"}, "lower-case"),
        ({"extra": 1}, "unknown keys ['extra']"),
    ],
)
def test_malformed_claims_are_rejected_with_the_reason(tmp_path, change, words):
    import yaml

    path = tmp_path / "claims.yml"
    path.write_text(yaml.safe_dump([_claim(**change)]))
    with pytest.raises(C.ClaimError) as info:
        C.load_claims(path)
    assert words in str(info.value)


def test_duplicate_ids_are_rejected(tmp_path):
    import yaml

    path = tmp_path / "claims.yml"
    path.write_text(yaml.safe_dump([_claim(), _claim(value="y")]))
    with pytest.raises(C.ClaimError, match=r"repeated: \['a-claim'\]"):
        C.load_claims(path)


def test_glued_values_parses_numbers_strings_and_numpy_scalars(tmp_path):
    path = _notebook(
        tmp_path,
        [
            _glued("a", "np.float64(0.25)"),
            _glued("b", "7"),
            _glued("c", "'IHT and IMP'"),
            _glued("d", "1e-12", hidden=False),
            {"output_type": "stream", "name": "stdout", "text": "noise"},
        ],
    )
    assert C.glued_values(path) == {"a": 0.25, "b": 7, "c": "IHT and IMP", "d": 1e-12}


@pytest.mark.parametrize(
    "value, holds",
    [(0.5, True), (0.0, True), (1.0, True), (1.0000001, False), (-0.1, False), (float("nan"), False), ("0.5", False)],
)
def test_check_claims_enforces_the_interval(value, holds):
    claims = [_claim()]
    if holds:
        C.check_claims(claims, {"ch": {"x": value}})
    else:
        with pytest.raises(C.ClaimError, match="a-claim"):
            C.check_claims(claims, {"ch": {"x": value}})


def test_check_claims_names_every_failure_and_skips_chapters_not_built():
    claims = [
        _claim(id="too-big", value="x"),
        _claim(id="missing", value="y"),
        _claim(id="open-ended", value="x", interval=[None, None]),
        _claim(id="bad-sentence", value="z", sentence="{value} and {nowhere}"),
        _claim(id="elsewhere", chapter="other"),
    ]
    with pytest.raises(C.ClaimError) as info:
        C.check_claims(claims, {"ch": {"x": 5.0, "z": 0.5}})
    message = str(info.value)
    assert message.startswith("3 claim(s) no longer hold")
    for name in ("too-big", "missing", "bad-sentence"):
        assert name in message
    assert "open-ended" not in message and "elsewhere" not in message


def test_findings_markdown_writes_the_executed_value_into_the_sentence():
    claims = [
        _claim(sentence="x is {value:.2f} (at most {hi:.1f}).", source="frankle2019lottery", verdict="refutes"),
        _claim(id="b", figure="fig-x"),
    ]
    text = C.findings_markdown(claims, {"ch": {"x": 0.123, "hi": 0.5}}, {"ch": "A chapter"})
    assert "## A chapter" in text
    assert "* x is 0.12 (at most 0.5) ({doc}`chapter <ch>`). *Refutes {cite:t}`frankle2019lottery`.*" in text
    assert "({numref}`fig-x`, {doc}`chapter <ch>`)." in text


def test_findings_tool_fails_naming_the_claim_and_writes_nothing(tmp_path, monkeypatch):
    import yaml

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import findings
    finally:
        sys.path.pop(0)
    src = tmp_path / "src"
    (src / "book").mkdir(parents=True)
    (src / "_toc.yml").write_text(
        yaml.safe_dump({"root": "book/intro", "parts": [{"chapters": [{"file": "book/ch"}]}]})
    )
    nb = _notebook(src / "book", [_glued("x", "0.5")])
    nb_json = json.loads(nb.read_text())
    nb_json["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": "# My chapter\n"})
    nb.write_text(json.dumps(nb_json))
    registry = tmp_path / "claims.yml"
    registry.write_text(yaml.safe_dump([_claim(interval=[0.6, 1.0])]))
    assert findings.main([str(src), "--claims", str(registry)]) == 1
    assert not (src / "book" / "findings.md").exists()
    (src / "book" / "repro.md").write_text("# Build\n\n{{ build:provenance }}\n\n{{ claim:a-claim }}\n")
    (src / "timings.json").write_text(json.dumps({"seconds": {"book/ch.ipynb": 12.5}, "parameters": {}}))
    registry.write_text(yaml.safe_dump([_claim(interval=[0.4, 1.0])]))
    assert findings.main([str(src), "--claims", str(registry)]) == 0
    repro = (src / "book" / "repro.md").read_text()
    cells = json.loads(nb.read_text())["cells"]
    assert cells[0]["source"] == "# My chapter\n" and "executed in 12 s at its default parameters" in cells[1]["source"]
    assert "* commit: `" in repro and "| {doc}`My chapter <ch>` | 12.5 |" in repro and "x is 0.50." in repro
    page = (src / "book" / "findings.md").read_text()
    assert "## My chapter" in page and "x is 0.50" in page


def test_provenance_says_which_chapters_came_from_the_execution_cache(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import findings
    finally:
        sys.path.pop(0)
    timings = {
        "seconds": {"book/a.ipynb": 10.0, "book/b.ipynb": 20.0},
        "parameters": {},
        "jobs": 2,
        "cached": {"book/b.ipynb": {"commit": "abc1234", "date": "2026-12-01 10:00 UTC"}},
    }
    (tmp_path / "timings.json").write_text(json.dumps(timings))
    text = findings.provenance_markdown(tmp_path, {"a": "Chapter A", "b": "Chapter B"})
    assert "| {doc}`Chapter A <a>` | 10.0 | in this build |" in text
    assert "| {doc}`Chapter B <b>` | 20.0 | at commit `abc1234`, 2026-12-01 10:00 UTC (reused from the" in text
    assert "| total | 30.0 | 2 chapter(s) at a time |" in text


def test_fill_claims_writes_the_sentence_and_rejects_unknown_ids():
    claims = [_claim(id="one", sentence="x is {value:.1f}.")]
    text = "Before. {{ claim:one }} After {{claim:one}}."
    assert C.fill_claims(text, claims, {"ch": {"x": 0.25}}) == "Before. x is 0.2. After x is 0.2.."
    with pytest.raises(C.ClaimError, match="unknown claim 'two'"):
        C.fill_claims("{{ claim:two }}", claims, {"ch": {"x": 0.25}})
    with pytest.raises(C.ClaimError, match="was not executed"):
        C.fill_claims("{{ claim:one }}", claims, {})


def test_every_claim_an_authored_page_quotes_exists():
    ids = {c["id"] for c in C.load_claims(BOOK / "claims.yml")}
    quoted = set()
    for page in BOOK.glob("*.md"):
        quoted |= set(re.findall(r"\{\{\s*claim:([a-z0-9-]+)\s*\}\}", page.read_text()))
    assert quoted, "the limitations page quotes no claim"
    assert quoted <= ids, sorted(quoted - ids)
