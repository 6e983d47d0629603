"""Tests of sparselab.chapters.publish: values out of summaries, interval tables, glued values."""

from __future__ import annotations

import sys
import types

import pandas as pd
import pytest

from sparselab.chapters import publish
from sparselab.chapters.stats import summarise


def test_lookup_and_interval_table():
    frame = pd.DataFrame(
        {"method": ["a", "a", "b", "b"], "sparsity": [0.9, 0.9, 0.9, 0.9], "test_mse": [1.0, 3.0, 2.0, 2.0]}
    )
    summary = summarise(frame, ["method", "sparsity"], "test_mse")
    assert publish.lookup(summary, method="a", sparsity=1 - 0.1) == 2.0  # 1 - 0.1 is not exactly 0.9
    assert isinstance(publish.lookup(summary, method="a", sparsity=0.9), float)
    with pytest.raises(ValueError, match="0 rows"):
        publish.lookup(summary, method="c", sparsity=0.9)
    with pytest.raises(ValueError, match="2 rows"):
        publish.lookup(summary, sparsity=0.9)
    table = publish.interval_table(summary, index="sparsity", columns="method", digits=2)
    assert table.loc[0.9, "b"] == "2.00 [2.00, 2.00]"
    assert table.loc[0.9, "a"].startswith("2.00 [")


def test_glue_values_glues_every_entry_with_the_prefix(monkeypatch):
    calls = []
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=True: calls.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    publish.glue_values({"mse": 0.5, "nnz": 3}, prefix="cmp_")
    assert calls == [("cmp_mse", 0.5, False), ("cmp_nnz", 3, False)]
    publish.glue_values({"x": 1}, display=True)
    assert calls[-1] == ("x", 1, True)
    with pytest.raises(TypeError, match="values"):
        publish.glue_values([("x", 1)])
    with pytest.raises(TypeError, match="display"):
        publish.glue_values({"x": 1}, display="no")
