"""Tests of sparselab.training: learning, support recovery, resume, determinism, validation, devices."""

from __future__ import annotations

import hashlib
import io
import math
import os
import stat

import pytest
import torch
from conftest import history_without_timing

from sparselab import History, SparseLinear, SparseMLP, TrainConfig, make_regression, metrics, train
from sparselab import masks as M
from sparselab.data import RegressionData
from sparselab.loop import Callback, LoopState, fit, supervised_step
from sparselab.training import CHECKPOINT_MAGIC, CheckpointError, load_checkpoint, resolve_device, save_checkpoint

FAST = dict(progress=False, device="cpu")


@pytest.fixture(scope="module")
def small_linear():
    return make_regression(
        "linear", n_train=256, n_test=64, in_features=8, out_features=2, density=0.25, noise=0.05, seed=1
    )


@pytest.fixture(scope="module")
def small_nonlinear():
    return make_regression(
        "nonlinear",
        n_train=512,
        n_test=128,
        in_features=16,
        width=16,
        out_features=1,
        density=0.25,
        noise=0.05,
        seed=0,
    )


def _mlp(kind, seed, **kwargs):
    torch.manual_seed(seed)
    return SparseMLP(8, 12, 2, density=0.3, mask=kind, **kwargs)


# --------------------------------------------------------------------------- learning
@pytest.mark.parametrize("kind", ["hard", "soft", "sigmoid"])
def test_loss_falls(small_nonlinear, kind):
    torch.manual_seed(0)
    model = SparseMLP(16, 32, 1, density=0.25, mask=kind)
    h = train(model, small_nonlinear, epochs=10, lr=1e-2, batch_size=64, **FAST)
    assert h.epoch == list(range(10))
    assert all(len(v) == 10 for v in h.to_dict().values())
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]
    assert h.test_mse[-1] < 0.5 * h.test_mse[0]
    assert h.test_mse[-1] == pytest.approx(metrics.mse(model, small_nonlinear.X_test, small_nonlinear.y_test))
    assert model.training  # train leaves the model in training mode
    if kind == "soft":
        assert model.sparse.nnz <= model.sparse.k
    else:
        assert model.sparse.nnz == model.sparse.k


@pytest.fixture(scope="module")
def recovery_data():
    return make_regression("linear", in_features=32, out_features=4, density=0.1, noise=0.01, n_train=1024)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigmoid_mask_recovers_planted_support(recovery_data, seed):
    """A single sigmoid-mask SparseLinear at the planted density finds exactly the planted connections."""
    torch.manual_seed(seed)
    layer = SparseLinear(32, 4, density=0.1, mask="sigmoid")
    h = train(layer, recovery_data, epochs=30, lr=1e-2, batch_size=64, seed=seed, lr_schedule="constant", **FAST)
    assert h.train_loss[-1] < 0.01 * h.train_loss[0]
    assert h.test_mse[-1] < 1e-3
    result = metrics.support_match(layer.mask(), recovery_data.planted_support)
    assert result["f1"] == 1.0, result
    # the annealing followed the schedule
    end = TrainConfig().temperature_end
    assert h.temperature == [M.temperature_schedule(e, 30, 1.0, end) for e in range(30)]
    assert float(layer.temperature) == pytest.approx(end)
    # at the final temperature the relaxed mask is binary: no value in (0.01, 0.99)
    assert h.sigmoid_nonbinary[-1] == [0.0]
    assert h.sigmoid_nonbinary[0][0] > 0.5  # at T = 1 most of it is not


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hard_mask_recovers_planted_support_at_90_percent_sparsity(recovery_data, seed):
    """Hard top-k with the STE (dense weight gradient) finds exactly the planted connections at density 0.1."""
    torch.manual_seed(seed)
    layer = SparseLinear(32, 4, density=0.1, mask="hard")
    h = train(layer, recovery_data, epochs=80, lr=1e-2, batch_size=64, weight_decay=1e-2, seed=seed, **FAST)
    assert h.train_loss[-1] < 0.01 * h.train_loss[0]
    result = metrics.support_match(layer.mask(), recovery_data.planted_support)
    assert result["f1"] == 1.0, result
    assert layer.nnz == int(recovery_data.planted_support.sum())


def test_hard_mask_with_masked_weight_gradient_keeps_wrong_signs(recovery_data):
    """With G * M to the weights (dense_weight_grad=False) pruned weights are frozen: recovery stalls.

    A planted connection that starts pruned with the wrong sign gets a score gradient G * W pushing
    it further out, so the same budget that recovers the support with the dense gradient falls short.
    """
    torch.manual_seed(0)
    layer = SparseLinear(32, 4, density=0.1, mask="hard", dense_weight_grad=False)
    planted = recovery_data.planted_support
    train(layer, recovery_data, epochs=80, lr=1e-2, batch_size=64, weight_decay=1e-2, seed=0, **FAST)
    result = metrics.support_match(layer.mask(), planted)
    assert result["f1"] < 1.0  # the same budget recovers the support exactly with the dense weight gradient


# --------------------------------------------------------------------------- checkpoints and resume
@pytest.mark.parametrize("kind", ["hard", "sigmoid", "soft"])
@pytest.mark.parametrize("stop_after,every", [(2, 10), (3, 2)])
def test_resume_equals_uninterrupted(tmp_path, small_linear, kind, stop_after, every):
    epochs = 6
    cfg = dict(epochs=epochs, batch_size=32, lr=2e-2, seed=3, checkpoint_every=every, **FAST)

    full = _mlp(kind, seed=0)
    h_full = train(full, small_linear, **cfg)

    ckpt = tmp_path / "run" / "model.pt"
    first = _mlp(kind, seed=0)
    h_first = train(first, small_linear, checkpoint=str(ckpt), stop_after=stop_after, **cfg)
    assert h_first.epoch == list(range(stop_after))
    assert load_checkpoint(ckpt)["epoch"] == stop_after

    resumed = _mlp(kind, seed=99)  # a fresh model with other weights: everything must come from the checkpoint
    h_resumed = train(resumed, small_linear, checkpoint=str(ckpt), **cfg)

    assert history_without_timing(h_resumed) == history_without_timing(h_full)
    assert h_resumed.epoch == list(range(epochs))
    full_state, resumed_state = full.state_dict(), resumed.state_dict()
    assert full_state.keys() == resumed_state.keys()
    for name, tensor in full_state.items():
        assert torch.equal(resumed_state[name], tensor), name
    assert torch.equal(resumed.sparse.mask(), full.sparse.mask())
    state = load_checkpoint(ckpt)
    assert state["epoch"] == epochs
    assert history_without_timing(History(**state["history"])) == history_without_timing(h_full)
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["model.pt"]  # no temporary files left


def test_finished_checkpoint_is_not_trained_again(tmp_path, small_linear):
    ckpt = tmp_path / "done.pt"
    model = _mlp("hard", seed=0)
    h = train(model, small_linear, epochs=2, batch_size=64, checkpoint=str(ckpt), **FAST)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    again = train(model, small_linear, epochs=2, batch_size=64, checkpoint=str(ckpt), **FAST)
    assert history_without_timing(again) == history_without_timing(h)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    # resume=False starts over from the model as it is
    fresh = train(model, small_linear, epochs=2, batch_size=64, checkpoint=str(ckpt), resume=False, **FAST)
    assert fresh.epoch == [0, 1] and fresh.train_loss != h.train_loss


def test_save_checkpoint_is_atomic(tmp_path):
    path = tmp_path / "sub" / "ckpt.pt"
    save_checkpoint(path, {"x": torch.arange(3)})
    assert torch.equal(load_checkpoint(path)["x"], torch.arange(3))
    # a failing write leaves the previous checkpoint intact and no temporary file behind
    with pytest.raises(Exception):
        save_checkpoint(path, {"x": lambda: None})
    assert torch.equal(load_checkpoint(path)["x"], torch.arange(3))
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]


class _Planted:
    """An object whose unpickling runs code: it creates the folder ``marker`` (a stand-in for any payload)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _with_header(path, payload: bytes) -> None:
    digest = hashlib.sha256(payload).hexdigest().encode()
    path.write_bytes(CHECKPOINT_MAGIC + digest + b"\n" + payload)


def test_a_crafted_checkpoint_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"model": _Planted(marker)}, buffer)
    path = tmp_path / "evil.pt"
    _with_header(path, buffer.getvalue())  # a valid integrity header: only weights_only=True stops it
    with pytest.raises(CheckpointError, match="evil.pt.*tensors and plain containers"):
        load_checkpoint(path)
    assert not marker.exists()
    raw = tmp_path / "raw.pt"  # the same payload without a header (e.g. a plain torch.save file)
    raw.write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="raw.pt is not a sparselab checkpoint"):
        load_checkpoint(raw)
    assert not marker.exists()


def test_every_single_bit_flip_of_a_checkpoint_is_detected(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"model": {"w": torch.linspace(-1, 1, 64)}, "epoch": 3, "history": {"loss": [0.5, 0.25]}})
    data = path.read_bytes()
    header_end = data.index(b"\n")
    g = torch.Generator().manual_seed(0)
    positions = torch.randint(header_end + 1, len(data), (200,), generator=g).tolist()
    for position in positions + [len(data) - 1]:
        bit = 1 << (position % 8)
        flipped = bytearray(data)
        flipped[position] ^= bit
        path.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError, match="c.pt is corrupt"):
            load_checkpoint(path)
    path.write_bytes(data[:-10])  # truncated
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)
    path.write_bytes(data)
    assert load_checkpoint(path)["epoch"] == 3


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_checkpoint_file_gets_the_usual_permissions(tmp_path, umask):
    previous = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "c.pt", {"x": 1})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "c.pt").stat().st_mode) == 0o666 & ~umask


# --------------------------------------------------------------------------- non-finite loss
def test_huge_data_raises_floating_point_error():
    g = torch.Generator().manual_seed(0)
    X = 1e25 * torch.randn(64, 4, generator=g)
    data = RegressionData(X, torch.randn(64, 1, generator=g), X[:8].clone(), torch.randn(8, 1, generator=g))
    with pytest.raises(FloatingPointError, match=r"epoch 0.*lr") as info:
        train(SparseLinear(4, 1, density=0.5), data, epochs=3, batch_size=16, **FAST)
    assert "non-finite" in str(info.value)


def test_huge_learning_rate_raises_floating_point_error(small_linear):
    with pytest.raises(FloatingPointError, match=r"epoch \d+.*lr \(now 1e\+30\)"):
        train(_mlp("hard", seed=0), small_linear, epochs=3, batch_size=16, lr=1e30, **FAST)


# --------------------------------------------------------------------------- mask flips
def test_no_flips_without_straight_through(small_linear):
    model = _mlp("hard", seed=0, straight_through=False)
    mask0, scores0 = model.sparse.mask(), model.sparse.scores.detach().clone()
    h = train(model, small_linear, epochs=3, batch_size=32, **FAST)
    assert h.mask_flips == [0, 0, 0]
    assert h.flip_rate == [0.0, 0.0, 0.0]
    assert torch.equal(model.sparse.mask(), mask0)
    assert torch.equal(model.sparse.scores, scores0)


def test_flips_with_straight_through(small_linear):
    model = _mlp("hard", seed=0)
    mask0 = model.sparse.mask()
    h = train(model, small_linear, epochs=3, batch_size=32, **FAST)
    assert h.mask_flips[0] > 0
    assert all(f % 2 == 0 for f in h.mask_flips)  # a fixed budget: every drop comes with a gain
    assert h.flip_rate == [f / model.sparse.weight.numel() for f in h.mask_flips]
    assert not torch.equal(model.sparse.mask(), mask0)
    assert model.sparse.nnz == model.sparse.k


def test_track_flips_off_records_zero(small_linear):
    h = train(_mlp("hard", seed=0), small_linear, epochs=2, batch_size=32, track_flips=False, **FAST)
    assert h.mask_flips == [0, 0]


# --------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("kind", ["hard", "sigmoid"])
def test_same_seed_same_run(small_linear, kind):
    runs = []
    for _ in range(2):
        model = _mlp(kind, seed=5)
        h = train(model, small_linear, epochs=3, batch_size=32, seed=7, **FAST)
        runs.append((history_without_timing(h), model.state_dict()))
    (h1, s1), (h2, s2) = runs
    assert h1 == h2
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    # and another training seed gives another batch order, hence another run
    other = _mlp(kind, seed=5)
    h3 = train(other, small_linear, epochs=3, batch_size=32, seed=8, **FAST)
    assert history_without_timing(h3)["train_loss"] != h1["train_loss"]


def test_train_restores_deterministic_algorithms_flag(small_linear):
    torch.use_deterministic_algorithms(False)
    train(_mlp("hard", seed=0), small_linear, epochs=1, **FAST)
    assert not torch.are_deterministic_algorithms_enabled()


# --------------------------------------------------------------------------- configuration and devices
def test_resolve_device_auto_is_cpu_here():
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("an accelerator is present")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_resolve_device_cuda_without_cuda_raises():
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="CUDA"):
        resolve_device("cuda:0")


def test_resolve_device_rejects_nonsense():
    with pytest.raises(ValueError, match="device"):
        resolve_device("gpu-please")


@pytest.mark.parametrize(
    "field,value",
    [
        ("epochs", 0),
        ("epochs", 2.5),
        ("lr", -1),
        ("lr", 0.0),
        ("lr", float("inf")),
        ("batch_size", 1.5),
        ("batch_size", 0),
        ("score_lr", -1.0),
        ("weight_decay", -0.1),
        ("seed", -1),
        ("temperature_start", 0.0),
        ("temperature_end", -1.0),
        ("checkpoint_every", 0),
        ("stop_after", 0),
        ("device", 0),
    ],
)
def test_bad_config_values_raise_naming_the_field(field, value):
    with pytest.raises((TypeError, ValueError), match=field):
        TrainConfig(**{field: value})
    with pytest.raises((TypeError, ValueError), match=field):
        TrainConfig.from_dict({field: value})


def test_unknown_config_key_raises_naming_it(small_linear):
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_dict({"epochs": 2, "learning_rate": 0.1})
    with pytest.raises(ValueError, match="learning_rate"):
        train(_mlp("hard", seed=0), small_linear, {"epochs": 1, "learning_rate": 0.1})
    with pytest.raises(ValueError, match="learning_rate"):
        train(_mlp("hard", seed=0), small_linear, epochs=1, learning_rate=0.1)


def test_config_round_trips_and_overrides(small_linear):
    from dataclasses import asdict

    cfg = TrainConfig(epochs=3, lr=0.05, batch_size=17, progress=False)
    assert TrainConfig.from_dict(asdict(cfg)) == cfg
    h = train(_mlp("hard", seed=0), small_linear, cfg, epochs=2)  # keyword overrides the config
    assert h.epoch == [0, 1]
    h = train(_mlp("hard", seed=0), small_linear, asdict(cfg))
    assert h.epoch == [0, 1, 2]


def test_train_rejects_mismatched_data(small_linear):
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="input features"):
        train(SparseLinear(5, 2, density=0.5), small_linear, epochs=1, **FAST)
    with pytest.raises(TypeError, match="RegressionData"):
        train(SparseLinear(8, 2, density=0.5), (small_linear.X_train, small_linear.y_train), epochs=1, **FAST)


def test_bf16_on_cpu_warns_and_trains_in_fp32(small_linear):
    with pytest.warns(UserWarning, match="bf16"):
        h = train(_mlp("hard", seed=0), small_linear, epochs=1, bf16=True, **FAST)
    assert len(h.train_loss) == 1 and math.isfinite(h.train_loss[0])


def test_history_frame(small_linear):
    h = train(_mlp("sigmoid", seed=0), small_linear, epochs=3, temperature_start=2.0, temperature_end=0.5, **FAST)
    frame = h.to_frame()
    assert list(frame.columns) == [
        "epoch",
        "train_loss",
        "test_mse",
        "test_loss",
        "test_accuracy",
        "steps",
        "mask_flips",
        "flip_rate",
        "temperature",
        "soft_threshold",
        "soft_density",
        "sigmoid_nonbinary",
        "seconds",
    ]
    assert frame["soft_threshold"].tolist() == [[], [], []]  # no soft layer
    assert all(len(v) == 1 and 0.0 <= v[0] <= 1.0 for v in frame["sigmoid_nonbinary"])
    assert frame["test_loss"].tolist() == frame["test_mse"].tolist()
    assert frame["test_accuracy"].isna().all()  # regression has no accuracy
    assert frame["epoch"].tolist() == [0, 1, 2]
    assert frame["temperature"].tolist() == pytest.approx([2.0, 1.0, 0.5])


def test_lr_factor_cosine_endpoints_and_monotone():
    from sparselab.training import lr_factor

    factors = [lr_factor(e, 20, "cosine") for e in range(20)]
    assert factors[0] == 1.0
    assert all(a > b for a, b in zip(factors, factors[1:]))
    assert 0.0 < factors[-1] < 0.01
    assert factors[10] == pytest.approx(0.5)
    assert [lr_factor(e, 20, "constant") for e in range(20)] == [1.0] * 20
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_factor(0, 20, "linear")


def test_train_applies_the_lr_schedule(small_linear):
    model = SparseLinear(small_linear.in_features, small_linear.out_features, density=0.5)
    seen = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        train(model, small_linear, epochs=4, lr=0.1, batch_size=len(small_linear.X_train), **FAST)
    finally:
        torch.optim.Adam.step = original
    from sparselab.training import lr_factor

    assert seen == pytest.approx([0.1 * lr_factor(e, 4) for e in range(4)])


# --------------------------------------------------------------------------- classification and callbacks
class _Recorder:
    """A callback that records what it is called with."""

    def __init__(self):
        self.begin, self.steps, self.batch_sizes, self.epochs = 0, [], [], []

    def on_train_begin(self, model, optimizer):
        self.begin += 1
        assert isinstance(optimizer, torch.optim.Adam)

    def on_step_end(self, step, model, optimizer, batch):
        X, y, task = batch
        self.steps.append(step)
        self.batch_sizes.append(len(X))
        assert task == "regression" and len(y) == len(X)

    def on_epoch_end(self, epoch, model, history):
        self.epochs.append((epoch, history.steps[-1]))


def test_callbacks_see_every_step_and_epoch(small_linear):
    n = len(small_linear.X_train)
    rec = _Recorder()
    h = train(_mlp("hard", seed=0), small_linear, epochs=3, batch_size=48, callbacks=[rec], **FAST)
    per_epoch = -(-n // 48)
    assert rec.begin == 1
    assert rec.steps == list(range(1, 3 * per_epoch + 1))
    assert sum(rec.batch_sizes) == 3 * n
    assert h.steps == [per_epoch, 2 * per_epoch, 3 * per_epoch]
    assert rec.epochs == [(0, per_epoch), (1, 2 * per_epoch), (2, 3 * per_epoch)]


def _blobs(n=300, d=5, classes=3, seed=0):
    """Well separated Gaussian blobs: a linear classifier reaches (almost) 100 %."""
    from sparselab.data import ClassificationData

    g = torch.Generator().manual_seed(seed)
    centres = 4 * torch.randn(classes, d, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    X = centres[y] + torch.randn(n, d, generator=g)
    return ClassificationData(X[:200], y[:200], X[200:], y[200:], n_classes=classes)


def test_classification_uses_cross_entropy_and_reports_accuracy():
    from sparselab.training import evaluate, task_loss

    data = _blobs()
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 3)
    before = evaluate(model, data)
    h = train(model, data, epochs=15, lr=5e-2, batch_size=50, **FAST)
    after = evaluate(model, data)
    with torch.no_grad():
        logits = model(data.X_test)
    assert after["test_loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, data.y_test)), rel=1e-6)
    assert after["test_accuracy"] == pytest.approx(float((logits.argmax(1) == data.y_test).float().mean()))
    assert after["test_accuracy"] >= 0.95 > before["test_accuracy"]
    assert h.test_accuracy[-1] == pytest.approx(after["test_accuracy"])
    assert h.test_loss[-1] == pytest.approx(after["test_loss"])
    assert h.test_mse == [None] * 15
    assert h.train_loss[-1] < h.train_loss[0]
    pred = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    assert float(task_loss(pred, torch.tensor([0, 1]), "classification")) == pytest.approx(
        float(torch.nn.functional.cross_entropy(pred, torch.tensor([0, 1])))
    )
    with pytest.raises(ValueError, match="task must be one of"):
        task_loss(pred, torch.tensor([0, 1]), "ranking")


def test_input_size_mismatch_names_both_sizes():
    data = _blobs()
    with pytest.raises(ValueError, match="5 input features but the model's first layer expects 7"):
        train(torch.nn.Linear(7, 3), data, epochs=1, **FAST)
    with pytest.raises(TypeError, match="RegressionData or ClassificationData"):
        train(torch.nn.Linear(5, 3), object(), epochs=1, **FAST)


# --------------------------------------------------------------------------- the loop primitive: fit
class _HookLog(Callback):
    """A fit callback that logs every hook as (hook, epoch, step), and can stop the loop at a given hook."""

    def __init__(self, stop_at=None):
        self.calls, self.stop_at = [], stop_at

    def _log(self, hook, state):
        self.calls.append((hook, state.epoch, state.step))
        if self.stop_at == (hook, state.step):
            state.stop = True

    def begin(self, state):
        self._log("begin", state)

    def epoch_begin(self, state):
        self._log("epoch_begin", state)

    def after_step(self, state):
        self._log("after_step", state)

    def epoch_end(self, state):
        self._log("epoch_end", state)


def _expected_calls(epochs, per_epoch, start_epoch=0, start_step=0):
    calls, step = [("begin", start_epoch, start_step)], start_step
    for epoch in range(start_epoch, epochs):
        calls.append(("epoch_begin", epoch, step))
        for _ in range(per_epoch):
            step += 1
            calls.append(("after_step", epoch, step))
        calls.append(("epoch_end", epoch, step))
    return calls


def test_fit_calls_the_hooks_in_order_with_the_step_indices():
    log, other = _HookLog(), _HookLog()

    def batches(epoch):
        log.calls.append(("batches", epoch, None))  # drawn when the epoch's first batch is asked for
        yield from ((epoch, i) for i in range(3))

    def step_fn(batch):
        log.calls.append(("step_fn", batch, None))
        return float(len(log.calls))

    state = fit(step_fn, epochs=2, batches=batches, callbacks=[log, other])
    assert other.calls == _expected_calls(2, 3)
    expected = [("begin", 0, 0)]
    for epoch in range(2):
        expected += [("epoch_begin", epoch, 3 * epoch), ("batches", epoch, None)]
        for i in range(3):  # every step runs before its after_step, which sees its 1-based index
            expected += [("step_fn", (epoch, i), None), ("after_step", epoch, 3 * epoch + i + 1)]
        expected.append(("epoch_end", epoch, 3 * epoch + 3))
    assert log.calls == expected
    assert isinstance(state, LoopState)
    assert (state.epoch, state.step, state.batch, state.stop) == (1, 6, (1, 2), False)
    assert state.loss == float(len(expected) - 2)  # what the last step returned


def test_fit_callbacks_see_the_parameters_after_the_optimizer_step():
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=1.0)
    seen = []

    class Watch(Callback):
        def after_step(self, state):
            seen.append((state.step, float(w.detach()), float(state.loss)))

    step_fn = supervised_step(lambda x: w * x, lambda pred, y: ((pred - y) ** 2).sum() / 2, opt)
    fit(step_fn, epochs=3, batches=lambda epoch: [(torch.ones(1), torch.ones(1))], callbacks=[Watch()])
    # w_{t+1} = w_t - (w_t - 1): 0 -> 1 at step 1, and the loss of step 1 is the one before the update
    assert seen == [(1, 1.0, 0.5), (2, 1.0, 0.0), (3, 1.0, 0.0)]


def test_fit_full_batch_and_resume_counting():
    log, batches = _HookLog(), []
    fit(batches.append, epochs=4, callbacks=[log])
    assert batches == [None] * 4  # batches=None: one full-batch step per epoch
    assert log.calls == _expected_calls(4, 1)
    log = _HookLog()
    state = fit(lambda b: None, epochs=5, batches=lambda e: range(2), callbacks=[log], start_epoch=3, start_step=6)
    assert log.calls == _expected_calls(5, 2, start_epoch=3, start_step=6)
    assert state.step == 10
    log = _HookLog()
    assert fit(lambda b: None, epochs=2, callbacks=[log], start_epoch=2).step == 0  # nothing left to run
    assert log.calls == [("begin", 2, 0)]


@pytest.mark.parametrize(
    "stop_at, last",
    [
        (("begin", 0), ("begin", 0, 0)),
        (("epoch_begin", 2), ("epoch_begin", 1, 2)),
        (("after_step", 3), ("after_step", 1, 3)),
        (("epoch_end", 4), ("epoch_end", 1, 4)),
    ],
)
def test_fit_stops_early_when_a_callback_says_so(stop_at, last):
    steps = []
    log, after = _HookLog(stop_at=stop_at), _HookLog()
    state = fit(steps.append, epochs=5, batches=lambda e: [e, e], callbacks=[log, after])
    assert log.calls[-1] == last and state.stop
    assert after.calls == log.calls  # the hook that stopped still ran on every callback
    assert log.calls == _expected_calls(5, 2)[: len(log.calls)]
    assert len(steps) == state.step == last[2]


def test_fit_is_deterministic_and_equals_the_plain_loop():
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(40, 3, generator=g), torch.randn(40, 2, generator=g)

    def run(use_fit):
        torch.manual_seed(1)
        model = torch.nn.Linear(3, 2)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        order = torch.Generator().manual_seed(2)
        if not use_fit:
            for _ in range(3):
                perm = torch.randperm(40, generator=order)
                for i in range(0, 40, 16):
                    idx = perm[i : i + 16]
                    opt.zero_grad(set_to_none=True)
                    torch.nn.functional.mse_loss(model(X[idx]), Y[idx]).backward()
                    opt.step()
            return model.state_dict()

        def batches(epoch):
            perm = torch.randperm(40, generator=order)
            yield from ((X[perm[i : i + 16]], Y[perm[i : i + 16]]) for i in range(0, 40, 16))

        fit(supervised_step(model, torch.nn.functional.mse_loss, opt), epochs=3, batches=batches)
        return model.state_dict()

    a, b, plain = run(True), run(True), run(False)
    assert all(torch.equal(a[k], b[k]) and torch.equal(a[k], plain[k]) for k in a)


def test_fit_rejects_train_style_callbacks_and_bad_counts():
    with pytest.raises(TypeError, match="_Recorder"):
        fit(lambda b: None, epochs=1, callbacks=[_Recorder()])
    with pytest.raises(ValueError, match="epochs"):
        fit(lambda b: None, epochs=-1)
    with pytest.raises(ValueError, match="start_step"):
        fit(lambda b: None, epochs=1, start_step=-2)


def _counting_fit(monkeypatch, module):
    """Replace ``module.fit`` by a wrapper of the real loop that records every call and counts the steps."""
    calls = []

    def counting(step_fn, **kwargs):
        record = {"kwargs": kwargs, "steps": 0}
        calls.append(record)

        def counted(batch):
            record["steps"] += 1
            return step_fn(batch)

        return fit(counted, **kwargs)

    monkeypatch.setattr(module, "fit", counting)
    return calls


def test_train_fit_sparse_relu_and_the_chapter_run_on_the_shared_loop(monkeypatch, small_linear):
    import sparselab.factorization.illposed as illposed
    import sparselab.training as training
    from sparselab.chapters import factorization as chapter
    from sparselab.factorization import fit_sparse_relu

    calls = _counting_fit(monkeypatch, illposed)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, generator=g, dtype=torch.float64)
    result = fit_sparse_relu(x, x[:, 0], torch.ones(4, 3, dtype=torch.bool), steps=7, record_every=3)
    assert len(calls) == 1 and calls[0]["steps"] == 7 and calls[0]["kwargs"]["epochs"] == 7
    assert result.history["step"] == [0, 3, 6, 7]

    train_calls = _counting_fit(monkeypatch, training)
    h = train(_mlp("hard", seed=0), small_linear, epochs=2, batch_size=100, **FAST)
    assert len(train_calls) == 1 and train_calls[0]["steps"] == 2 * 3 == h.steps[-1]

    chapter_calls = _counting_fit(monkeypatch, chapter)
    chapter.structured_layer_task(N=4, samples=5, test_samples=4, epochs=2, batch_size=2, seeds=(0,), models=("dense",))
    assert len(chapter_calls) == 1 and chapter_calls[0]["steps"] == 2 * 3


# --------------------------------------------------------------------------- the soft mask's regulariser (STR)
def test_soft_density_target_is_the_cubic_schedule():
    from sparselab.training import soft_density_target

    assert soft_density_target(0, 100, 0.1, 0.5) == pytest.approx(1.0)
    assert soft_density_target(50, 100, 0.1, 0.5) == pytest.approx(0.1)
    assert soft_density_target(99, 100, 0.1, 0.5) == pytest.approx(0.1)
    assert soft_density_target(25, 100, 0.1, 0.5) == pytest.approx(0.1 + 0.9 * 0.5**3)
    assert soft_density_target(0, 100, 0.1, 0.0) == pytest.approx(0.1)
    values = [soft_density_target(t, 40, 0.2, 0.5) for t in range(40)]
    assert values == sorted(values, reverse=True)
    with pytest.raises(ValueError, match="density"):
        soft_density_target(0, 10, 0.0)


@pytest.fixture(scope="module")
def soft_run():
    data = make_regression("nonlinear", n_train=512, n_test=128, in_features=16, width=16, density=0.1, seed=3)
    torch.manual_seed(0)
    model = SparseMLP(16, 16, 1, density=0.1, mask="soft")
    tau0 = float(model.sparse.tau())
    h = train(model, data, epochs=20, lr=0.03, batch_size=64, seed=0, **FAST)
    return model, h, tau0


def test_soft_mask_learns_its_threshold_and_reaches_the_target_density(soft_run):
    model, h, tau0 = soft_run
    layer = model.sparse
    taus = [v[0] for v in h.soft_threshold]
    dens = [v[0] for v in h.soft_density]
    assert len(taus) == len(dens) == 20
    assert taus[-1] > 20 * tau0  # the threshold moved up, far from its initial value
    assert dens[0] > 0.5  # the ramp starts dense
    assert dens[-1] == pytest.approx(0.1, abs=0.04)  # the learned threshold sets the density near the target
    assert dens[-1] == layer.training_density()
    assert float(layer.tau()) == pytest.approx(taus[-1])
    # the density in training is exactly the fraction of magnitudes above the learned threshold
    assert dens[-1] == float((layer.weight.abs() > layer.tau()).sum()) / layer.weight.numel()
    # and the export keeps exactly k
    assert layer.nnz == layer.k == 26
    model.eval()
    assert int((layer.effective_weight() != 0).sum()) == 26


def test_soft_mask_without_its_regulariser_stays_dense(small_linear):
    torch.manual_seed(0)
    model = _mlp("soft", seed=0)
    h = train(model, small_linear, epochs=5, soft_penalty=0.0, **FAST)
    assert h.soft_density[-1][0] > 0.9  # nothing pushes the threshold up: the task loss lowers it
    assert h.soft_threshold[-1][0] < h.soft_threshold[0][0] or h.soft_threshold[-1][0] < 0.01


def test_recorded_train_loss_of_a_soft_run_is_the_task_loss(small_linear):
    model = _mlp("soft", seed=1)
    model.train()
    with torch.no_grad():  # one full batch: the recorded loss is that of the initial model
        before = float(((model(small_linear.X_train) - small_linear.y_train) ** 2).mean())
        tau = model.sparse.tau()
        rho = float(M.soft_density_surrogate(model.sparse.weight, tau, 0.05))
    h = train(model, small_linear, epochs=1, batch_size=len(small_linear.X_train), soft_ramp=0.0, **FAST)
    penalty = ((rho - 0.3) / 0.3) ** 2
    assert penalty > 1.0  # large against the loss, so that adding it would show
    assert h.train_loss[0] == pytest.approx(before, rel=1e-5)


@pytest.mark.parametrize("flag", ["bf16", "progress", "track_flips", "resume"])
@pytest.mark.parametrize("value", ["false", "no", 0, 1, None])
def test_train_config_flags_must_be_booleans(flag, value):
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        TrainConfig(**{flag: value})


def test_straight_through_must_be_a_boolean():
    with pytest.raises(TypeError, match="straight_through must be True or False"):
        SparseLinear(4, 4, sparsity=0.5, straight_through="false")
