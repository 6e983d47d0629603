"""The recovery chapter's planted-network grid at (reduced) paper scale, written to ``data/recovery_paper.json``.

Every cell (width m, nnz s) runs :func:`sparselab.chapters.recovery.recovery_sweep` for all seeds and both methods
(IHT and IMP, float64 on CPU, the chapter's success criterion :func:`sparselab.recovery.exact_recovery`); after each
cell the JSON is rewritten atomically, so a killed run resumes where it stopped (cells already in the file with the
same parameters are skipped). Usage::

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python tools/recovery_paper_grid.py --out data/recovery_paper.json \
        --budget-s 1200

Cells run cheapest first (by m * s); with ``--budget-s`` no new cell starts once that many seconds have passed, and
the file says which cells are missing (``complete`` false, ``missing_cells``). Rerunning the same command resumes.

Why reduced: the paper's grid (book/params/recovery-paper.yaml: d = 100, n = 50,000, m and s up to 1000) is dominated
by IMP, which trains a dense d x 2m network full-batch for 100 epochs per round; measured on the 2-core development
machine, one seed of (m = 5, s = 20) at n = 50,000 takes 42 s for IMP and 2.6 s for IHT, and the cost grows linearly
in n and m, so the full grid is ~140 core-hours. This grid keeps d = 100 and the chapter's recipes, and reduces
n to 10,000 and m, s to at most 20 and 200 (one seed of the largest cell, m = 20, s = 200: IMP 16 s, IHT 3.5 s).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import torch

import sparselab
from sparselab._io import atomic_write
from sparselab.chapters import recovery as rx
from sparselab.recovery import SUCCESS_REL_ERROR, SUCCESS_SUPPORT_F1

#: the reduced grid (the full paper grid, book/params/recovery-paper.yaml, takes many hours on 2 cores)
PARAMETERS = {
    "in_features": 100,
    "n_train": 10000,
    "n_test": 2000,
    "widths": [1, 2, 5, 10, 20],
    "nnzs": [1, 2, 5, 10, 20, 50, 100, 200],
    "seeds": [0, 1, 2],
    "width_factor": 2,
    "iht_options": {"steps": 30, "refine_steps": 10, "restarts": 4, "chunk": 64},
    "imp_options": {"epochs": 100, "lr": 0.03, "alpha": 0.75},
    "min_f1": SUCCESS_SUPPORT_F1,
    "max_rel_error": SUCCESS_REL_ERROR,
    "dtype": "float64",
    "device": "cpu",
}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    return {
        "cpu": cpu_model(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": {
            "python": platform.python_version(),
            "sparselab": getattr(sparselab, "__version__", "unknown"),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scipy": scipy.__version__,
        },
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/recovery_paper.json")
    parser.add_argument("--budget-s", type=float, default=None, help="start no new cell after this many seconds")
    args = parser.parse_args(argv)
    clock = time.perf_counter()
    out = Path(args.out)
    P = PARAMETERS
    done = {}
    if out.exists():
        old = json.loads(out.read_text())
        if old.get("parameters") == P:
            done = {(c["width"], c["nnz"]): c for c in old["cells"]}
    cells = sorted(
        ((m, s) for m in P["widths"] for s in P["nnzs"] if s <= m * P["in_features"]), key=lambda c: (c[0] * c[1], c)
    )
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    for m, s in cells:
        if (m, s) in done:
            continue
        if args.budget_s is not None and time.perf_counter() - clock > args.budget_s:
            print(f"budget of {args.budget_s:.0f} s spent; {len(cells) - len(done)} cells left", flush=True)
            break
        t0 = time.perf_counter()
        frame = rx.recovery_sweep(
            [m],
            [s],
            in_features=P["in_features"],
            n_train=P["n_train"],
            n_test=P["n_test"],
            seeds=P["seeds"],
            width_factor=P["width_factor"],
            iht_options=P["iht_options"],
            imp_options=P["imp_options"],
            min_f1=P["min_f1"],
            max_rel_error=P["max_rel_error"],
            dtype=torch.float64,
            device="cpu",
            progress=False,
        )
        # JSON has no infinity: an exactly zero held-out error (PSNR +inf) is stored as 1e308
        rows = json.loads(frame.replace([np.inf, -np.inf], 1e308).to_json(orient="records", double_precision=15))
        done[(m, s)] = {"width": m, "nnz": s, "seconds": time.perf_counter() - t0, "rows": rows}
        result = {
            "experiment": "recovery phase diagram, reduced paper-scale grid (tools/recovery_paper_grid.py)",
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "started": started,
            "machine": machine(),
            "parameters": P,
            "complete": len(done) == len(cells),
            "n_cells": len(cells),
            "missing_cells": [list(c) for c in cells if c not in done],
            "cells": [done[c] for c in cells if c in done],
        }
        with atomic_write(out, "w") as fh:
            json.dump(result, fh, indent=1)
        print(f"cell m={m} s={s}: {done[(m, s)]['seconds']:.1f} s ({len(done)}/{len(cells)})", flush=True)
    return done


if __name__ == "__main__":
    main()
