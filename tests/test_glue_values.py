"""tools/glue_values.py: every glued value is read (displayed or not), and the comparison classes them."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("glue_values", ROOT / "tools" / "glue_values.py")
gv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gv)


def _output(name, data, prefix=""):
    return {
        "output_type": "display_data",
        "data": {prefix + mime: value for mime, value in data.items()},
        "metadata": {"scrapbook": {"name": name, "mime_prefix": prefix}},
    }


def _notebook(path: Path, outputs) -> None:
    cell = {"cell_type": "code", "source": "", "metadata": {}, "execution_count": 1, "outputs": outputs}
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_collect_reads_hidden_and_displayed_glue(tmp_path):
    hidden = "application/papermill.record/"
    _notebook(
        tmp_path / "chap.ipynb",
        [
            _output("hidden_value", {"text/plain": "0.125"}, prefix=hidden),  # glue(..., display=False)
            _output("shown", {"text/plain": ["'a", "b'"]}),  # glue(...) displayed, text split in lines
            _output("fig", {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}, prefix=hidden),
        ],
    )
    values = gv.collect(tmp_path)
    assert values["chap/hidden_value"] == {"kind": "text", "value": "0.125"}
    assert values["chap/shown"] == {"kind": "text", "value": "'ab'"}
    assert values["chap/fig"]["kind"] == "figure" and len(values["chap/fig"]["value"]) == 64


def test_collect_rejects_an_output_it_cannot_read(tmp_path):
    _notebook(tmp_path / "chap.ipynb", [_output("odd", {"text/html": "<b>x</b>"})])
    with pytest.raises(ValueError, match="'odd' has neither text/plain nor image/png"):
        gv.collect(tmp_path)


def test_compare_counts_identical_changed_missing_and_timing():
    before = {
        "c/a": {"kind": "text", "value": "1"},
        "c/b": {"kind": "text", "value": "2"},
        "c/gone": {"kind": "text", "value": "3"},
        "c/chapter_seconds": {"kind": "text", "value": "40.1"},
    }
    after = {
        "c/a": {"kind": "text", "value": "1"},
        "c/b": {"kind": "text", "value": "2.0000000000000004"},
        "c/new": {"kind": "text", "value": "3"},
        "c/chapter_seconds": {"kind": "text", "value": "38.7"},
    }
    report = gv.compare(before, after)
    assert report["identical"] == ["c/a"]
    assert report["changed"] == [{"name": "c/b", "before": "2", "after": "2.0000000000000004"}]
    assert report["only_before"] == ["c/gone"] and report["only_after"] == ["c/new"]
    assert report["timing"] == ["c/chapter_seconds"]


def test_renamed_names_are_still_compared(tmp_path, capsys):
    b, a = tmp_path / "b.json", tmp_path / "a.json"
    b.write_text(json.dumps({"c/hidden_features": {"kind": "text", "value": "32"}}))
    a.write_text(json.dumps({"c/width": {"kind": "text", "value": "32"}}))
    assert gv.main(["--compare", str(b), str(a)]) == 1  # without the rename: one missing on each side
    assert gv.main(["--compare", str(b), str(a), "--renamed", "c/hidden_features=c/width"]) == 0
    assert "identical: 1" in capsys.readouterr().out
