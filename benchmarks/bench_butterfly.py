"""Butterfly factorisation accuracy and speed, and butterfly / Monarch products against the dense product.

Three measurements, written (atomically) to one JSON file:

``factorization``
    :func:`sparselab.factorization.butterfly_factorize` of the :math:`N \\times N` DFT (columns in
    bit-reversed order) and Hadamard matrices, for each order of splits: relative error
    :math:`\\|A - \\hat A\\|_F / \\|A\\|_F` (complex128 / float64) and the wall time of the
    factorisation alone (the error check, which forms :math:`\\hat A`, is not timed).
``products``
    :math:`y = Wx` for a batch of ``batch`` vectors: the butterfly product
    (:func:`~sparselab.factorization.butterfly_apply`, :math:`2N\\log_2 N` multiply-adds per vector),
    the Monarch product (:math:`2N\\sqrt N`), the dense product (``x @ W.T``, :math:`N^2`) and,
    for reference, ``torch.fft.fft`` on complex input. Medians over interleaved rounds
    (every kind is timed once per round, so drift in machine load affects all alike); ratios
    are dense time / structured time measured in the same run.
``layers``
    forward + backward of :class:`~sparselab.nn.ButterflyLinear`,
    :class:`~sparselab.nn.MonarchLinear` and :class:`torch.nn.Linear` on a batch.

The issue's goals are checked in ``summary.goals``: relative error at most 1e-12 for the DFT
and Hadamard at N = 1024 and 4096, factorisation at N = 4096 under 10 s, and the butterfly
matrix-vector product at N = 4096 at least 10x faster than the dense one. Usage::

    python benchmarks/bench_butterfly.py --out data/benchmarks/butterfly-cpu.json
    python benchmarks/bench_butterfly.py --device cuda --out data/benchmarks/butterfly-cuda.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

import sparselab
from sparselab import factorization as BF
from sparselab._io import atomic_write
from sparselab.nn import ButterflyLinear, MonarchLinear
from sparselab.training import resolve_device

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def interleaved(fns: dict, device, rounds: int, warmup: int, inner: int) -> dict:
    """Median and minimum seconds per call of each function, timed round-robin."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(timed(lambda: [fn() for _ in range(inner)], device) / inner)
    return {name: {"median_s": statistics.median(s), "min_s": min(s)} for name, s in samples.items()}


def bench_factorization(sizes, orders, device, progress=print):
    rows = []
    for N in sizes:
        matrices = {
            "DFT": (BF.dft_matrix(N).to(device), "bit_reversal"),
            "Hadamard": (BF.hadamard_matrix(N).to(device), None),
        }
        for name, (A, perm) in matrices.items():
            for order in orders:
                result = BF.butterfly_factorize(A, order=order, perm=perm)
                sync(device)
                rows.append(
                    {
                        "matrix": name,
                        "N": N,
                        "order": order,
                        "relative_error": result.relative_error,
                        "seconds": result.seconds,
                        "nnz": result.nnz,
                        "dense_nnz": N * N,
                    }
                )
                progress(
                    f"factorize {name:8s} N={N:5d} {order:13s} rel.err {result.relative_error:.2e} "
                    f"{result.seconds:.3f} s"
                )
    return rows


def bench_products(sizes, batches, device, dtype, rounds, warmup):
    rows = []
    for N in sizes:
        factors = [f.to(device=device, dtype=dtype) for f in BF.random_butterfly(N, seed=0)]
        W = BF.butterfly_dense([f.double() for f in factors]).to(device=device, dtype=dtype)
        mon = BF.monarch_project(W.double().cpu(), blocks=BF.monarch_blocks(N))
        left, right = mon.left.to(device=device, dtype=dtype), mon.right.to(device=device, dtype=dtype)
        for batch in batches:
            gen = torch.Generator().manual_seed(1)
            x = torch.randn(batch, N, generator=gen, dtype=dtype).to(device)
            xc = torch.complex(x, torch.zeros_like(x))
            inner = max(1, min(200, int(2e7 // (N * N * batch))))
            fns = {
                "dense": lambda: x @ W.T,
                "butterfly": lambda: BF.butterfly_apply(factors, x),
                "monarch": lambda: BF.monarch_apply(left, right, x),
                "fft": lambda: torch.fft.fft(xc),
            }
            torch.testing.assert_close(fns["butterfly"](), fns["dense"](), rtol=1e-3, atol=1e-3 * math.sqrt(N))
            times = interleaved(fns, device, rounds, warmup, inner)
            dense = times["dense"]["median_s"]
            for kind, t in times.items():
                rows.append({"N": N, "batch": batch, "kind": kind, **t, "dense_over_this": dense / t["median_s"]})
            print(
                f"product N={N:5d} batch={batch:5d} "
                + " ".join(f"{k} {v['median_s'] * 1e6:9.1f} us" for k, v in times.items()),
                flush=True,
            )
    return rows


def bench_layers(sizes, batch, device, dtype, rounds, warmup):
    rows = []
    for N in sizes:
        torch.manual_seed(0)
        layers = {
            "nn.Linear": nn.Linear(N, N, device=device, dtype=dtype),
            "ButterflyLinear": ButterflyLinear(N, device=device, dtype=dtype, seed=0),
            "MonarchLinear": MonarchLinear(N, blocks=BF.monarch_blocks(N), device=device, dtype=dtype, seed=0),
        }
        x = torch.randn(batch, N, device=device, dtype=dtype)

        def fwd_bwd(layer):
            def run():
                layer.zero_grad(set_to_none=True)
                layer(x).square().mean().backward()

            return run

        times = interleaved({name: fwd_bwd(layer) for name, layer in layers.items()}, device, rounds, warmup, 1)
        base = times["nn.Linear"]["median_s"]
        for name, t in times.items():
            params = sum(p.numel() for p in layers[name].parameters())
            rows.append(
                {"N": N, "batch": batch, "layer": name, "params": params, **t, "linear_over_this": base / t["median_s"]}
            )
        print(
            f"layers N={N:5d} " + " ".join(f"{k} {v['median_s'] * 1e3:8.2f} ms" for k, v in times.items()), flush=True
        )
    return rows


def summarise(fact_rows, product_rows):
    goals = {}
    for N in (1024, 4096):
        for matrix in ("DFT", "Hadamard"):
            errs = [r["relative_error"] for r in fact_rows if r["N"] == N and r["matrix"] == matrix]
            if errs:
                goals[f"{matrix}_N{N}_max_relative_error"] = max(errs)
                goals[f"{matrix}_N{N}_error_le_1e-12"] = max(errs) <= 1e-12
    t4096 = [r["seconds"] for r in fact_rows if r["N"] == 4096]
    if t4096:
        goals["factorization_N4096_max_seconds"] = max(t4096)
        goals["factorization_N4096_under_10s"] = max(t4096) < 10
    mv = [r for r in product_rows if r["N"] == 4096 and r["batch"] == 1 and r["kind"] == "butterfly"]
    if mv:
        goals["matvec_N4096_dense_over_butterfly"] = mv[0]["dense_over_this"]
        goals["matvec_N4096_at_least_10x"] = mv[0]["dense_over_this"] >= 10
    return goals


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fact-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--orders", nargs="+", default=["balanced", "left_to_right"], choices=BF.ORDERS)
    parser.add_argument("--product-sizes", type=int, nargs="+", default=[64, 256, 1024, 4096])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--layer-sizes", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--layer-batch", type=int, default=256)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="dtype of the product timings")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    for N in set(args.fact_sizes + args.product_sizes + args.layer_sizes):
        BF.check_power_of_two(N, "sizes")
    if args.rounds < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--rounds and --threads must be >= 1 and --warmup >= 0")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dtype = DTYPES[args.dtype]

    fact_rows = bench_factorization(args.fact_sizes, args.orders, device, progress=lambda s: print(s, flush=True))
    product_rows = bench_products(args.product_sizes, args.batches, device, dtype, args.rounds, args.warmup)
    layer_rows = bench_layers(args.layer_sizes, args.layer_batch, device, dtype, args.rounds, args.warmup)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()} CPU"
    report = {
        "benchmark": "butterfly factorisation and products",
        "device": f"{name}, {args.threads} threads" if device.type == "cpu" else name,
        "device_type": device.type,
        "machine": platform.platform(),
        "torch": torch.__version__,
        "sparselab": sparselab.__version__,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "factorization": fact_rows,
        "products": product_rows,
        "layers": layer_rows,
        "summary": {"goals": summarise(fact_rows, product_rows)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(json.dumps(report["summary"], indent=2))
    return report


if __name__ == "__main__":
    main()
