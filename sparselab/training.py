r"""Training: a plain, GPU-aware loop for models with sparse layers.

The loop itself is :func:`sparselab.loop.fit`: epochs of steps (a step function per batch) and callbacks
with the hooks of :class:`sparselab.loop.Callback`. :func:`train`, built on it, minimises with Adam the mean squared error
:math:`L = \frac1n \sum_i \|f(x_i) - y_i\|^2` (regression) or the cross-entropy
:math:`L = -\frac1n \sum_i \log \operatorname{softmax}(f(x_i))_{y_i}` (classification),
chosen by the data's ``task``. It

* picks the device (``"auto"``: CUDA, then Apple MPS, then CPU) and moves the
  data there once;
* runs under bf16 autocast on CUDA when asked (master weights stay fp32);
* never synchronises with the host inside an epoch: losses and mask flips are
  accumulated on the device and read once per epoch;
* seeds every random source (batch order comes from a generator seeded by
  ``(seed, epoch)``), and uses deterministic algorithms on CPU;
* decays the learning rate on a cosine schedule (:func:`lr_factor`, a pure
  function of the epoch) and anneals the temperature of ``sigmoid`` masks with
  :func:`sparselab.masks.temperature_schedule`;
* adds, for every ``soft`` :class:`~sparselab.nn.SparseLinear`, the density regulariser of soft
  threshold reparameterisation (:func:`soft_density_target`,
  :func:`sparselab.masks.soft_density_penalty`): with :math:`t` the optimizer step and :math:`T`
  the run's total steps, the loss is

  .. math::

      L + \lambda \sum_\ell \Big(\frac{\tilde\rho_\ell - d_{\ell,t}}{d_{\ell,t}}\Big)^2,
      \qquad d_{\ell,t} = d_\ell + (1 - d_\ell)\big(1 - \min(1, t / (rT))\big)^3,

  the cubic schedule of Zhu & Gupta (2017) from density 1 to the layer's target :math:`d_\ell` over
  the first fraction :math:`r` (``soft_ramp``) of training, :math:`\lambda` = ``soft_penalty``,
  :math:`\tilde\rho_\ell` the smooth density with width ``soft_beta``. The recorded
  ``train_loss`` is :math:`L` alone;
* writes atomic checkpoints (model, optimizer, history) and resumes from them,
  so that an interrupted and resumed run ends with the same weights as an
  uninterrupted one;
* stops with :class:`FloatingPointError` on a non-finite loss, naming the epoch;
* calls *callbacks* at the start, after every optimizer step and after every
  epoch. Pruning schedules (:mod:`sparselab.pruning.schedules`) and dynamic sparse
  training (:mod:`sparselab.pruning.dynamic`) are callbacks; a callback is any object
  with some of the methods ``on_train_begin(model, optimizer)``,
  ``on_step_end(step, model, optimizer, batch)`` (``step`` counts optimizer
  steps from 1 in this call, ``batch = (X, y, task)``) and
  ``on_epoch_end(epoch, model, history)``.

Configuration is plain data (:class:`TrainConfig`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import pickle
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from sparselab._io import atomic_write
from sparselab._validation import check_bool, check_choice, check_float, check_int
from sparselab.loop import LoopState, fit, supervised_step
from sparselab.masks import soft_density_penalty, temperature_schedule
from sparselab.metrics import mse
from sparselab.nn.layers import sparse_layers

LR_SCHEDULES = ("constant", "cosine")
TASKS = ("regression", "classification")

__all__ = [
    "LR_SCHEDULES",
    "TASKS",
    "task_loss",
    "evaluate",
    "lr_factor",
    "soft_density_target",
    "TrainConfig",
    "History",
    "train",
    "resolve_device",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
]


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train` (plain data; ``TrainConfig(**dict)`` round-trips ``asdict``)."""

    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-2
    score_lr: float | None = None
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    bf16: bool = False
    lr_schedule: str = "cosine"
    temperature_start: float = 1.0
    temperature_end: float = 0.001  # 0.01 left 2-3 % of the relaxed mask in (0.01, 0.99) at the end
    soft_penalty: float = 1.0
    threshold_lr: float = 0.1
    soft_ramp: float = 0.5
    soft_beta: float = 0.05
    progress: bool = True
    track_flips: bool = True
    checkpoint: str | None = None
    checkpoint_every: int = 10
    resume: bool = True
    stop_after: int | None = None

    def __post_init__(self):
        check_int(self.epochs, "epochs", low=1)
        check_int(self.batch_size, "batch_size", low=1)
        check_float(self.lr, "lr", low=0.0, low_inclusive=False)
        if self.score_lr is not None:
            check_float(self.score_lr, "score_lr", low=0.0, low_inclusive=False)
        check_float(self.weight_decay, "weight_decay", low=0.0)
        check_int(self.seed, "seed", low=0)
        check_choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        check_float(self.temperature_start, "temperature_start", low=0.0, low_inclusive=False)
        check_float(self.temperature_end, "temperature_end", low=0.0, low_inclusive=False)
        check_float(self.soft_penalty, "soft_penalty", low=0.0)
        check_float(self.threshold_lr, "threshold_lr", low=0.0, low_inclusive=False)
        check_float(self.soft_ramp, "soft_ramp", low=0.0, high=1.0)
        check_float(self.soft_beta, "soft_beta", low=0.0, low_inclusive=False)
        check_int(self.checkpoint_every, "checkpoint_every", low=1)
        if self.stop_after is not None:
            check_int(self.stop_after, "stop_after", low=1)
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string such as 'auto', 'cpu', 'cuda' or 'mps', got {self.device!r}")
        for flag in ("bf16", "progress", "track_flips", "resume"):  # 'false' or 0 is no boolean: refuse it
            check_bool(getattr(self, flag), flag)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; allowed: {sorted(known)}")
        return cls(**values)


@dataclass
class History:
    r"""Per-epoch record of a run: lists of equal length, one entry per finished epoch.

    ``soft_threshold`` and ``soft_density`` hold, per epoch, one value per ``soft`` sparse layer below
    density 1 (in
    the order of :func:`sparselab.nn.sparse_layers`): the learned threshold :math:`\tau = \sigma(s)`
    and the training-mode density :math:`\#\{|W| > \tau\}/n` at the end of the epoch.
    ``sigmoid_nonbinary`` holds one value per ``sigmoid`` layer: the fraction of its relaxed mask
    values in (0.01, 0.99) at the epoch's temperature (0 for a binary mask). Empty lists for a
    model without such layers.
    """

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    test_mse: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    mask_flips: list = field(default_factory=list)
    flip_rate: list = field(default_factory=list)
    temperature: list = field(default_factory=list)
    soft_threshold: list = field(default_factory=list)
    soft_density: list = field(default_factory=list)
    sigmoid_nonbinary: list = field(default_factory=list)
    seconds: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.to_dict())


def task_loss(pred: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """The training loss of a task: mean squared error (``regression``) or cross-entropy (``classification``)."""
    if task == "regression":
        return F.mse_loss(pred.float(), y)
    if task == "classification":
        return F.cross_entropy(pred.float(), y)
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


@torch.no_grad()
def evaluate(model: torch.nn.Module, data) -> dict:
    """Test metrics of ``model`` on ``data``: ``test_mse`` (regression) or ``test_loss`` and ``test_accuracy``.

    The model is put in evaluation mode for the call and its previous mode restored.
    """
    task = _task(data)
    if task == "regression":
        return {"test_mse": mse(model, data.X_test, data.y_test)}
    was_training = model.training
    model.eval()
    try:
        logits = model(data.X_test).float()
    finally:
        model.train(was_training)
    return {
        "test_loss": float(F.cross_entropy(logits, data.y_test)),
        "test_accuracy": float((logits.argmax(1) == data.y_test).float().mean()),
    }


def _task(data) -> str:
    task = getattr(data, "task", None)
    if task not in TASKS:
        raise TypeError(
            f"data must be a sparselab.data.RegressionData or ClassificationData (with X_train, y_train, "
            f"X_test, y_test and task in {TASKS}), got {type(data).__name__}"
        )
    return task


def _call(callbacks, hook: str, *args) -> None:
    for cb in callbacks:
        method = getattr(cb, hook, None)
        if method is not None:
            method(*args)


def lr_factor(epoch: int, epochs: int, schedule: str = "cosine") -> float:
    r"""Learning-rate multiplier for an epoch: 1, or :math:`\tfrac12(1 + \cos(\pi e / E))` (cosine decay).

    A pure function of the epoch, so a resumed run follows the same schedule without
    any scheduler state in the checkpoint.
    """
    check_choice(schedule, "lr_schedule", LR_SCHEDULES)
    if schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def soft_density_target(step: int, total_steps: int, density: float, ramp: float = 0.5) -> float:
    r"""The scheduled density :math:`d_t = d + (1 - d)(1 - \min(1, t/(rT)))^3` of a soft layer at step ``step``.

    The cubic schedule of Zhu & Gupta (2017) (:func:`sparselab.pruning.schedules.cubic_sparsity`,
    from sparsity 0 to :math:`1 - d` in :math:`\lceil rT\rceil` steps of one); ``ramp`` :math:`r = 0`
    targets :math:`d` from the first step.
    """
    from sparselab.pruning.schedules import cubic_sparsity  # lazily: sparselab.pruning imports this module

    step = check_int(step, "step", low=0)
    total_steps = check_int(total_steps, "total_steps", low=1)
    density = check_float(density, "density", low=0.0, high=1.0, low_inclusive=False)
    ramp = check_float(ramp, "ramp", low=0.0, high=1.0)
    n = math.ceil(ramp * total_steps)
    return 1.0 - cubic_sparsity(step, final_sparsity=1.0 - density, n_updates=n, update_every=1)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then MPS, then CPU; an explicit device must be available."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda[:N]' or 'mps', got {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available; use device='auto' or 'cpu'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was asked for but MPS is not available; use device='auto' or 'cpu'")
    return dev


#: The first line of every checkpoint file: the format and the SHA-256 of the ``torch.save`` payload after it.
CHECKPOINT_MAGIC = b"SPARSELAB-CHECKPOINT 1 sha256="


class CheckpointError(ValueError):
    """A checkpoint file that is not one :func:`save_checkpoint` wrote, or whose content changed since."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` atomically (a temporary file in the same folder, then rename), with an integrity header.

    The file is one line ``SPARSELAB-CHECKPOINT 1 sha256=<hex>`` followed by the ``torch.save`` bytes of
    ``state``, whose SHA-256 the line holds. ``state`` must be tensors and plain containers (dict, list, tuple,
    str, int, float, bool, None): :func:`load_checkpoint` refuses anything else.
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    with atomic_write(path, "wb") as fh:
        fh.write(CHECKPOINT_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n")
        fh.write(payload)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`, after checking that its bytes are unchanged.

    Raises :class:`CheckpointError` naming the file when it has no sparselab header, when the payload's SHA-256
    differs from the header's (a changed or truncated file), or when the payload holds anything but tensors and
    plain containers: it is unpickled with ``torch.load(weights_only=True)``, so no code in a crafted file runs.
    """
    path = Path(path)
    data = path.read_bytes()
    header, newline, payload = data.partition(b"\n")
    if not header.startswith(CHECKPOINT_MAGIC) or not newline:
        raise CheckpointError(f"checkpoint {path} is not a sparselab checkpoint (no integrity header)")
    digest = header[len(CHECKPOINT_MAGIC) :].decode("ascii", errors="replace")
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CheckpointError(f"checkpoint {path} is corrupt: its content does not match its SHA-256 ({digest[:12]}…)")
    try:
        return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"checkpoint {path} holds more than tensors and plain containers: {err}") from err


@contextlib.contextmanager
def _deterministic(device: torch.device):
    """Deterministic algorithms on CPU for the duration of a run, restoring the previous setting."""
    if device.type != "cpu":
        yield
        return
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def _optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam; weight decay on weights and biases only, scores and soft thresholds on their own learning rates."""
    scores, thresholds, others = [], [], []
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        (scores if leaf == "scores" else thresholds if leaf == "threshold" else others).append(p)
    groups = [{"params": others, "weight_decay": cfg.weight_decay}]
    if scores:
        groups.append({"params": scores, "lr": cfg.score_lr or cfg.lr, "weight_decay": 0.0})
    if thresholds:
        groups.append({"params": thresholds, "lr": cfg.threshold_lr, "weight_decay": 0.0})
    return torch.optim.Adam(groups, lr=cfg.lr)


# ----------------------------------------------------------------------------- train


def train(
    model: torch.nn.Module,
    data,
    config: TrainConfig | dict | None = None,
    *,
    callbacks=(),
    checkpoint_meta: dict | None = None,
    **overrides,
) -> History:
    """Train ``model`` on ``data`` with Adam, on top of :func:`fit`.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place (and moved to the device).
    data : RegressionData or ClassificationData
        :class:`~sparselab.data.RegressionData`: MSE loss; ``test_mse`` and ``test_loss`` are both the
        test MSE, ``test_accuracy`` is None. :class:`~sparselab.data.ClassificationData`: cross-entropy;
        ``test_loss`` is the test cross-entropy, ``test_accuracy`` the accuracy, ``test_mse`` None.
    config : TrainConfig or dict, optional
        The hyper-parameters (a dict of :class:`TrainConfig`'s fields); the defaults when None.
    callbacks : sequence
        Objects with some of ``on_train_begin``, ``on_step_end`` and ``on_epoch_end`` (see the module
        docstring). They are not saved in checkpoints, so a resumed run needs the same callbacks again.
    checkpoint_meta : dict, optional
        Stored in the checkpoint as-is (the CLI keeps the model and data configuration there).
    **overrides
        Single fields of :class:`TrainConfig`, overriding ``config``.

    Returns
    -------
    History
        One entry per finished epoch, those of a resumed checkpoint included.

    Notes
    -----
    With ``config.checkpoint`` set, a checkpoint (model, optimizer, next epoch, history, config, meta)
    is written atomically every ``checkpoint_every`` epochs and at the end, and an existing one is
    resumed from (``resume=True``). ``stop_after`` ends this call after that many epochs in total (an
    interruption that can be resumed). An epoch runs, in this order: the learning-rate and temperature
    schedules; for every batch the optimizer step, the callbacks' ``on_step_end``, the loss and
    mask-flip counts; then the history entry (with the test metrics), the progress bar, the callbacks'
    ``on_epoch_end`` and the checkpoint.
    """
    cfg = _resolve_config(config, overrides)
    task = _task(data)
    callbacks = tuple(callbacks)
    _check_input_size(model, data)
    device, use_bf16 = _training_device(cfg)
    torch.manual_seed(cfg.seed)
    model.to(device)
    run = _TrainRun(model, data.to(device), cfg, task, device, callbacks, checkpoint_meta)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else None
    step_fn = supervised_step(model, run.loss, run.optimizer, autocast=autocast)
    first = run.start * math.ceil(run.n / cfg.batch_size)  # steps before this call
    with run.bar, _deterministic(device):
        model.train()
        fit(step_fn, epochs=run.last, batches=run.batches, callbacks=(run,), start_epoch=run.start, start_step=first)
    return run.history


def _resolve_config(config: TrainConfig | dict | None, overrides: dict) -> TrainConfig:
    """The :class:`TrainConfig` of a :func:`train` call: ``config`` (default, dict or config), then ``overrides``."""
    if config is None:
        config = TrainConfig()
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    if overrides:
        config = TrainConfig.from_dict({**asdict(config), **overrides})
    return config


def _training_device(cfg: TrainConfig) -> tuple[torch.device, bool]:
    """The device of a run and whether it uses bf16 autocast (CUDA only; a warning elsewhere)."""
    device = resolve_device(cfg.device)
    use_bf16 = cfg.bf16 and device.type == "cuda"
    if cfg.bf16 and not use_bf16:
        warnings.warn(f"bf16 autocast is used on CUDA only; training in fp32 on {device.type}", stacklevel=3)
    return device, use_bf16


class _TrainRun:
    """One call of :func:`train`: its optimizer, resumed state and history, and the :func:`fit` hooks of an epoch.

    The data is already on ``device``; creating the run builds the optimizer, resumes from the
    checkpoint and calls the callbacks' ``on_train_begin``, in that order.
    """

    def __init__(self, model, data, cfg: TrainConfig, task: str, device, callbacks: tuple, checkpoint_meta):
        self.model, self.data, self.cfg, self.task, self.device = model, data, cfg, task, device
        self.callbacks, self.meta = callbacks, checkpoint_meta
        self.optimizer = _optimizer(model, cfg)
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]  # before a resume overwrites them
        self.ckpt_path = Path(cfg.checkpoint) if cfg.checkpoint else None
        self.history, self.start = self._resume()
        _call(callbacks, "on_train_begin", model, self.optimizer)
        self.layers = [layer for _, layer in sparse_layers(model)]  # after on_train_begin, which may change them
        # soft layers below density 1 (a dense soft layer thresholds nothing and has no regulariser)
        self.soft_layers = [
            layer for layer in self.layers if layer.mask_kind == "soft" and layer.k < layer.weight.numel()
        ]
        self.sigmoid_layers = [layer for layer in self.layers if layer.mask_kind == "sigmoid"]
        self.total_steps = cfg.epochs * math.ceil(len(data.X_train) / cfg.batch_size)
        self.step_now = self.start * math.ceil(len(data.X_train) / cfg.batch_size)
        self.penalty = None
        self.n_connections = sum(layer.weight.numel() for layer in self.layers) or 1
        self.n = len(data.X_train)
        self.last = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, cfg.stop_after)
        self.bar = tqdm(total=cfg.epochs, initial=self.start, desc="train", unit="epoch", disable=not cfg.progress)

    # -------------------------------------------------------------------- setup and checkpoints
    def _resume(self) -> tuple[History, int]:
        """The history and next epoch of the checkpoint, loading model and optimizer; a fresh start without one."""
        if self.ckpt_path is None or not self.cfg.resume or not self.ckpt_path.exists():
            return History(), 0
        state = load_checkpoint(self.ckpt_path, map_location=self.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        return History(**state["history"]), state["epoch"]

    def _save(self, next_epoch: int) -> None:
        """Write the checkpoint: model, optimizer, next epoch, history, config and meta."""
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": next_epoch}
        state |= {"history": self.history.to_dict(), "config": asdict(self.cfg), "meta": self.meta or {}}
        save_checkpoint(self.ckpt_path, state)

    # -------------------------------------------------------------------- what fit calls
    def loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The task loss plus the soft layers' density regulariser (whose value is kept apart)."""
        loss = task_loss(pred, y, self.task)
        if not self.soft_layers or self.cfg.soft_penalty == 0.0:
            self.penalty = None
            return loss
        penalty = loss.new_zeros(())
        for layer in self.soft_layers:
            target = soft_density_target(self.step_now, self.total_steps, layer.target_density, self.cfg.soft_ramp)
            penalty = penalty + soft_density_penalty(
                layer.weight, layer.tau(), target, strength=self.cfg.soft_penalty, beta=self.cfg.soft_beta
            )
        self.penalty = penalty.detach()
        return loss + penalty

    def batches(self, epoch: int):
        """The epoch's mini-batches ``(X, y)``: a permutation seeded by ``(seed, epoch)``, cut in ``batch_size``."""
        cfg, data = self.cfg, self.data
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))
        order = order.to(self.device, non_blocking=True)
        for i in range(0, self.n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            yield data.X_train[idx], data.y_train[idx]

    def epoch_begin(self, state: LoopState) -> None:
        self.t0 = time.perf_counter()
        self._apply_schedules(state.epoch)
        self.loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        self.flips = torch.zeros((), device=self.device, dtype=torch.int64)
        self.masks = [layer.mask() for layer in self.layers] if self.cfg.track_flips else []

    def after_step(self, state: LoopState) -> None:
        X, y = state.batch
        self.step_now = state.step
        if self.penalty is not None:
            state.loss = state.loss - self.penalty  # the history records the task loss alone
        if self.callbacks:
            _call(self.callbacks, "on_step_end", state.step, self.model, self.optimizer, (X, y, self.task))
        self.loss_sum += state.loss * len(X)
        if self.cfg.track_flips:
            self._count_flips()

    def epoch_end(self, state: LoopState) -> None:
        self._record(state)
        self.bar.set_postfix(loss=f"{self.history.train_loss[-1]:.4g}", test=f"{self.history.test_loss[-1]:.4g}")
        _call(self.callbacks, "on_epoch_end", state.epoch, self.model, self.history)
        done = state.epoch + 1
        if self.ckpt_path is not None and (done % self.cfg.checkpoint_every == 0 or done == self.last):
            self._save(done)
        self.bar.update()

    # -------------------------------------------------------------------- the steps of an epoch
    def _apply_schedules(self, epoch: int) -> None:
        """The cosine (or constant) learning rate and the sigmoid masks' temperature of ``epoch``."""
        cfg = self.cfg
        self.temperature = temperature_schedule(epoch, cfg.epochs, cfg.temperature_start, cfg.temperature_end)
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base_lr * lr_factor(epoch, cfg.epochs, cfg.lr_schedule)
        for layer in self.layers:
            if layer.mask_kind == "sigmoid":
                layer.set_temperature(self.temperature)

    def _count_flips(self) -> None:
        """Add the entries whose mask changed since the last step (on the device: no synchronisation)."""
        for j, layer in enumerate(self.layers):
            new = layer.mask()
            self.flips += (new != self.masks[j]).sum()
            self.masks[j] = new

    def _record(self, state: LoopState) -> None:
        """Append the epoch to the history: train loss (the one host synchronisation), test metrics, flips."""
        epoch, history, cfg = state.epoch, self.history, self.cfg
        train_loss = float(self.loss_sum) / self.n
        if not math.isfinite(train_loss):
            raise FloatingPointError(
                f"training loss became non-finite ({train_loss}) in epoch {epoch}; the last good state is the "
                f"previous checkpoint. Lower lr (now {cfg.lr}) or check the data scale."
            )
        history.epoch.append(epoch)
        history.train_loss.append(train_loss)
        metrics = evaluate(self.model, self.data)
        history.test_mse.append(metrics.get("test_mse"))
        history.test_loss.append(metrics.get("test_mse", metrics.get("test_loss")))
        history.test_accuracy.append(metrics.get("test_accuracy"))
        history.steps.append(state.step)
        history.mask_flips.append(int(self.flips))
        history.flip_rate.append(int(self.flips) / self.n_connections)
        history.temperature.append(self.temperature)
        history.soft_threshold.append([float(layer.tau().detach()) for layer in self.soft_layers])
        history.soft_density.append([layer.training_density() for layer in self.soft_layers])
        history.sigmoid_nonbinary.append([layer.nonbinary_fraction() for layer in self.sigmoid_layers])
        history.seconds.append(time.perf_counter() - self.t0)


def _check_input_size(model: torch.nn.Module, data) -> None:
    """Compare the data's feature (or channel) count with the model's (or its first layer's) ``in_features``
    (or ``in_channels``)."""
    X = data.X_train
    for m in model.modules():
        if hasattr(m, "in_features"):
            have, what = getattr(data, "in_features", X.shape[-1]), "input features"
            want = m.in_features
        elif hasattr(m, "in_channels"):
            have, what = X.shape[1] if X.ndim > 1 else None, "input channels"
            want = m.in_channels
        else:
            continue
        if have != want:
            raise ValueError(f"data has {have} {what} but the model's first layer expects {want}")
        return
