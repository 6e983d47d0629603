"""The ``sparselab`` command line: train a :class:`~sparselab.SparseMLP` on planted data, then evaluate it.

::

    sparselab train [--config FILE] [--out DIR] [--epochs N] [--device D] [--fresh]
    sparselab evaluate --checkpoint FILE [--out DIR] [--device D]

``train`` reads a YAML or JSON configuration with three optional sections —
``data`` (keyword arguments of :func:`sparselab.make_regression`), ``model``
(:class:`~sparselab.SparseMLP` hyper-parameters) and ``train`` (fields of
:class:`~sparselab.TrainConfig`) — merged over :data:`DEFAULT_CONFIG`, and writes
into ``DIR`` (default ``runs/latest``): ``checkpoint.pt`` (weights, optimiser,
history and the resolved configuration), ``config.json``, ``history.json`` and
``metrics.json``. An existing checkpoint in ``DIR`` written with the same
configuration is resumed (an interrupted run continues where it stopped);
``--fresh`` starts over instead.

``evaluate`` rebuilds the data and the model from the configuration stored in the
checkpoint, loads the weights and writes ``loss.png``, ``weights.png``,
``predictions.png`` and ``metrics.json`` into ``DIR`` (default: an ``eval`` folder
next to the checkpoint).

Configuration errors (unknown keys, invalid values, missing files) end with exit
status 2 and a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
from pathlib import Path

from sparselab._io import atomic_write

__all__ = [
    "DEFAULT_CONFIG",
    "ConfigError",
    "load_config",
    "resolve_config",
    "build_data",
    "build_model",
    "support_metrics",
    "write_json",
    "main",
]

#: The configuration ``sparselab train`` uses when no file is given (every key that a file may set).
DEFAULT_CONFIG = {
    "data": {
        "kind": "nonlinear",  # "linear" or "nonlinear" teacher
        "n_train": 2000,
        "n_test": 1000,
        "in_features": 32,
        "width": 32,  # width (hidden units) of the nonlinear teacher
        "out_features": 1,
        "density": 0.1,  # density of the planted sparse matrix
        "noise": 0.05,  # noise-to-signal ratio
        "seed": 0,  # seed of the data generator
    },
    "model": {
        "width": 32,  # hidden units of the SparseMLP
        "density": 0.1,  # give density or sparsity (= 1 - density), not both
        "sparsity": None,
        "mask": "hard",  # "hard", "soft" or "sigmoid"
        "straight_through": True,  # hard masks only
        "dense_weight_grad": True,  # hard (with the STE) and soft masks: pruned weights receive the dense gradient
        "temperature": 1.0,  # sigmoid masks only (initial temperature)
    },
    "train": {  # fields of sparselab.TrainConfig except `checkpoint` (set from --out)
        "epochs": 50,
        "batch_size": 128,
        "lr": 0.01,
        "score_lr": None,
        "weight_decay": 0.0,
        "seed": 0,  # seeds the model initialisation and the batch order
        "device": "auto",
        "bf16": False,
        "lr_schedule": "cosine",  # "cosine" decay to 0 over the run, or "constant"
        "temperature_start": 1.0,
        "temperature_end": 0.001,
        "soft_penalty": 1.0,
        "threshold_lr": 0.1,
        "soft_ramp": 0.5,
        "soft_beta": 0.05,
        "progress": True,
        "track_flips": True,
        "checkpoint_every": 10,
        "resume": True,
        "stop_after": None,
    },
}

# Training options that may differ between an interrupted run and its resumption.
_RESUMABLE_DIFFERENCES = {"stop_after", "progress", "device", "resume", "checkpoint_every"}


class ConfigError(Exception):
    """A user error (configuration, paths): reported in one line, exit status 2."""


class TrainingFailed(Exception):
    """Training stopped on a non-finite loss: reported in one line, exit status 1."""


# ---------------------------------------------------------------------------- configuration
def load_config(path: str | os.PathLike) -> dict:
    """Read a configuration file: YAML (``.yaml``, ``.yml``) or JSON (``.json``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    suffix = path.suffix.lower()
    try:
        text = path.read_text()
        if suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        elif suffix == ".json":
            values = json.loads(text)
        else:
            raise ConfigError(f"config file must end in .yaml, .yml or .json, got {path.name!r}")
    except ConfigError:
        raise
    except Exception as err:  # parse errors of either format
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"cannot parse config file {path}: {first}") from err
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping with sections data/model/train, got {type(values).__name__}"
        )
    return values


def resolve_config(values: dict | None = None, *, overrides: dict | None = None) -> dict:
    """Merge ``values`` (sections ``data``, ``model``, ``train``) over :data:`DEFAULT_CONFIG`.

    Unknown sections or keys raise :class:`ConfigError` naming the key and listing
    the allowed ones. ``overrides`` maps ``"section.key"`` to a value (the CLI
    flags). Giving ``model.sparsity`` replaces the default ``model.density``.
    """
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ConfigError(
            f"config must be a mapping with sections {sorted(DEFAULT_CONFIG)}, got {type(values).__name__}"
        )
    config = copy.deepcopy(DEFAULT_CONFIG)
    for section, entries in values.items():
        if section not in DEFAULT_CONFIG:
            raise ConfigError(f"unknown config section {section!r}; allowed sections: {', '.join(DEFAULT_CONFIG)}")
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise ConfigError(f"config section {section!r} must be a mapping, got {type(entries).__name__}")
        for key in entries:
            if key not in DEFAULT_CONFIG[section]:
                hint = " (it is set by --out: DIR/checkpoint.pt)" if (section, key) == ("train", "checkpoint") else ""
                raise ConfigError(
                    f"unknown config key {section}.{key}{hint}; allowed keys in {section!r}: "
                    f"{', '.join(DEFAULT_CONFIG[section])}"
                )
        if section == "model" and entries.get("sparsity") is not None and "density" not in entries:
            config["model"]["density"] = None
        config[section].update(entries)
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".", 1)
        config[section][key] = value
    model = config["model"]
    if model["density"] is not None and model["sparsity"] is not None:
        raise ConfigError(
            f"give model.density or model.sparsity, not both (got density={model['density']!r}, "
            f"sparsity={model['sparsity']!r})"
        )
    return config


def _invalid(section: str, err: Exception) -> ConfigError:
    return ConfigError(f"invalid {section} config: {err}")


def build_data(config: dict):
    """The :class:`~sparselab.RegressionData` of ``config["data"]``."""
    from sparselab.data import make_regression

    try:
        return make_regression(**config["data"])
    except (TypeError, ValueError) as err:
        raise _invalid("data", err) from err


def build_model(config: dict, data):
    """A freshly initialised :class:`~sparselab.SparseMLP` for ``data`` (seeded by ``train.seed``)."""
    import torch

    from sparselab.nn import SparseMLP

    model_cfg = dict(config["model"])
    width = model_cfg.pop("width")
    try:
        torch.manual_seed(config["train"]["seed"])
        return SparseMLP(in_features=data.in_features, width=width, out_features=data.out_features, **model_cfg)
    except (TypeError, ValueError) as err:
        raise _invalid("model", err) from err


def _train_config(config: dict, checkpoint: Path | None):
    from sparselab.training import TrainConfig

    try:
        return TrainConfig(**config["train"], checkpoint=None if checkpoint is None else str(checkpoint))
    except (TypeError, ValueError) as err:
        raise _invalid("train", err) from err


# ---------------------------------------------------------------------------- metrics and output
def support_metrics(model, data) -> dict:
    """Agreement of the model's first-layer mask with the planted support (:func:`metrics.planted_support_match`)."""
    from sparselab import metrics

    if data.planted_support is None:
        return {"support_level": None}
    match = metrics.planted_support_match(model.sparse.mask(), data)
    return {
        "support_level": match["level"],
        "support_precision": match["precision"],
        "support_recall": match["recall"],
        "support_f1": match["f1"],
        "support_true_positives": match["true_positives"],
    }


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_json(path: Path, value) -> Path:
    """Write ``value`` as JSON atomically (temporary file in the same folder, then rename); NaN becomes null."""
    path = Path(path)
    text = json.dumps(_jsonable(value), indent=2, allow_nan=False) + "\n"
    with atomic_write(path, "w") as fh:
        fh.write(text)
    return path


def _config_differences(old: dict, new: dict) -> list[str]:
    diffs = []
    for section in DEFAULT_CONFIG:
        a, b = old.get(section, {}), new.get(section, {})
        for key in sorted(set(a) | set(b)):
            if section == "train" and key in _RESUMABLE_DIFFERENCES:
                continue
            if a.get(key) != b.get(key):
                diffs.append(f"{section}.{key}")
    return diffs


def _load(path: Path) -> dict:
    from sparselab.training import load_checkpoint

    try:
        return load_checkpoint(path, map_location="cpu")
    except Exception as err:
        raise ConfigError(f"cannot read checkpoint {path}: {type(err).__name__}: {err}") from err


# ---------------------------------------------------------------------------- commands
def cmd_train(args) -> int:
    from sparselab import __version__
    from sparselab.metrics import mse
    from sparselab.training import train

    overrides = {}
    if args.epochs is not None:
        overrides["train.epochs"] = args.epochs
    if args.device is not None:
        overrides["train.device"] = args.device
    config = resolve_config(load_config(args.config) if args.config else {}, overrides=overrides)
    out = Path(args.out)
    checkpoint = out / "checkpoint.pt"
    train_cfg = _train_config(config, checkpoint)
    data = build_data(config)
    model = build_model(config, data)

    if checkpoint.exists() and not args.fresh and train_cfg.resume:
        stored = (_load(checkpoint).get("meta") or {}).get("config")
        diffs = ["(no configuration stored)"] if stored is None else _config_differences(stored, config)
        if diffs:
            raise ConfigError(
                f"{checkpoint} was written with a different configuration (differs in: "
                f"{', '.join(diffs)}); pass --fresh to overwrite it or choose another --out"
            )
        print(f"resuming from {checkpoint}", file=sys.stderr)
    elif checkpoint.exists() and args.fresh:
        checkpoint.unlink()

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config)
    meta = {"config": config, "sparselab_version": __version__}
    try:
        history = train(model, data, train_cfg, checkpoint_meta=meta)
    except FloatingPointError as err:
        raise TrainingFailed(str(err)) from err

    model.cpu().eval()
    done = len(history.epoch)
    results = {
        "epochs_trained": done,
        "train_loss": history.train_loss[-1] if done else None,
        "train_mse": mse(model, data.X_train, data.y_train),
        "test_mse": mse(model, data.X_test, data.y_test),
        "nnz": model.sparse.nnz,
        "density": model.sparse.density,
        **support_metrics(model, data),
        "checkpoint": str(checkpoint),
    }
    write_json(out / "history.json", history.to_dict())
    write_json(out / "metrics.json", results)
    print(
        f"wrote {checkpoint}, config.json, history.json, metrics.json to {out}: "
        f"test_mse={results['test_mse']:.4g}, nnz={results['nnz']}, density={results['density']:.3g}"
    )
    return 0


def cmd_evaluate(args) -> int:
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise ConfigError(f"checkpoint not found: {checkpoint}")
    state = _load(checkpoint)
    stored = (state.get("meta") or {}).get("config") if isinstance(state, dict) else None
    if stored is None or "model" not in state:
        raise ConfigError(f"{checkpoint} holds no configuration in its meta: it was not written by `sparselab train`")

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from sparselab.chapters import plots
    from sparselab.metrics import mse
    from sparselab.training import History, resolve_device

    config = resolve_config(stored)
    data = build_data(config)
    model = build_model(config, data)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise ConfigError(
            f"weights in {checkpoint} do not fit the stored configuration: {str(err).splitlines()[0]}"
        ) from err
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    model.to(device).eval()
    data = data.to(device)
    out = Path(args.out) if args.out is not None else checkpoint.parent / "eval"

    with torch.no_grad():
        y_pred = model(data.X_test)
    history = History(**state["history"])
    linear = data.kind == "linear"
    with plots.context():
        figures = {
            "loss.png": plots.loss_curve(history),
            "weights.png": plots.weight_heatmaps(
                model.sparse,
                data.planted_support,
                match_rows=True,
                max_rows=64,
                title=(
                    "linear teacher: planted rows are the outputs; metrics.json compares feature supports"
                    if linear
                    else None
                ),
            ),
            "predictions.png": plots.predictions(data.y_test, y_pred, label="test"),
        }
        for name, fig in figures.items():
            plots.save(fig, out / name)
            plt.close(fig)
    results = {
        "epochs_trained": int(state.get("epoch", len(history.epoch))),
        "test_mse": mse(model, data.X_test, data.y_test),
        "train_mse": mse(model, data.X_train, data.y_train),
        "nnz": model.sparse.nnz,
        "density": model.sparse.density,
        **support_metrics(model, data),
        "checkpoint": str(checkpoint),
    }
    write_json(out / "metrics.json", results)
    print(f"wrote loss.png, weights.png, predictions.png, metrics.json to {out}: test_mse={results['test_mse']:.4g}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparselab", description="Train and evaluate sparse MLPs on planted sparse regression problems."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate}")

    p = sub.add_parser(
        "train",
        help="train a SparseMLP and write checkpoint, config, history and metrics",
        description="Train a SparseMLP on a planted regression problem.",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML or JSON file with sections data/model/train "
        "(default: the built-in configuration, see examples/train_config.yaml)",
    )
    p.add_argument("--out", metavar="DIR", default="runs/latest", help="output folder (default: runs/latest)")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--device", help="override train.device (auto, cpu, cuda, cuda:N, mps)")
    p.add_argument("--fresh", action="store_true", help="start over even if DIR holds a checkpoint")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="evaluate a checkpoint: plots and metrics",
        description="Rebuild data and model from a checkpoint written by `sparselab train`, then "
        "write loss.png, weights.png, predictions.png and metrics.json.",
    )
    p.add_argument("--checkpoint", metavar="FILE", required=True, help="checkpoint.pt written by `sparselab train`")
    p.add_argument("--out", metavar="DIR", help="output folder (default: an eval/ folder next to the checkpoint)")
    p.add_argument("--device", default="cpu", help="device to evaluate on (default: cpu)")
    p.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sparselab`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"sparselab {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TrainingFailed as err:
        print(f"sparselab {args.command}: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"sparselab {args.command}: interrupted (run the same command again to resume from the last checkpoint)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
