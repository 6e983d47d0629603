"""Tests of sparselab.chapters.publish: values out of summaries, interval tables, glued values."""

from __future__ import annotations

import sys
import types

import numpy as np
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


@pytest.mark.parametrize(
    "value, text",
    [
        (2390.0, "2,390"),  # integral floats print whole, with separators
        (np.int64(160), "160"),
        (0.0023, "0.00230"),  # three significant digits, whatever the magnitude
        (0.1233, "0.123"),
        (5.94265, "5.94"),
        (-0.018, "-0.0180"),
        (1234.56, "1,235"),
        (2.24e-16, "2.24e-16"),  # below 1e-3: scientific
        (3.51234e7 + 0.5, "3.51e+07"),  # non-integral, 1e6 or more: scientific
        (0.0, "0"),
        (float("nan"), "—"),
        (None, "—"),
        (pd.NA, "—"),
        (float("inf"), "∞"),
        (True, "yes"),
        ("0.1 [0.0, 0.2]", "0.1 [0.0, 0.2]"),  # interval strings pass through
    ],
)
def test_format_number(value, text):
    assert publish.format_number(value) == text


def test_format_number_digits_and_missing_text():
    assert publish.format_number(0.123456, 5) == "0.12346"
    assert publish.format_number(float("nan"), missing="not run") == "not run"
    with pytest.raises(ValueError, match="digits"):
        publish.format_number(1.0, 0)


def test_results_table_names_digits_and_missing_cells():
    frame = pd.DataFrame(
        {"test_mse": [0.10512, np.nan], "steps": pd.array([160, None], dtype="Int64"), "flag": [True, False]},
        index=pd.Index(["IHT", "lasso"], name="method_name"),
    )
    table = publish.results_table(frame, rename={"flag": "converged"})
    assert list(table.columns) == ["test MSE", "steps", "converged"]  # the figures' names; rename first
    assert table.index.name == "method name" and list(table.index) == ["IHT", "lasso"]
    assert table.loc["IHT"].tolist() == ["0.105", "160", "yes"]
    assert table.loc["lasso"].tolist() == ["—", "—", "no"]  # no NaN, no <NA> on the page
    assert frame.loc["IHT", "test_mse"] == 0.10512  # the input is not changed


def test_results_table_keeps_multiindex_columns_and_accepts_a_series():
    columns = pd.MultiIndex.from_product([["equal_compute"], ["rel_error", "seconds"]], names=["budget", None])
    frame = pd.DataFrame([[0.5, 2.0], [np.nan, 3.25]], columns=columns, index=["a", "b"])
    table = publish.results_table(frame)
    assert list(table.columns) == [("equal compute", "relative error"), ("equal compute", "seconds")]
    assert table.columns.names == ["budget", None]
    assert table.to_numpy().tolist() == [["0.500", "2.00"], ["—", "3.25"]]
    ranks = publish.results_table(pd.DataFrame({"rank": [4.0, 3.875], "count": [4.0, 1100.0]}))
    assert ranks["rank"].tolist() == ["4.00", "3.88"]  # one column, one number of decimals
    assert ranks["count"].tolist() == ["4", "1,100"]  # a column of whole numbers prints them whole
    assert publish.format_number(4.0, whole=False) == "4.00"
    series = publish.results_table(pd.Series([1e-20, 0.5], index=["x", "y"], name="train_mse"))
    assert series["train MSE"].tolist() == ["1.00e-20", "0.500"]
    with pytest.raises(TypeError, match="frame"):
        publish.results_table([1, 2])
