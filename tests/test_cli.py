"""End-to-end tests of the ``sparselab`` command line (``python -m sparselab`` and the console script)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import yaml  # noqa: E402

from sparselab import cli  # noqa: E402
from sparselab.training import TrainConfig, load_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EPOCHS = 3
TINY = {
    "data": {
        "kind": "nonlinear",
        "n_train": 256,
        "n_test": 128,
        "in_features": 8,
        "width": 8,
        "density": 0.25,
        "seed": 1,
    },
    "model": {"width": 8, "density": 0.25},
    "train": {"epochs": EPOCHS, "batch_size": 64, "progress": False, "device": "cpu"},
}
TRAIN_METRIC_KEYS = {
    "epochs_trained",
    "train_loss",
    "train_mse",
    "test_mse",
    "nnz",
    "density",
    "support_level",
    "support_precision",
    "support_recall",
    "support_f1",
    "support_true_positives",
    "checkpoint",
}
EVAL_METRIC_KEYS = TRAIN_METRIC_KEYS - {"train_loss"}


def _console_script() -> list[str] | None:
    found = shutil.which("sparselab") or shutil.which("sparselab", path=str(Path(sys.executable).parent))
    return [found] if found else None


def _env() -> dict:
    return {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}


def _run(entry: list[str], *args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([*entry, *map(str, args)], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)


def _run_concurrently(*commands, cwd) -> list[tuple[int, str]]:
    """Start every command at once (each pays the interpreter and torch start-up), return (status, stderr)."""
    procs = [
        subprocess.Popen(
            [*entry, *map(str, args)], cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for entry, *args in commands
    ]
    results = []
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        results.append((proc.returncode, err))
    return results


MODULE = [sys.executable, "-m", "sparselab"]
SCRIPT = _console_script()


def _write(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config) if path.suffix in (".yaml", ".yml") else json.dumps(config))
    return path


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``python -m sparselab train`` on the tiny YAML configuration (run once for the module)."""
    tmp = tmp_path_factory.mktemp("cli")
    config = _write(tmp / "tiny.yaml", TINY)
    out = tmp / "run"
    proc = _run(MODULE, "train", "--config", config, "--out", out, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return out


# ---------------------------------------------------------------------------- subprocess, end to end
def test_train_writes_outputs(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"checkpoint.pt", "config.json", "history.json", "metrics.json"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    config = _read(trained / "config.json")
    assert config == cli.resolve_config(TINY)
    assert config["model"]["density"] == 0.25 and config["data"]["n_train"] == 256
    history = _read(trained / "history.json")
    assert set(history) == {f.name for f in fields(__import__("sparselab").History)}
    assert len(history["epoch"]) == EPOCHS and history["epoch"] == list(range(EPOCHS))
    metrics = _read(trained / "metrics.json")
    assert set(metrics) == TRAIN_METRIC_KEYS
    assert metrics["epochs_trained"] == EPOCHS
    assert metrics["nnz"] == round(0.25 * 8 * 8) and metrics["density"] == pytest.approx(0.25)
    assert metrics["support_level"] == "connection (rows matched)"
    assert 0 <= metrics["support_precision"] <= 1 and 0 <= metrics["support_recall"] <= 1
    assert metrics["train_loss"] == pytest.approx(history["train_loss"][-1])
    assert metrics["test_mse"] == pytest.approx(history["test_mse"][-1], rel=1e-6)
    state = load_checkpoint(trained / "checkpoint.pt")
    assert state["epoch"] == EPOCHS
    assert state["meta"]["config"] == config
    assert state["meta"]["sparselab_version"] == __import__("sparselab").__version__


def test_evaluate_reproduces_train_metrics(trained, tmp_path):
    out = tmp_path / "eval"
    entry = SCRIPT or MODULE  # the console script where installed; train above used `python -m`
    proc = _run(entry, "evaluate", "--checkpoint", trained / "checkpoint.pt", "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ("loss.png", "weights.png", "predictions.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    metrics = _read(out / "metrics.json")
    assert set(metrics) == EVAL_METRIC_KEYS
    train_metrics = _read(trained / "metrics.json")
    assert metrics["test_mse"] == pytest.approx(train_metrics["test_mse"], rel=1e-6)
    assert metrics["train_mse"] == pytest.approx(train_metrics["train_mse"], rel=1e-6)
    for key in ("nnz", "density", "support_precision", "support_recall", "support_f1", "epochs_trained"):
        assert metrics[key] == train_metrics[key], key


def test_evaluate_refuses_a_changed_checkpoint_with_exit_2(trained, tmp_path):
    changed = tmp_path / "changed.pt"
    data = bytearray((trained / "checkpoint.pt").read_bytes())
    data[-100] ^= 0x01  # one bit of the payload
    changed.write_bytes(bytes(data))
    proc = _run(MODULE, "evaluate", "--checkpoint", changed, "--out", tmp_path / "eval", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "changed.pt is corrupt" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_error_exit_codes(tmp_path):
    """Unknown config key (console script where installed) and missing checkpoint (``-m``), run side by side."""
    config = _write(tmp_path / "bad.yaml", {"model": {"width": 8, "widht": 3}})
    (key_status, key_err), (ckpt_status, ckpt_err) = _run_concurrently(
        (SCRIPT or MODULE, "train", "--config", config, "--out", tmp_path / "out"),
        (MODULE, "evaluate", "--checkpoint", tmp_path / "nope.pt", "--out", tmp_path / "eval"),
        cwd=tmp_path,
    )
    assert key_status == 2, key_err
    assert "model.widht" in key_err and "width" in key_err  # names the key and the allowed ones
    assert "Traceback" not in key_err and len(key_err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert ckpt_status == 2, ckpt_err
    assert "checkpoint not found" in ckpt_err and "Traceback" not in ckpt_err
    assert not (tmp_path / "eval").exists()


# ---------------------------------------------------------------------------- in process
def test_default_config_matches_trainconfig_and_example_file():
    assert set(cli.DEFAULT_CONFIG["train"]) == {f.name for f in fields(TrainConfig)} - {"checkpoint"}
    defaults = TrainConfig()
    for key, value in cli.DEFAULT_CONFIG["train"].items():
        assert getattr(defaults, key) == value, key
    example = cli.load_config(ROOT / "examples" / "train_config.yaml")
    assert example == cli.DEFAULT_CONFIG  # the example shows every key, with its default


def test_resolve_config_errors():
    with pytest.raises(cli.ConfigError, match="unknown config section 'optim'"):
        cli.resolve_config({"optim": {}})
    with pytest.raises(cli.ConfigError, match=r"train\.checkpoint .*--out"):
        cli.resolve_config({"train": {"checkpoint": "x.pt"}})
    with pytest.raises(cli.ConfigError, match="not both"):
        cli.resolve_config({"model": {"density": 0.5, "sparsity": 0.5}})
    resolved = cli.resolve_config({"model": {"sparsity": 0.75}})
    assert resolved["model"]["density"] is None and resolved["model"]["sparsity"] == 0.75


def test_invalid_value_and_bad_file_exit_2(tmp_path, capsys):
    bad = _write(tmp_path / "bad.json", {"data": {"kind": "quadratic"}})
    assert cli.main(["train", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "invalid data config" in capsys.readouterr().err
    (tmp_path / "broken.yaml").write_text("data: [1, 2\n")
    assert cli.main(["train", "--config", str(tmp_path / "broken.yaml")]) == 2
    assert "cannot parse" in capsys.readouterr().err
    assert cli.main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_linear_data_json_config_and_sparsity(tmp_path, capsys):
    config = {
        **TINY,
        "data": {**TINY["data"], "kind": "linear", "out_features": 2},
        "model": {"width": 6, "sparsity": 0.5},
        "train": {**TINY["train"], "epochs": 2},
    }
    out = tmp_path / "lin"
    assert cli.main(["train", "--config", str(_write(tmp_path / "lin.json", config)), "--out", str(out)]) == 0
    metrics = _read(out / "metrics.json")
    assert metrics["support_level"] == "feature"
    assert metrics["nnz"] == 24 and metrics["density"] == pytest.approx(0.5)
    assert len(_read(out / "history.json")["epoch"]) == 2
    assert _read(out / "config.json")["model"]["sparsity"] == 0.5


def test_resume_and_fresh(tmp_path, capsys):
    config = _write(tmp_path / "tiny.yaml", {**TINY, "train": {**TINY["train"], "stop_after": 2}})
    out = tmp_path / "run"
    assert cli.main(["train", "--config", str(config), "--out", str(out)]) == 0
    assert len(_read(out / "history.json")["epoch"]) == 2  # interrupted after 2 of 3 epochs
    resumed = _write(tmp_path / "resume.yaml", TINY)  # differs only in stop_after: resumable
    assert cli.main(["train", "--config", str(resumed), "--out", str(out)]) == 0
    assert "resuming" in capsys.readouterr().err
    assert _read(out / "history.json")["epoch"] == [0, 1, 2]
    # another configuration in the same folder is refused, unless --fresh
    assert cli.main(["train", "--config", str(resumed), "--out", str(out), "--epochs", "1"]) == 2
    assert "train.epochs" in capsys.readouterr().err
    assert cli.main(["train", "--config", str(resumed), "--out", str(out), "--epochs", "1", "--fresh"]) == 0
    assert _read(out / "history.json")["epoch"] == [0]
