r"""The one gradient loop of the package: epochs of steps and callbacks.

:func:`fit` runs ``step_fn(batch)`` for every batch of every epoch and calls the callbacks' hooks
``begin``, ``epoch_begin``, ``after_step`` and ``epoch_end`` (see :func:`fit` for the contract);
:func:`supervised_step` builds the usual step function (forward, loss, backward, optimizer step).
:func:`sparselab.training.train` (mini-batches, masks, schedules, checkpoints),
:func:`sparselab.factorization.fit_sparse_relu` and the chapters' training loops are built on it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from sparselab._validation import check_int

__all__ = ["LoopState", "Callback", "fit", "supervised_step"]


@dataclass
class LoopState:
    """Where :func:`fit` is: the one object every hook of every callback receives, updated in place.

    Attributes
    ----------
    epoch : int
        The current epoch, counted from 0 (``start_epoch`` in the ``begin`` hook).
    step : int
        Steps taken so far, counted on from ``start_step``; in ``after_step`` it includes the step just
        taken, so the first step of a fresh loop is step 1.
    batch : object
        The batch the last step was given (None before the first step, and always None in a full-batch loop).
    loss : object
        What the step function returned for that batch (None before the first step).
    stop : bool
        Set to True by a hook to end the loop as soon as that hook has run on every callback.
    """

    epoch: int = 0
    step: int = 0
    batch: object = None
    loss: object = None
    stop: bool = False


class Callback:
    """Optional base class of :func:`fit`'s callbacks, whose hooks do nothing until overridden.

    A callback of :func:`fit` is any object with some of the methods ``begin`` (once, before the first
    epoch), ``epoch_begin`` (before the epoch's batches are drawn), ``after_step`` (after every step: the
    parameters are updated) and ``epoch_end`` (after the epoch's last step), each called with the
    :class:`LoopState`. They are not :func:`train`'s hooks (``on_train_begin``, ``on_step_end``,
    ``on_epoch_end``), which see the model, the optimizer and the :class:`History`.
    """

    def begin(self, state: LoopState) -> None: ...

    def epoch_begin(self, state: LoopState) -> None: ...

    def after_step(self, state: LoopState) -> None: ...

    def epoch_end(self, state: LoopState) -> None: ...


_HOOKS = ("begin", "epoch_begin", "after_step", "epoch_end")


def fit(step_fn, *, epochs: int, batches=None, callbacks=(), start_epoch: int = 0, start_step: int = 0) -> LoopState:
    """Run ``step_fn`` over the batches of epochs ``start_epoch, ..., epochs - 1``, calling the callbacks.

    Parameters
    ----------
    step_fn : callable
        ``step_fn(batch) -> loss``: one optimisation step on one batch (forward, backward, parameter
        update; :func:`supervised_step` builds one for a model and an optimizer). What it returns is
        stored as ``state.loss``.
    epochs : int
        The loop ends after epoch ``epochs - 1`` (an epoch count, or where a resumed run stops).
    batches : callable, optional
        ``batches(epoch)`` returns an iterable of that epoch's batches; it is called after the epoch's
        ``epoch_begin`` hooks, and a generator draws its permutation when its first batch is asked for.
        None (the default): every epoch is a single full-batch step, ``step_fn(None)``, so that
        ``epochs`` counts gradient steps.
    callbacks : sequence
        Objects with some of the hooks of :class:`Callback`, called in the order given.
    start_epoch, start_step : int
        Where a resumed loop starts counting epochs and steps.

    Returns
    -------
    LoopState
        The state after the last hook ran.

    Notes
    -----
    The order of the calls is fixed:

    1. ``begin(state)`` once, with ``state.epoch = start_epoch`` and ``state.step = start_step``;
    2. for every epoch: ``epoch_begin(state)``; then for every batch ``step_fn(batch)``, ``state.step += 1``
       and ``after_step(state)`` (so a callback sees the parameters *after* the optimizer step, with
       ``state.batch``, ``state.loss`` and the 1-based index ``state.step`` of that step); then
       ``epoch_end(state)``.

    Every hook runs on every callback before the next one starts. When a hook sets ``state.stop``
    the loop returns right after that hook: no later step and no later hook runs (a stop in
    ``after_step`` skips the epoch's ``epoch_end``). The loop draws no random numbers itself, so a
    run is as deterministic as ``step_fn``, ``batches`` and the callbacks.
    """
    epochs = check_int(epochs, "epochs", low=0)
    start_epoch = check_int(start_epoch, "start_epoch", low=0)
    start_step = check_int(start_step, "start_step", low=0)
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not any(callable(getattr(cb, hook, None)) for hook in _HOOKS):
            raise TypeError(f"a callback of fit needs some of the methods {_HOOKS}, got {type(cb).__name__}")
    state = LoopState(epoch=start_epoch, step=start_step)
    if _hook(callbacks, "begin", state):
        return state
    for epoch in range(start_epoch, epochs):
        state.epoch = epoch
        if _hook(callbacks, "epoch_begin", state):
            return state
        for batch in (None,) if batches is None else batches(epoch):
            state.batch = batch
            state.loss = step_fn(batch)
            state.step += 1
            if _hook(callbacks, "after_step", state):
                return state
        if _hook(callbacks, "epoch_end", state):
            return state
    return state


def _hook(callbacks, name: str, state: LoopState) -> bool:
    """Call hook ``name`` of every callback that has it; True when the loop must stop."""
    for cb in callbacks:
        method = getattr(cb, name, None)
        if method is not None:
            method(state)
    return state.stop


def supervised_step(model: torch.nn.Module, loss_fn, optimizer: torch.optim.Optimizer, *, autocast=None):
    """A step function for :func:`fit` on batches ``(inputs, targets, ...)``.

    Parameters
    ----------
    model : torch.nn.Module
        Called on ``batch[0]``.
    loss_fn : callable
        ``loss_fn(prediction, batch[1])``, a scalar tensor.
    optimizer : torch.optim.Optimizer
        Stepped once per batch.
    autocast : context manager, optional
        Entered around the forward pass only (e.g. ``torch.autocast("cuda", dtype=torch.bfloat16)``).

    Returns
    -------
    callable
        ``step(batch) -> loss``: forward, loss, ``optimizer.zero_grad(set_to_none=True)``, backward,
        ``optimizer.step()``; it returns the loss detached from the graph (on the device: reading it
        synchronises with the host).
    """
    context = contextlib.nullcontext() if autocast is None else autocast

    def step(batch):
        with context:
            pred = model(batch[0])
        loss = loss_fn(pred, batch[1])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step
