"""Shared fixtures and helpers for the sparselab test-suite.

Every test starts from the same global RNG state (``seed_everything`` is autouse),
so a test's outcome never depends on which tests ran before it.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

# The shape/density grid of the issue: weight shapes (rows, cols) = (out_features, in_features).
SHAPES = [(1, 1), (1, 7), (7, 1), (3, 5), (64, 33), (128, 256)]
DENSITIES = [1e-3, 1e-2, 0.05, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0]


@pytest.fixture(autouse=True)
def seed_everything():
    """Seed Python, NumPy and torch before every test and restore torch's determinism flag after."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(deterministic)


@pytest.fixture(scope="module")
def one_thread():
    """Run a test module on one torch thread (numerical tests of the solvers: fast and reproducible on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def reference_topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Reference top-k mask: a stable descending sort, so equal scores keep the lowest flat indices."""
    flat = scores.detach().flatten()
    keep = torch.argsort(-flat, stable=True)[:k]
    mask = torch.zeros(flat.numel(), dtype=torch.bool)
    mask[keep] = True
    return mask.view(scores.shape)


def tie_free_scores(shape, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    """Scores that are a random permutation of 0..n-1: distinct, at least 1 apart."""
    n = int(np.prod(shape))
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g).to(dtype).view(shape)


def history_without_timing(history) -> dict:
    """A History as a dict without the wall-clock column, which can never be compared exactly."""
    d = history.to_dict()
    d.pop("seconds")
    return d


def paper_parameters(chapter: str) -> tuple[str, dict, dict]:
    """``(text, defaults, overrides)`` of ``book/params/<chapter>-paper.yaml``: the file's text, the values of the
    notebook's parameters cell (its second cell) and the file's YAML mapping."""
    import ast
    from pathlib import Path

    import nbformat
    import yaml

    book = Path(__file__).resolve().parent.parent / "book"
    text = (book / "params" / f"{chapter}-paper.yaml").read_text()
    cell = nbformat.read(book / f"{chapter}.ipynb", as_version=4).cells[1].source
    defaults = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell).body}
    return text, defaults, yaml.safe_load(text)
