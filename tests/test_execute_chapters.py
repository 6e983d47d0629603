"""Tests of tools/execute_chapters.py that run no chapter: the repository buttons of a published copy."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))  # as when run as a script: it imports its sibling tools/findings.py
_spec = importlib.util.spec_from_file_location("execute_chapters", ROOT / "tools" / "execute_chapters.py")
execute_chapters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute_chapters)


def test_committed_config_has_no_repository_buttons():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "repository" not in config and "launch_buttons" not in config
    assert config["html"]["use_repository_button"] is False


def test_with_repository_adds_repository_issues_and_launch_buttons():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    out = execute_chapters.with_repository(config, "https://github.com/example/sparselab/")
    assert out["repository"] == {"url": "https://github.com/example/sparselab", "branch": "main", "path_to_book": "."}
    assert out["html"]["use_repository_button"] is True and out["html"]["use_issues_button"] is True
    assert out["html"]["home_page_in_navbar"] == config["html"]["home_page_in_navbar"]  # the rest is kept
    assert out["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert out["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert "repository" not in config  # the input is not changed
    assert out["sphinx"] == config["sphinx"]


def test_stage_writes_the_repository_into_the_staged_config(tmp_path):
    execute_chapters.stage(tmp_path / "src", "https://example.org/repo")
    staged = yaml.safe_load((tmp_path / "src" / "_config.yml").read_text())
    assert staged["repository"]["url"] == "https://example.org/repo"
    assert (tmp_path / "src" / "book" / "intro.md").exists()
    execute_chapters.stage(tmp_path / "plain")
    assert (tmp_path / "plain" / "_config.yml").read_text() == (ROOT / "_config.yml").read_text()


@pytest.mark.parametrize("url", ["github.com/x/y", "", "ftp://x"])
def test_a_repository_that_is_no_http_url_is_refused_before_any_chapter_runs(url, tmp_path):
    with pytest.raises(ValueError, match="repository"):
        execute_chapters.with_repository({}, url)
    if url:
        with pytest.raises(ValueError, match="repository"):
            execute_chapters.main(["--out", str(tmp_path / "x"), "--repository", url])
        assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_jobs_below_one_are_refused_before_anything_is_staged(jobs, tmp_path, capsys):
    with pytest.raises(SystemExit):
        execute_chapters.main(["--out", str(tmp_path / "x"), "--jobs", jobs])
    assert "--jobs must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- the execution cache
def _tree(root: Path) -> None:
    """A miniature repository: two chapters, a package, data and requirements (what a cache key covers)."""
    (root / "book").mkdir(parents=True)
    for name in ("one", "two"):
        (root / "book" / f"{name}.ipynb").write_text(f'{{"cells": [], "name": "{name}"}}')
    (root / "_config.yml").write_text("title: t\n")
    (root / "_toc.yml").write_text("root: book/one\n")
    (root / "sparselab").mkdir()
    (root / "sparselab" / "core.py").write_text("x = 1\n")
    (root / "data").mkdir()
    (root / "data" / "grid.json").write_text("{}")
    (root / "requirements.txt").write_text("torch==2.13.0\n")


@pytest.fixture
def tree(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    _tree(root)
    monkeypatch.setattr(execute_chapters, "ROOT", root)
    monkeypatch.setattr(execute_chapters, "_commit", lambda: "abc1234")
    runs = []

    def fake_execute(nb, target, params, kernel):
        runs.append(nb.stem)
        target.write_text(f"executed {nb.stem} with {params}")
        return 1.5

    monkeypatch.setattr(execute_chapters, "execute_one", fake_execute)
    return root, runs


def _build(root: Path, *extra: str) -> dict:
    assert execute_chapters.main(["--out", str(root / "out"), "--cache", str(root / "cache"), "-j", "1", *extra]) == 0
    return json.loads((root / "out" / "timings.json").read_text())


def test_unchanged_chapters_are_reused_and_a_changed_one_re_executes(tree):
    root, runs = tree
    first = _build(root)
    assert sorted(runs) == ["one", "two"] and first["cached"] == {}
    runs.clear()
    again = _build(root)
    assert runs == []  # nothing changed: nothing executed
    assert set(again["cached"]) == {"book/one.ipynb", "book/two.ipynb"}
    assert again["cached"]["book/one.ipynb"]["commit"] == "abc1234" and again["seconds"]["book/one.ipynb"] == 1.5
    assert (root / "out" / "book" / "one.ipynb").read_text() == "executed one with {}"  # the cached notebook
    (root / "book" / "two.ipynb").write_text('{"cells": [1]}')  # edit one chapter: only it re-executes
    _build(root)
    assert runs == ["two"]
    runs.clear()
    _build(root, "-p", "seeds", "[0, 1]")  # new parameters: every chapter
    assert sorted(runs) == ["one", "two"]
    runs.clear()
    _build(root, "--force")
    assert sorted(runs) == ["one", "two"]
    assert len(list((root / "cache").glob("one-*.ipynb"))) == 1  # older entries of a chapter are dropped


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "sparselab" / "core.py").write_text("x = 2\n"),
        lambda root: (root / "sparselab" / "new.py").write_text(""),
        lambda root: (root / "data" / "grid.json").write_text('{"a": 1}'),
        lambda root: (root / "requirements.txt").write_text("torch==2.14.0\n"),
    ],
    ids=["package source", "new module", "shipped data", "requirements"],
)
def test_a_change_to_what_chapters_depend_on_re_executes_them(tree, change):
    root, runs = tree
    _build(root)
    runs.clear()
    change(root)
    _build(root)
    assert sorted(runs) == ["one", "two"]


def test_no_cache_neither_reuses_nor_keeps(tree):
    root, runs = tree
    _build(root, "--no-cache")
    _build(root, "--no-cache")
    assert sorted(runs) == ["one", "one", "two", "two"] and not (root / "cache").exists()


def test_a_torn_cache_entry_is_ignored(tree):
    root, runs = tree
    _build(root)
    for meta in (root / "cache").glob("*.json"):
        meta.write_text("{not json")
    runs.clear()
    _build(root)
    assert sorted(runs) == ["one", "two"]


def test_execute_one_replaces_the_target_only_when_the_chapter_finished(tmp_path, monkeypatch):
    target = tmp_path / "ch.ipynb"
    target.write_text("previous build")

    def failing(source, output, **kwargs):
        Path(output).write_text("half executed")
        raise RuntimeError("cell 3 failed")

    monkeypatch.setattr(execute_chapters.pm, "execute_notebook", failing)
    with pytest.raises(RuntimeError, match="cell 3"):
        execute_chapters.execute_one(tmp_path / "src.ipynb", target, {}, "python3")
    assert target.read_text() == "previous build"  # never half-written
    assert (tmp_path / "ch.failed.ipynb").read_text() == "half executed"

    def working(source, output, **kwargs):
        Path(output).write_text("executed")

    monkeypatch.setattr(execute_chapters.pm, "execute_notebook", working)
    execute_chapters.execute_one(tmp_path / "src.ipynb", target, {}, "python3")
    assert target.read_text() == "executed" and sorted(p.name for p in tmp_path.iterdir()) == [
        "ch.failed.ipynb",
        "ch.ipynb",
    ]
