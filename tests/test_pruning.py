"""Tests of sparselab.pruning: exact survivor counts per structure, hand-computed masks, global vs
per-layer thresholds, masks attached with torch.nn.utils.prune, dense gradients, the group lasso."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import reference_topk
from torch import nn

from sparselab import pruning as P
from sparselab.nn import SparseLinear
from sparselab.pruning import modules as _modules

LINEAR_SHAPE = (16, 12)
CONV_SHAPE = (8, 12, 3, 3)


# =========================================================================== exact counts
@pytest.mark.parametrize("shape", [LINEAR_SHAPE, CONV_SHAPE], ids=["linear", "conv"])
@pytest.mark.parametrize("density", [0.1, 0.25, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("structure", ["unstructured", "row", "column", "block"])
def test_magnitude_mask_keeps_exact_counts(shape, density, structure):
    w = torch.randn(shape)
    mask = P.magnitude_mask(w, density, structure=structure, block=(4, 4))
    assert mask.dtype == torch.bool and mask.shape == w.shape
    out, inp = shape[:2]
    kernel = w[0, 0].numel()
    if structure == "unstructured":
        expected = round(density * w.numel())
    elif structure == "row":
        expected = round(density * out) * inp * kernel
        rows = mask.reshape(out, -1)
        assert torch.all(rows.all(1) | ~rows.any(1))  # whole rows only
    elif structure == "column":
        expected = round(density * inp) * out * kernel
        cols = mask.transpose(0, 1).reshape(inp, -1)
        assert torch.all(cols.all(1) | ~cols.any(1))
    else:
        n_blocks = (out // 4) * (inp // 4)
        expected = round(density * n_blocks) * 16 * kernel
        tiles = mask.reshape(out // 4, 4, inp // 4, 4, -1).permute(0, 2, 1, 3, 4).reshape(n_blocks, -1)
        assert torch.all(tiles.all(1) | ~tiles.any(1))  # whole tiles, all kernel positions alike
    assert int(mask.sum()) == expected


@pytest.mark.parametrize("shape", [LINEAR_SHAPE, CONV_SHAPE], ids=["linear", "conv"])
@pytest.mark.parametrize("n,m", [(1, 4), (2, 4), (3, 4), (1, 2), (4, 4), (2, 3)])
def test_nm_mask_keeps_exactly_n_of_every_m_per_group(shape, n, m):
    w = torch.randn(shape)
    mask = P.magnitude_mask(w, structure="nm", n=n, m=m)
    # groups of m consecutive input entries, for every row and kernel position
    groups = mask.movedim(1, -1).reshape(*mask.movedim(1, -1).shape[:-1], shape[1] // m, m)
    assert torch.all(groups.sum(-1) == n)
    assert int(mask.sum()) == w.numel() * n // m
    # the survivors are the n largest |w| of each group
    mags = w.abs().movedim(1, -1).reshape(groups.shape)
    kept_min = torch.where(groups, mags, torch.inf).amin(-1)
    dropped_max = torch.where(groups, -torch.inf, mags).amax(-1)
    assert torch.all(kept_min >= dropped_max)


def test_unstructured_equals_reference_topk_of_abs():
    w = torch.randn(7, 9)
    mask = P.magnitude_mask(w, sparsity=0.7)
    assert torch.equal(mask, reference_topk(w.abs(), round(0.3 * 63)))


# =========================================================================== hand-computed cases
W4 = torch.tensor(
    [
        [1.0, 0.0, 0.0, 0.0],  # row norms 1, 5, 2, 13; column norms see below
        [3.0, 4.0, 0.0, 0.0],
        [0.0, 0.0, 2.0, 0.0],
        [0.0, 5.0, 0.0, 12.0],
    ]
)


def test_row_mask_hand_computed():
    assert torch.allclose(P.group_norms(W4, "row"), torch.tensor([1.0, 5.0, 2.0, 13.0]))
    mask = P.magnitude_mask(W4, 0.5, structure="row")
    expected = torch.tensor([False, True, False, True])[:, None].expand(4, 4)
    assert torch.equal(mask, expected)
    assert torch.equal(
        P.magnitude_mask(W4, 0.25, structure="row"), torch.tensor([0, 0, 0, 1.0])[:, None].bool().expand(4, 4)
    )


def test_column_mask_hand_computed():
    # column norms: sqrt(10), sqrt(41), 2, 12
    assert torch.allclose(P.group_norms(W4, "column"), torch.tensor([10**0.5, 41**0.5, 2.0, 12.0]))
    mask = P.magnitude_mask(W4, 0.5, structure="column")
    assert torch.equal(mask, torch.tensor([False, True, False, True])[None, :].expand(4, 4))


def test_block_mask_hand_computed():
    # 2x2 tiles: [[1,0],[3,4]] -> sqrt(26); top-right 0; bottom-left sqrt(25)=5; bottom-right sqrt(4+144)
    assert torch.allclose(P.group_norms(W4, "block", block=(2, 2)), torch.tensor([[26**0.5, 0.0], [5.0, 148**0.5]]))
    mask = P.magnitude_mask(W4, 0.5, structure="block", block=(2, 2))
    expected = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]).bool()
    assert torch.equal(mask, expected)


def test_nm_hand_computed_with_ties_keeping_lower_index():
    w = torch.tensor([[0.1, -3.0, 2.0, 0.5, 1.0, 1.0, 1.0, 1.0]])
    mask = P.magnitude_mask(w, 0.5, structure="nm", n=2, m=4)
    assert torch.equal(mask, torch.tensor([[False, True, True, False, True, True, False, False]]))


def test_row_ties_are_broken_by_lower_index():
    w = torch.ones(6, 3)
    mask = P.magnitude_mask(w, 0.5, structure="row")
    assert torch.equal(mask[:, 0], torch.tensor([True, True, True, False, False, False]))
    assert torch.equal(P.magnitude_mask(w, 0.5, structure="row"), mask)  # deterministic


def test_scores_replace_magnitude_as_importance():
    w = torch.tensor([[5.0, 1.0], [1.0, 5.0]])
    scores = torch.tensor([[0.0, 1.0], [2.0, 0.5]])
    assert torch.equal(P.magnitude_mask(w, 0.5, scores=scores), torch.tensor([[False, True], [True, False]]))
    assert torch.equal(P.magnitude_mask(w, 0.5, structure="row", scores=scores)[:, 0], torch.tensor([False, True]))


def test_conv_block_mask_is_shared_by_all_kernel_positions():
    w = torch.randn(4, 4, 3, 3)
    mask = P.magnitude_mask(w, 0.5, structure="block", block=(2, 2))
    assert torch.equal(mask, mask[:, :, :1, :1].expand_as(mask))
    norms = w.reshape(2, 2, 2, 2, 9).pow(2).sum((1, 3, 4)).sqrt()
    keep = reference_topk(norms, 2)
    assert torch.equal(mask[::2, ::2, 0, 0], keep)


# =========================================================================== argument errors
def test_block_that_does_not_divide_raises_with_shape_and_divisors():
    with pytest.raises(ValueError, match=r"block=\(3, 4\).*\(12, 10\).*divisors of 12: \[1, 2, 3, 4, 6, 12\]"):
        P.magnitude_mask(torch.randn(12, 10), 0.5, structure="block", block=(3, 4))
    with pytest.raises(ValueError, match="block"):
        P.group_soft_threshold(torch.randn(6, 6), 0.1, structure="block", block=(4, 4))


@pytest.mark.parametrize(
    "kwargs,exc,pattern",
    [
        (dict(density=0.5, structure="diagonal"), ValueError, "structure must be one of 'unstructured'"),
        (dict(density=0.0), ValueError, r"density must be in \(0, 1\]"),
        (dict(density=1.5), ValueError, r"density must be in \(0, 1\]"),
        (dict(density="0.5"), TypeError, "density must be a real number"),
        (dict(density=0.5, sparsity=0.5), ValueError, "either density or sparsity"),
        (dict(sparsity=1.0), ValueError, r"sparsity must be in \[0, 1\)"),
        (dict(), ValueError, "pass density"),
        (dict(structure="nm", n=2, m=3), ValueError, "m=3 must divide the input dimension"),
        (dict(structure="nm", n=5, m=4), ValueError, r"n must be an integer in \[1, 4\]"),
        (dict(structure="nm", n=0, m=4), ValueError, r"n must be an integer in \[1, 4\]"),
        (dict(structure="nm", n=2, m=0), ValueError, r"m must be an integer in \[1, inf\]"),
        (dict(structure="nm", density=0.25), ValueError, "density must be None or n/m"),
        (dict(density=0.5, structure="block", block=(4,)), TypeError, "block must be a pair"),
        (dict(density=0.5, structure="block", block=(0, 4)), ValueError, r"block\[0\]"),
        (dict(density=0.5, scores=torch.ones(3, 3)), ValueError, "scores must have the shape"),
        (dict(density=0.01), ValueError, "density"),  # keeps round(0.01*32)=0 entries
    ],
)
def test_magnitude_mask_bad_arguments(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        P.magnitude_mask(torch.randn(4, 8), **kwargs)


def test_magnitude_mask_rejects_non_matrices():
    with pytest.raises(ValueError, match="weight must have at least 2 dimensions"):
        P.magnitude_mask(torch.randn(5), 0.5)
    with pytest.raises(TypeError, match="weight must be a torch.Tensor"):
        P.magnitude_mask([[1.0]], 0.5)


def test_nm_accepts_matching_density():
    w = torch.randn(4, 8)
    assert torch.equal(P.magnitude_mask(w, 0.5, structure="nm"), P.magnitude_mask(w, sparsity=0.5, structure="nm"))


# =========================================================================== global vs per layer
def _two_scale_model():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 10))
    with torch.no_grad():
        model[0].weight.mul_(10.0)  # large-scale layer, 200 weights
        model[2].weight.mul_(0.1)  # small-scale layer, 200 weights
    return model


def test_global_masks_one_threshold_and_exact_total():
    model = _two_scale_model()
    w0, w2 = model[0].weight.detach().clone(), model[2].weight.detach().clone()
    masks = P.global_magnitude_masks([w0, w2], 0.3)
    assert int(masks[0].sum()) + int(masks[1].sum()) == round(0.3 * 400)
    assert int(masks[0].sum()) > int(masks[1].sum())
    # one threshold: every kept magnitude is >= every pruned one, across layers
    kept = torch.cat([w0.abs()[masks[0]], w2.abs()[masks[1]]])
    pruned = torch.cat([w0.abs()[~masks[0]], w2.abs()[~masks[1]]])
    assert kept.min() >= pruned.max()


def test_prune_model_global_vs_layer_scope():
    model = _two_scale_model()
    masks = P.prune_model(model, 0.3, scope="global")
    assert sum(int(m.sum()) for m in masks.values()) == 120
    assert int(masks["0"].sum()) > int(masks["2"].sum())
    assert P.model_density(model) == pytest.approx(0.3)

    model = _two_scale_model()
    masks = P.prune_model(model, 0.3, scope="layer")
    assert int(masks["0"].sum()) == 60 and int(masks["2"].sum()) == 60
    assert P.model_density(model, layers=["0"]) == pytest.approx(0.3)
    assert P.model_density(model, layers=["2"]) == pytest.approx(0.3)


def test_global_magnitude_masks_ties_prefer_earlier_tensor():
    masks = P.global_magnitude_masks([torch.ones(2, 2), torch.ones(2, 2)], 0.5)
    assert masks[0].all() and not masks[1].any()
    with pytest.raises(ValueError, match="at least one tensor"):
        P.global_magnitude_masks([], 0.5)
    with pytest.raises(TypeError, match="weights must be a list"):
        P.global_magnitude_masks(torch.ones(2, 2), 0.5)


def test_prune_model_structured_nm_and_layer_selection():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    masks = P.prune_model(model, scope="layer", structure="row", density=0.5)
    assert int(masks["0"].sum()) == 4 * 8 and int(masks["2"].sum()) == 2 * 8
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    masks = P.prune_model(model, structure="nm", n=1, m=4, layers=["2"])
    assert list(masks) == ["2"] and int(masks["2"].sum()) == 8
    assert not P.is_masked(model[0]) and P.is_masked(model[2])


def test_prune_model_bad_arguments():
    model = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 4))
    with pytest.raises(ValueError, match="scope='global'.*scope='layer'"):
        P.prune_model(model, 0.5, structure="row")
    with pytest.raises(ValueError, match="scope must be one of 'global', 'layer'"):
        P.prune_model(model, 0.5, scope="model")
    with pytest.raises(ValueError, match=r"layers contains names .*\['3'\].*allowed: \['0', '2'\]"):
        P.prune_model(model, 0.5, layers=["3"])
    with pytest.raises(ValueError, match="layer '2': block=\\(3, 2\\)"):
        P.prune_model(model, 0.5, scope="layer", structure="block", block=(3, 2))
    assert not P.is_masked(model[0])  # nothing attached before all validation passed


def test_iterative_pruning_ranks_effective_weights():
    model = nn.Sequential(nn.Linear(10, 10))
    first = P.prune_model(model, 0.5)["0"]
    second = P.prune_model(model, 0.2)["0"]
    assert int(second.sum()) == 20
    assert torch.all(first | ~second)  # the new survivors are a subset of the old ones
    assert P.model_density(model) == pytest.approx(0.2)


# =========================================================================== masks on modules
def test_attach_to_conv_then_remove_masks_is_permanent_and_identical():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    x = torch.randn(2, 3, 6, 6)
    mask = P.magnitude_mask(conv.weight, 0.4)
    expected = F.conv2d(x, conv.weight.detach() * mask, conv.bias, padding=1)
    P.attach_mask(conv, mask)
    assert P.is_masked(conv)
    assert isinstance(conv.weight_orig, nn.Parameter) and conv.weight_mask.dtype == conv.weight_orig.dtype
    assert torch.equal(P.current_mask(conv), mask)
    y_masked = conv(x)
    assert torch.allclose(y_masked, expected, atol=1e-6)
    assert P.remove_masks(conv) == ["weight"]
    assert not P.is_masked(conv)
    assert isinstance(conv.weight, nn.Parameter) and not hasattr(conv, "weight_orig")
    assert "weight_mask" not in dict(conv.named_buffers())
    assert torch.equal(conv.weight != 0, mask)
    assert torch.equal(conv(x), y_masked)


def test_current_mask_all_true_when_nothing_attached():
    lin = nn.Linear(3, 2)
    assert P.current_mask(lin).all() and P.current_mask(lin).shape == (2, 3)
    assert not P.is_masked(lin)


def test_reattach_copies_into_the_same_buffer_and_allows_regrowth():
    lin = nn.Linear(4, 3)
    first = torch.zeros(3, 4, dtype=torch.bool)
    first[0] = True
    P.attach_mask(lin, first)
    buf = lin.weight_mask
    ptr = buf.data_ptr()
    n_hooks = len(lin._forward_pre_hooks)
    second = ~first  # re-opens everything the first mask pruned, prunes what it kept
    P.attach_mask(lin, second)
    assert lin.weight_mask is buf and lin.weight_mask.data_ptr() == ptr
    assert len(lin._forward_pre_hooks) == n_hooks
    assert type(_modules._pruning_hook(lin, "weight")).__name__ == "CustomFromMask"  # no PruningContainer
    assert torch.equal(P.current_mask(lin), second)
    assert torch.equal(lin.weight, lin.weight_orig * second)  # current without a forward
    x = torch.randn(5, 4)
    assert torch.allclose(lin(x), F.linear(x, lin.weight_orig.detach() * second, lin.bias), atol=1e-6)


def test_attach_on_sparselinear_composes_with_its_own_mask():
    layer = SparseLinear(8, 6, density=0.5, mask="hard")
    own = layer.mask()
    att = P.magnitude_mask(layer.weight, 0.5, structure="column")
    P.attach_mask(layer, att)
    assert torch.equal(P.current_mask(layer), own & att)
    x = torch.randn(4, 8)
    y = layer(x)  # the prune pre-hook sets layer.weight, which SparseLinear.forward reads
    assert torch.allclose(y, F.linear(x, layer.weight_orig.detach() * (own & att), layer.bias), atol=1e-6)
    y.sum().backward()  # gradient reaches weight_orig through the pre-hook, zero on attached-pruned entries
    assert layer.weight_orig.grad is not None
    assert torch.all(layer.weight_orig.grad[~att] == 0)
    assert P.model_density(layer) == pytest.approx(int((own & att).sum()) / 48)
    P.remove_masks(layer)
    assert isinstance(layer.weight, nn.Parameter)
    assert torch.allclose(layer(x), y)


def test_attach_on_soft_sparselinear_composes():
    layer = SparseLinear(8, 6, density=0.75, mask="soft")
    att = torch.zeros(6, 8, dtype=torch.bool)
    att[:, :4] = True
    P.attach_mask(layer, att)
    cm = P.current_mask(layer)
    assert not cm[:, 4:].any()
    assert torch.equal(cm, reference_topk(layer.weight.detach().abs() * att, layer.k) & att)
    layer.eval()  # the export: exactly the current mask survives
    assert torch.equal(cm, (layer(torch.eye(8)) - layer.bias).T.ne(0))


def test_attach_mask_bad_arguments():
    lin = nn.Linear(4, 3)
    with pytest.raises(ValueError, match=r"mask must have the shape of weight \(3, 4\)"):
        P.attach_mask(lin, torch.ones(4, 3))
    with pytest.raises(ValueError, match="only 0 and 1"):
        P.attach_mask(lin, torch.full((3, 4), 0.5))
    with pytest.raises(ValueError, match="name='kernel'"):
        P.attach_mask(lin, torch.ones(3, 4), name="kernel")
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        P.attach_mask("lin", torch.ones(3, 4))


def test_prunable_layers_in_named_modules_order():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), SparseLinear(8, 4), nn.Linear(4, 2))
    layers = P.prunable_layers(model)
    assert [n for n, _ in layers] == ["0", "3", "4"]
    assert P.PRUNABLE == (nn.Linear, nn.Conv2d, SparseLinear)


# =========================================================================== gradients
def test_gradient_norms_least_squares_closed_form():
    torch.manual_seed(3)
    n, d = 32, 6
    X = torch.randn(n, d)
    y = torch.randn(n, 1)
    model = nn.Linear(d, 1, bias=False)
    mask = torch.tensor([[True, False, True, False, True, True]])
    P.attach_mask(model, mask)
    w_eff = (model.weight_orig * mask).detach()
    G = 2.0 / n * (X @ w_eff.T - y).T @ X  # d/dW of mean((X Wᵀ - y)²) at the effective W
    grads = P.dense_gradients(model, X, y, F.mse_loss)
    assert torch.allclose(grads[""], G, atol=1e-5)
    res = P.gradient_norms(model, X, y, F.mse_loss)
    assert res["active"] == pytest.approx(float(G[mask].norm()), rel=1e-5)
    assert res["pruned"] == pytest.approx(float(G[~mask].norm()), rel=1e-5)
    assert res["pruned"] > 0
    assert res["per_layer"][""] == {"active": res["active"], "pruned": res["pruned"]}
    assert model.weight_orig.grad is None
    assert not model._forward_hooks and len(model._forward_pre_hooks) == 1  # hooks removed, prune hook kept


def test_dense_gradients_match_reference_on_conv_and_sparselinear_model():
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), SparseLinear(18, 5, density=0.5), nn.ReLU(), nn.Linear(5, 3)
    )
    P.prune_model(model, 0.5)
    X, y = torch.randn(4, 1, 5, 5), torch.randint(0, 3, (4,))
    grads = P.dense_gradients(model, X, y, F.cross_entropy)
    # reference: a plain model whose weights are the effective weights
    ref = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(18, 5), nn.ReLU(), nn.Linear(5, 3))
    with torch.no_grad():
        for i in (0, 3, 5):
            ref[i].weight.copy_(P.effective_weight(model[i]))
            ref[i].bias.copy_(model[i].bias)
    F.cross_entropy(ref(X), y).backward()
    for i in (0, 3, 5):
        assert torch.allclose(grads[str(i)], ref[i].weight.grad, atol=1e-6)
    assert all(p.grad is None for p in model.parameters())
    assert float(grads["3"][~P.current_mask(model[3])].abs().sum()) > 0


def test_gradient_norms_unmasked_model_has_zero_pruned_part():
    model = nn.Sequential(nn.Linear(3, 2))
    res = P.gradient_norms(model, torch.randn(5, 3), torch.randn(5, 2), F.mse_loss)
    assert res["pruned"] == 0.0 and res["active"] > 0
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        P.gradient_norms(model, torch.randn(5, 3), torch.randn(5, 2), "mse")


# =========================================================================== group lasso
def test_group_soft_threshold_hand_computed_rows():
    w = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    out = P.group_soft_threshold(w, 1.0, structure="row")
    assert torch.allclose(out, torch.tensor([[2.4, 3.2], [0.0, 0.0], [0.0, 0.0]]))
    assert torch.equal(P.group_soft_threshold(w, 0.0), w)


def test_group_soft_threshold_columns_blocks_and_conv():
    w = torch.tensor([[3.0, 0.1], [4.0, 0.1]])
    assert torch.allclose(P.group_soft_threshold(w, 1.0, structure="column"), torch.tensor([[2.4, 0.0], [3.2, 0.0]]))
    assert torch.allclose(
        P.group_soft_threshold(W4, 5.0, structure="block", block=(2, 2)),
        torch.cat(
            [
                torch.cat([W4[:2, :2] * (1 - 5 / 26**0.5), torch.zeros(2, 2)], 1),
                torch.cat([torch.zeros(2, 2), W4[2:, 2:] * (1 - 5 / 148**0.5)], 1),
            ]
        ),
    )
    conv = torch.zeros(2, 1, 2, 2)
    conv[0] = 1.0  # norm 2
    conv[1] = 0.1  # norm 0.2
    out = P.group_soft_threshold(conv, 1.0, structure="row")
    assert torch.allclose(out[0], torch.full((1, 2, 2), 0.5)) and not out[1].any()
    with pytest.raises(ValueError, match=r"lam must be a finite number in \[0.0, inf\]"):
        P.group_soft_threshold(w, -1.0)
    with pytest.raises(ValueError, match="structure must be one of 'row', 'column', 'block'"):
        P.group_soft_threshold(w, 1.0, structure="nm")


def test_group_lasso_step_is_the_prox_with_step_lr_times_lam():
    lin = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]]))
    zero = P.group_lasso_step(nn.Sequential(lin), lam=10.0, lr=0.1)
    assert zero == {"0": 1}
    assert torch.allclose(lin.weight, torch.tensor([[2.4, 3.2], [0.0, 0.0], [5.4, 7.2]]))


def test_group_lasso_step_leaves_masked_entries_and_uses_masked_norms():
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 100.0], [4.0, 3.0]]))
    P.attach_mask(lin, torch.tensor([[True, False], [True, True]]))
    P.group_lasso_step(lin, lam=1.0, lr=1.0)
    # row 0: active part (3) has norm 3 -> 2; the pruned 100 is untouched. row 1: norm 5 -> scale 0.8
    assert torch.allclose(lin.weight_orig, torch.tensor([[2.0, 100.0], [3.2, 2.4]]))
    assert torch.allclose(lin.weight, torch.tensor([[2.0, 0.0], [3.2, 2.4]]))
    with pytest.raises(ValueError, match=r"lr must be a finite number in \(0.0, inf\]"):
        P.group_lasso_step(lin, lam=1.0, lr=0.0)


def test_mask_density_counts_active_zero_weights_that_model_density_does_not():
    layer = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.arange(1.0, 9.0).reshape(2, 4))
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    P.attach_mask(layer, mask)
    with torch.no_grad():
        layer.weight_orig[0, 0] = 0.0  # active, but its value is zero (a connection regrown at zero)
    model = nn.Sequential(layer)
    assert P.mask_density(model) == 3 / 8
    assert P.model_density(model) == 2 / 8
    assert [name for name, _ in P.select_layers(model)] == ["0"]
