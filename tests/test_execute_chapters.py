"""Tests of tools/execute_chapters.py that run no chapter: the repository buttons of a published copy."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
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
