"""Peak memory and time of IHT (:func:`sparselab.recovery.iht`) against the IMP baseline.

The claim under test (Fridovich-Keil & Pilanci, 2025): IHT on the lifted model needs
memory that grows linearly in the number of non-zeros :math:`s` and does not depend on
the width :math:`p`, because :math:`A = [D_1X, \\dots, D_pX]` (:math:`n \\times dp`) is
never formed; IMP trains a dense network, whose weights, gradients, Adam moments and
:math:`n \\times p` activations grow with :math:`p`.

Two sweeps on one planted network's data (Gaussian inputs, float32 for both methods):
``nnz`` at a fixed width, and ``width`` at a fixed ``nnz``. Every measurement runs in a
fresh process (spawned), which draws the data, then measures the growth of memory in
use during the fit (:func:`sparselab.measure_peak_memory`: peak RSS on CPU,
``torch.cuda.max_memory_allocated`` on CUDA) and its wall time. The input data are
allocated before the measurement starts and are not counted. For reference each row
also records the bytes the explicit :math:`A` would take. Results, the fitted log-log
slopes of memory against ``nnz`` and ``width`` per method, and the IMP/IHT memory
ratios go to a JSON file, written atomically. Usage::

    python benchmarks/bench_recovery.py --out data/benchmarks/recovery-cpu.json
    python benchmarks/bench_recovery.py --device cuda --n 50000 --d 100 --out data/benchmarks/recovery-cuda.json
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import platform
from pathlib import Path

import numpy as np
import torch

from sparselab import metrics, recovery
from sparselab._io import atomic_write
from sparselab._memory import measure_peak_memory
from sparselab.training import resolve_device


def measure(args: dict) -> dict:
    """One fit in this (fresh) process: data first, then the measured call."""
    torch.set_num_threads(args["threads"])
    device = resolve_device(args["device"])
    planted = recovery.planted_network(
        in_features=args["d"],
        width=min(args["width"], max(1, args["nnz"] // 4)),
        nnz=args["nnz"],
        n_train=args["n"],
        n_test=2000,
        seed=0,
        dtype=torch.float32,
    )
    X, y = planted.X_train.to(device), planted.y_train.to(device)
    if args["method"] == "IHT":
        fn, kwargs = (
            recovery.iht,
            dict(
                nnz=args["nnz"],
                width=args["width"],
                steps=args["iht_steps"],
                dtype=torch.float32,
                device=device,
                seed=0,
            ),
        )
    else:
        fn, kwargs = (
            recovery.imp_baseline,
            dict(
                nnz=args["nnz"],
                width=args["width"],
                epochs=args["imp_epochs"],
                alpha=args["imp_alpha"],
                dtype=torch.float32,
                device=str(device),
                seed=0,
            ),
        )
    import time

    t0 = time.perf_counter()
    fit, peak, how = measure_peak_memory(fn, X, y, memory_device=device, **kwargs)
    seconds = time.perf_counter() - t0
    pred = fit.predict(planted.X_test.to(device))
    return {
        **{k: args[k] for k in ("method", "nnz", "width", "n", "d")},
        "peak_bytes": peak,
        "memory_method": how,
        "time_s": seconds,
        "psnr_test": metrics.psnr(planted.y_test, pred.detach().cpu()),
        "explicit_A_bytes": args["n"] * args["d"] * args["width"] * 4,
    }


def slope(rows, x):
    xs = np.log([r[x] for r in rows])
    ys = np.log([max(r["peak_bytes"], 1) for r in rows])
    return float(np.polyfit(xs, ys, 1)[0]) if len(set(xs)) > 1 else math.nan


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--nnz-list", type=int, nargs="+", default=[16, 64, 256, 1024])
    parser.add_argument("--fixed-width", type=int, default=256)
    parser.add_argument("--width-list", type=int, nargs="+", default=[32, 128, 512, 2048])
    parser.add_argument("--fixed-nnz", type=int, default=64)
    parser.add_argument("--iht-steps", type=int, default=20)
    parser.add_argument("--imp-epochs", type=int, default=20)
    parser.add_argument("--imp-alpha", type=float, default=0.75)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, required=True)
    a = parser.parse_args(argv)
    for name in ("n", "d", "fixed_width", "fixed_nnz", "iht_steps", "imp_epochs", "threads"):
        if getattr(a, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be an integer >= 1, got {getattr(a, name)}")
    if not 0 < a.imp_alpha < 1:
        parser.error(f"--imp-alpha must be in (0, 1), got {a.imp_alpha}")
    for s in a.nnz_list:
        if not 1 <= s <= a.d * a.fixed_width:
            parser.error(f"--nnz-list values must be in [1, d * fixed_width = {a.d * a.fixed_width}], got {s}")
    if not 1 <= a.fixed_nnz <= a.d * min(a.width_list):
        parser.error(f"--fixed-nnz must be in [1, d * min(width-list) = {a.d * min(a.width_list)}], got {a.fixed_nnz}")
    resolve_device(a.device)  # a clear error now rather than in a worker

    common = dict(
        n=a.n,
        d=a.d,
        iht_steps=a.iht_steps,
        imp_epochs=a.imp_epochs,
        imp_alpha=a.imp_alpha,
        threads=a.threads,
        device=a.device,
    )
    jobs = [dict(common, sweep="nnz", method=m, nnz=s, width=a.fixed_width) for s in a.nnz_list for m in ("IHT", "IMP")]
    jobs += [
        dict(common, sweep="width", method=m, nnz=a.fixed_nnz, width=p) for p in a.width_list for m in ("IHT", "IMP")
    ]
    from tqdm.auto import tqdm

    rows = []
    ctx = mp.get_context("spawn")
    for job in tqdm(jobs, desc="fits"):
        with ctx.Pool(1) as pool:  # a fresh process per fit: no allocator state carried over
            row = pool.apply(measure, (job,))
        rows.append({"sweep": job["sweep"], **row})
        print(json.dumps(rows[-1]))

    summary = {}
    for sweep, x in (("nnz", "nnz"), ("width", "width")):
        for m in ("IHT", "IMP"):
            summary[f"memory_slope_vs_{x}_{m}"] = slope(
                [r for r in rows if r["sweep"] == sweep and r["method"] == m], x
            )
        pairs = {}
        for r in rows:
            if r["sweep"] == sweep:
                pairs.setdefault(r[x], {})[r["method"]] = r["peak_bytes"]
        summary[f"imp_over_iht_memory_by_{x}"] = {str(k): v["IMP"] / max(v["IHT"], 1) for k, v in sorted(pairs.items())}
    result = {
        "benchmark": "recovery_memory_time",
        "device": torch.cuda.get_device_name() if a.device.startswith("cuda") else platform.processor() or "cpu",
        "machine": platform.platform(),
        "torch": torch.__version__,
        "threads": a.threads,
        "config": {k: v for k, v in vars(a).items() if k != "out"},
        "rows": rows,
        "summary": summary,
    }
    with atomic_write(a.out, "w") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps(summary, indent=2))
    return result


if __name__ == "__main__":
    main()
