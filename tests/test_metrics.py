"""Tests of sparselab.metrics: support agreement (with and without row matching) and the MSE."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparselab import metrics

PLANTED = torch.tensor([[1, 0, 1, 0, 0], [0, 1, 0, 0, 1], [1, 1, 0, 1, 0], [0, 0, 0, 0, 1]], dtype=torch.bool)


def test_support_match_by_hand():
    learned = torch.tensor([[1, 0, 0, 0, 0], [0, 1, 0, 1, 1], [1, 0, 0, 1, 0], [1, 0, 0, 0, 1]], dtype=torch.bool)
    # planted has 8 entries, learned 8; both share (0,0), (1,1), (1,4), (2,0), (2,3), (3,4) = 6
    r = metrics.support_match(learned, PLANTED)
    assert r["true_positives"] == 6
    assert r["precision"] == pytest.approx(6 / 8)
    assert r["recall"] == pytest.approx(6 / 8)
    assert r["f1"] == pytest.approx(6 / 8)
    assert "row_assignment" not in r


def test_support_match_unequal_sizes():
    learned = torch.tensor([[1, 0, 1, 1, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]], dtype=torch.bool)
    # learned 5 entries, planted 8, shared (0,0), (0,2), (3,4) = 3
    r = metrics.support_match(learned, PLANTED)
    assert r["true_positives"] == 3
    assert r["precision"] == pytest.approx(3 / 5)
    assert r["recall"] == pytest.approx(3 / 8)
    assert r["f1"] == pytest.approx(2 * (3 / 5) * (3 / 8) / (3 / 5 + 3 / 8))


def test_support_match_accepts_non_boolean_masks():
    r = metrics.support_match(PLANTED.float() * 0.3, PLANTED.int())
    assert (r["precision"], r["recall"], r["f1"], r["true_positives"]) == (1.0, 1.0, 1.0, 8)


def test_support_match_perfect_and_disjoint():
    assert metrics.support_match(PLANTED, PLANTED)["f1"] == 1.0
    r = metrics.support_match(~PLANTED, PLANTED)
    assert (r["precision"], r["recall"], r["f1"], r["true_positives"]) == (0.0, 0.0, 0.0, 0)


def test_support_match_empty_learned_mask():
    # the one convention: nothing found claims nothing false (precision 1) and misses everything
    r = metrics.support_match(torch.zeros_like(PLANTED), PLANTED)
    assert r["precision"] == 1.0
    assert r["recall"] == 0.0 and r["f1"] == 0.0


def test_precision_recall_f1_convention_for_empty_sets():
    assert metrics.precision_recall_f1(0, 0, 0) == (1.0, 1.0, 1.0)
    assert metrics.precision_recall_f1(0, 3, 0) == (0.0, 1.0, 0.0)
    assert metrics.precision_recall_f1(0, 0, 4) == (1.0, 0.0, 0.0)
    assert metrics.precision_recall_f1(2, 4, 3) == (0.5, 2 / 3, 4 / 7)
    with pytest.raises(ValueError, match="true_positives"):
        metrics.precision_recall_f1(3, 2, 5)


def test_the_three_matchings_share_one_convention():
    W = torch.zeros(3, 4, dtype=torch.float64)
    W[0, 1], W[2, 2] = 1.0, 3.0
    for match in (None, "overlap", "weights"):
        r = metrics.support_match(torch.zeros_like(W), W, match=match)
        assert (r["precision"], r["recall"], r["f1"]) == (1.0, 0.0, 0.0), match
        r = metrics.support_match(W, W, match=match)
        assert (r["precision"], r["recall"], r["f1"]) == (1.0, 1.0, 1.0), match
    with pytest.raises(ValueError, match="match must be one of"):
        metrics.support_match(W, W, match="rows")


def test_relative_error_true_value_first():
    assert metrics.relative_error(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])) == pytest.approx(1.0)
    assert metrics.relative_error([2.0, 0.0], [1.0, 0.0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="undefined"):
        metrics.relative_error(torch.tensor([0.0]), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="same shape"):
        metrics.relative_error(torch.ones(2), torch.ones(3))


def test_support_match_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        metrics.support_match(PLANTED[:3], PLANTED)
    with pytest.raises(ValueError, match="shape"):
        metrics.support_match(PLANTED[:, :4], PLANTED, match="overlap")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_support_match_rows_undoes_a_row_permutation(seed):
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(PLANTED), generator=g)
    while torch.equal(perm, torch.arange(len(PLANTED))):
        perm = torch.randperm(len(PLANTED), generator=g)
    learned = PLANTED[perm]  # learned row j is planted row perm[j]
    plain = metrics.support_match(learned, PLANTED)
    assert plain["f1"] < 1.0
    r = metrics.support_match(learned, PLANTED, match="overlap")
    assert (r["precision"], r["recall"], r["f1"], r["true_positives"]) == (1.0, 1.0, 1.0, 8)
    expected = {int(perm[j]): j for j in range(len(perm))}  # planted row -> learned row
    assert r["row_assignment"] == expected


def test_support_match_rows_with_extra_learned_rows():
    extra = torch.tensor([[0, 0, 1, 1, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    learned = torch.cat([extra[:1], PLANTED[[3, 1]], extra[1:], PLANTED[[0, 2]]])  # 6 rows
    r = metrics.support_match(learned, PLANTED, match="overlap")
    assert r["row_assignment"] == {0: 4, 1: 2, 2: 5, 3: 1}
    assert r["true_positives"] == 8
    assert r["recall"] == 1.0
    assert r["precision"] == pytest.approx(8 / 11)  # the unmatched rows' 3 entries are false positives
    assert r["f1"] == pytest.approx(16 / 19)


def test_feature_support_and_mask_flips():
    assert torch.equal(metrics.feature_support(PLANTED), torch.tensor([True, True, True, True, True]))
    assert torch.equal(metrics.feature_support(PLANTED[:2]), torch.tensor([True, True, True, False, True]))
    after = PLANTED.clone()
    after[0, 0] = False
    after[3, 3] = True
    after[2, 4] = True
    assert int(metrics.mask_flips(PLANTED, after)) == 3
    assert int(metrics.mask_flips(PLANTED, PLANTED)) == 0


def _fixed_linear():
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[2.0, -1.0]]))
        model.bias.fill_(0.5)
    return model


@pytest.mark.parametrize("batch_size", [1, 2, 3, 8192])
def test_mse_by_hand(batch_size):
    model = _fixed_linear()
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 3.0], [-1.0, 0.5]])
    y = torch.tensor([[2.0], [0.0], [1.0], [1.0], [-2.0]])
    # predictions 2.5, -0.5, 1.5, 1.5, -2.0 -> errors 0.5, -0.5, 0.5, 0.5, 0.0
    assert metrics.mse(model, X, y, batch_size=batch_size) == pytest.approx(1.0 / 5, rel=1e-12)


def test_mse_averages_over_every_output():
    model = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0], [0.0]]))
    X = torch.tensor([[1.0], [2.0]])
    y = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    # predictions [[1, 0], [2, 0]]: squared errors 1, 1, 0, 9 over 4 entries
    assert metrics.mse(model, X, y) == pytest.approx(11 / 4, rel=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_mse_evaluates_in_eval_mode_and_restores_mode(training):
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(p=0.9), nn.Linear(8, 1))
    X, y = torch.randn(50, 3), torch.randn(50, 1)
    model.train(training)
    value = metrics.mse(model, X, y)
    assert model.training is training
    model.eval()
    with torch.no_grad():
        expected = float(((model(X) - y) ** 2).double().mean())
    assert value == pytest.approx(expected, rel=1e-6)


def test_planted_support_match_level_follows_the_teacher():
    from sparselab import make_regression

    lin = make_regression("linear", in_features=6, out_features=1, density=0.5, n_train=8, n_test=4, seed=0)
    used = lin.planted_support[0]
    learned = torch.zeros(4, 6, dtype=torch.bool)
    learned[1, used] = True  # every planted feature, each used once
    learned[2, (~used).nonzero()[0]] = True  # plus one feature the teacher does not use
    r = metrics.planted_support_match(learned, lin)
    assert r["level"] == "feature"
    assert r["recall"] == 1.0
    assert r["precision"] == pytest.approx(int(used.sum()) / (int(used.sum()) + 1))

    nl = make_regression("nonlinear", in_features=6, width=4, density=0.5, n_train=8, n_test=4, seed=0)
    permuted = nl.planted_support[torch.tensor([2, 0, 3, 1])]
    r = metrics.planted_support_match(permuted, nl)
    assert r["level"] == "connection (rows matched)"
    assert r["f1"] == 1.0
