"""Tests of sparselab.thresholding: H_k, H_lambda, S_lambda and the group soft threshold, against hand computations."""

import numpy as np
import pytest
import torch

from sparselab import pruning
from sparselab import thresholding as T

pytestmark = pytest.mark.usefixtures("one_thread")


def t(values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype)


# ----------------------------------------------------------------------------- H_k


def test_hard_threshold_k_hand_case():
    x = t([3.0, -1.0, 2.0, -5.0, 0.5])
    assert torch.equal(T.hard_threshold_k(x, 2), t([3.0, 0.0, 0.0, -5.0, 0.0]))
    assert torch.equal(T.hard_threshold_k(x, 1), t([0.0, 0.0, 0.0, -5.0, 0.0]))
    assert torch.equal(T.hard_threshold_k(x, 5), x)


def test_hard_threshold_k_ties_keep_exact_count_lower_index_first():
    x = t([1.0, -1.0, 1.0, 1.0, 0.0])
    assert torch.equal(T.hard_threshold_k(x, 2), t([1.0, -1.0, 0.0, 0.0, 0.0]))
    assert torch.equal(T.hard_threshold_k(x, 3), t([1.0, -1.0, 1.0, 0.0, 0.0]))
    ones = torch.ones(7, dtype=torch.float64)
    for k in range(1, 8):
        out = T.hard_threshold_k(ones, k)
        assert int((out != 0).sum()) == k
        assert torch.equal(out[:k], ones[:k])
    # k larger than the non-zeros: the zeros are "kept" too, the count of non-zeros is what x has
    assert torch.equal(T.hard_threshold_k(t([0.0, 2.0, 0.0]), 2), t([0.0, 2.0, 0.0]))


def test_hard_threshold_k_batched_rows_dim_and_per_row_budget():
    x = t([[3.0, -4.0, 1.0, 0.0], [0.1, 0.2, -0.3, 0.4]])
    assert torch.equal(T.hard_threshold_k(x, 2), t([[3.0, -4.0, 0.0, 0.0], [0.0, 0.0, -0.3, 0.4]]))
    # along dim 0: in every column keep the larger of the two entries
    assert torch.equal(T.hard_threshold_k(x, 1, dim=0), t([[3.0, -4.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.4]]))
    # one budget per row
    out = T.hard_threshold_k(x, torch.tensor([1, 3]))
    assert torch.equal(out, t([[0.0, -4.0, 0.0, 0.0], [0.0, 0.2, -0.3, 0.4]]))
    # a 3-D batch agrees with the rows done one at a time
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 3, 10, generator=g, dtype=torch.float64)
    out = T.hard_threshold_k(z, 4)
    for i in range(2):
        for j in range(3):
            assert torch.equal(out[i, j], T.hard_threshold_k(z[i, j], 4))
    assert ((out != 0).sum(-1) == 4).all()


def test_hard_threshold_k_gradient_is_the_keep_mask_and_device_dtype_kept():
    x = t([3.0, -1.0, 2.0, -5.0]).requires_grad_()
    T.hard_threshold_k(x, 2).sum().backward()
    assert torch.equal(x.grad, t([1.0, 0.0, 0.0, 1.0]))
    y = T.hard_threshold_k(torch.tensor([1.0, -2.0], dtype=torch.float32), 1)
    assert y.dtype == torch.float32 and torch.equal(y, torch.tensor([0.0, -2.0]))


# ----------------------------------------------------------------------------- H_lambda and S_lambda


def test_hard_threshold_level_hand_case_and_tie_is_zeroed():
    x = t([0.5, -1.5, 1.0, 2.0, -1.0])
    assert torch.equal(T.hard_threshold(x, 1.0), t([0.0, -1.5, 0.0, 2.0, 0.0]))
    assert torch.equal(T.hard_threshold(x, 0.0), x)
    rows = torch.stack([x, x])
    lam = t([[0.4], [1.8]])
    assert torch.equal(T.hard_threshold(rows, lam), t([[0.5, -1.5, 1.0, 2.0, -1.0], [0.0, 0.0, 0.0, 2.0, 0.0]]))


def test_hard_threshold_is_the_l0_prox():
    # argmin_z 0.5 (z - x)^2 + lam^2/2 [z != 0]: keep x iff x^2/2 > lam^2/2
    lam = 0.7
    for xi in np.linspace(-2, 2, 41):
        keep_cost, zero_cost = lam**2 / 2, xi**2 / 2
        expected = xi if zero_cost > keep_cost else 0.0
        assert float(T.hard_threshold(t([xi]), lam)) == pytest.approx(expected)


def test_soft_threshold_hand_case_and_shrinkage():
    x = t([3.0, -0.5, -2.0, 1.0, 0.0])
    assert torch.equal(T.soft_threshold(x, 1.0), t([2.0, 0.0, -1.0, 0.0, 0.0]))
    assert torch.equal(T.soft_threshold(x, 0.0), x)
    # the same entries survive as for H_lambda, each moved by lambda towards 0
    h = T.hard_threshold(x, 1.0)
    s = T.soft_threshold(x, 1.0)
    assert torch.equal(h != 0, s != 0)
    assert torch.equal((h - s)[h != 0], t([1.0, -1.0]))
    # per-row thresholds
    rows = torch.stack([x, x])
    assert torch.equal(
        T.soft_threshold(rows, t([[0.5], [2.5]])), t([[2.5, 0.0, -1.5, 0.5, 0.0], [0.5, 0.0, 0.0, 0.0, 0.0]])
    )
    # same rule as the one in masks
    g = torch.Generator().manual_seed(1)
    z = torch.randn(5, 7, generator=g, dtype=torch.float64)
    assert torch.equal(T.soft_threshold(z, 0.3, check=False), T.soft_threshold(z, 0.3))


def test_soft_threshold_is_the_l1_prox_on_a_grid():
    lam = 0.6
    grid = torch.linspace(-3, 3, 60001, dtype=torch.float64)
    for xi in (-2.0, -0.6, -0.1, 0.0, 0.35, 1.7):
        cost = 0.5 * (grid - xi) ** 2 + lam * grid.abs()
        assert float(T.soft_threshold(t([xi]), lam)) == pytest.approx(float(grid[cost.argmin()]), abs=1e-4)


def test_soft_threshold_gradients_in_x_and_lambda():
    x = t([3.0, -0.5, 2.0, 1.0, -4.0]).requires_grad_()
    lam = t(1.5).requires_grad_()
    T.soft_threshold(x, lam).sum().backward()
    assert torch.equal(x.grad, t([1.0, 0.0, 1.0, 0.0, 1.0]))  # slope 1 on the survivors 3, 2, -4
    assert float(lam.grad) == -1.0  # -(sign(3) + sign(2) + sign(-4))


# ----------------------------------------------------------------------------- group soft threshold


def test_group_soft_threshold_two_groups_by_hand():
    x = t([3.0, 4.0, 1.0, 0.0])
    # group 0 = (3, 4), norm 5 -> scaled by 1 - 2.5/5 = 0.5; group 1 = (1, 0), norm 1 <= 2.5 -> zero
    expected = t([1.5, 2.0, 0.0, 0.0])
    assert torch.equal(T.group_soft_threshold(x, 2.5, torch.tensor([0, 0, 1, 1])), expected)
    assert torch.equal(T.group_soft_threshold(x, 2.5, [[0, 1], [2, 3]]), expected)
    # interleaved ids and arbitrary labels give the same partition
    xi = t([3.0, 1.0, 4.0, 0.0])
    assert torch.equal(T.group_soft_threshold(xi, 2.5, torch.tensor([7, 2, 7, 2])), t([1.5, 0.0, 2.0, 0.0]))
    # lam = 0 is the identity; the shrunk group keeps its direction and loses lam of its norm
    assert torch.equal(T.group_soft_threshold(x, 0.0, torch.tensor([0, 0, 1, 1])), x)
    out = T.group_soft_threshold(x, 0.5, torch.tensor([0, 0, 1, 1]))
    assert torch.allclose(out, t([3.0 * 0.9, 4.0 * 0.9, 0.5, 0.0]))


def test_group_soft_threshold_batched_per_group_lambda_and_special_cases():
    x = t([[3.0, 4.0, 1.0, 0.0], [0.0, 0.0, 6.0, 8.0]])
    ids = torch.tensor([0, 0, 1, 1])
    # per-row lambda (B, 1)
    out = T.group_soft_threshold(x, t([[2.5], [5.0]]), ids)
    assert torch.allclose(out, t([[1.5, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 4.0]]))
    # per-group lambda (G,)
    out = T.group_soft_threshold(x, t([0.0, 10.0]), ids)
    assert torch.allclose(out, t([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    # singleton groups: the soft threshold
    g = torch.Generator().manual_seed(2)
    z = torch.randn(3, 9, generator=g, dtype=torch.float64)
    assert torch.allclose(T.group_soft_threshold(z, 0.4, torch.arange(9)), T.soft_threshold(z, 0.4))
    # rows of a matrix: the same as pruning.group_soft_threshold(structure="row")
    W = torch.randn(4, 6, generator=g, dtype=torch.float64)
    flat = T.group_soft_threshold(W.flatten(), 1.5, torch.arange(24) // 6).view(4, 6)
    assert torch.allclose(flat, pruning.group_soft_threshold(W, 1.5, structure="row"))


def test_group_soft_threshold_gradient_finite_on_zero_groups_and_correct_elsewhere():
    x = t([3.0, 4.0, 0.0, 0.0, 0.2, 0.1]).requires_grad_()
    ids = torch.tensor([0, 0, 1, 1, 2, 2])
    T.group_soft_threshold(x, 1.0, ids).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.equal(x.grad[2:], torch.zeros(4, dtype=torch.float64))
    # on group 0: d/dx [x (1 - lam/|x|)] summed = 1 - lam/|x| + lam x (x . 1)/|x|^3
    xg = t([3.0, 4.0])
    expected = (1 - 1.0 / 5.0) + 1.0 * xg * xg.sum() / 125.0
    assert torch.allclose(x.grad[:2], expected)
    z = t([1.0, -2.0, 0.5, 3.0]).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: T.group_soft_threshold(v, 0.7, torch.tensor([0, 1, 0, 1])), (z,))


def test_group_index_relabels_and_validates_partitions():
    ids, G = T.group_index(torch.tensor([5, 5, 2, 9]), 4)
    assert G == 3 and ids.tolist() == [1, 1, 0, 2]
    ids, G = T.group_index([torch.tensor([3, 0]), [1], np.array([2])], 4)
    assert G == 3 and ids.tolist() == [0, 1, 2, 0]
    with pytest.raises(ValueError, match="disjoint: index 0"):
        T.group_index([[0, 1], [0, 2, 3]], 4)
    with pytest.raises(ValueError, match=r"cover every index in \[0, 3\]; 1 missing"):
        T.group_index([[0, 1], [2]], 4)
    with pytest.raises(ValueError, match=r"outside \[0, 3\]"):
        T.group_index([[0, 1], [2, 3, 4]], 4)
    with pytest.raises(ValueError, match="groups must be a 1-D tensor of 4 group ids"):
        T.group_index(torch.tensor([0, 0, 1]), 4)
    with pytest.raises(ValueError, match="non-negative"):
        T.group_index(torch.tensor([0, -1, 1, 1]), 4)
    with pytest.raises(TypeError, match="integer tensor"):
        T.group_index(torch.tensor([0.0, 0.0, 1.0, 1.0]), 4)
    with pytest.raises(ValueError, match=r"groups\[1\] must be a non-empty"):
        T.group_index([[0, 1, 2, 3], []], 4)


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x: T.hard_threshold_k(x, 0), ValueError, r"k must be an integer in \[1, 4\], got 0"),
        (lambda x: T.hard_threshold_k(x, 5), ValueError, r"k must be an integer in \[1, 4\], got 5"),
        (lambda x: T.hard_threshold_k(x, 2.0), TypeError, "k must be an integer"),
        (lambda x: T.hard_threshold_k(x, torch.tensor([0])), ValueError, r"k must be an integer in \[1, 4\]"),
        (lambda x: T.hard_threshold_k(x, 1, dim=1), ValueError, r"dim must be an integer in \[-1, 0\]"),
        (lambda x: T.hard_threshold(x, -0.1), ValueError, r"lam must be a finite number in \[0.0, inf\]"),
        (lambda x: T.soft_threshold(x, float("nan")), ValueError, "lam must be a finite number"),
        (lambda x: T.soft_threshold(x, torch.tensor([-1.0])), ValueError, "lam must be a finite number"),
        (lambda x: T.soft_threshold(x, torch.tensor([float("inf")])), ValueError, "lam must be finite"),
        (lambda x: T.soft_threshold(x.tolist(), 1.0), TypeError, "x must be a torch.Tensor"),
        (lambda x: T.soft_threshold(x.long(), 1.0), TypeError, "floating-point"),
        (lambda x: T.group_soft_threshold(x, -1.0, torch.tensor([0, 0, 1, 1])), ValueError, "lam must be"),
        (lambda x: T.group_soft_threshold(x, 1.0, torch.tensor([0, 1])), ValueError, "groups must be a 1-D tensor"),
        (
            lambda x: T.group_soft_threshold(x, t([1.0, 2.0, 3.0]), torch.tensor([0, 0, 1, 1])),
            ValueError,
            r"broadcastable to \(..., G\)",
        ),
    ],
)
def test_bad_inputs_raise_errors_naming_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call(t([1.0, -2.0, 3.0, 0.5]))
