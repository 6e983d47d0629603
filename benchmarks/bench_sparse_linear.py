"""Forward+backward cost of ``SparseLinear`` (each mask kind) against ``nn.Linear`` of the same shape.

Two timings per layer, each the median over interleaved repetitions (every layer is
timed once per round, so drift in machine load affects all of them alike):

``fwd_bwd``
    forward and backward with the parameters held fixed. The hard mask depends only on
    the scores, so the layer reuses its top-k mask between calls (it is recomputed
    whenever the scores change in place).
``train_step``
    forward, backward and an Adam step. The scores change every step, so the hard and
    sigmoid masks run their top-k selection every step: this is the cost in training.

Ratios are against ``nn.Linear`` measured in the same run. Results go to a JSON file
(atomically). Usage::

    python benchmarks/bench_sparse_linear.py --out data/benchmarks/sparse_linear-cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

import sparselab
from sparselab._io import atomic_write
from sparselab.training import resolve_device


def make_layers(n_in, n_out, density, device, dtype):
    torch.manual_seed(0)
    layers = {"nn.Linear": nn.Linear(n_in, n_out, device=device, dtype=dtype)}
    for kind, st in [("hard", True), ("hard", False), ("soft", True), ("sigmoid", True)]:
        name = f"SparseLinear[{kind}{'' if st else ', no STE'}]"
        layers[name] = sparselab.SparseLinear(
            n_in, n_out, density=density, mask=kind, straight_through=st, device=device, dtype=dtype
        )
    return layers


def timed(fn, device, bf16):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda"):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def bench(n_in, n_out, batch, density, device, dtype, bf16, rounds, warmup):
    layers = make_layers(n_in, n_out, density, device, dtype)
    x = torch.randn(batch, n_in, device=device, dtype=dtype)
    optims = {name: torch.optim.Adam(layer.parameters(), lr=1e-4) for name, layer in layers.items()}

    def fwd_bwd(layer):
        def run():
            layer.zero_grad(set_to_none=True)
            layer(x).square().mean().backward()

        return run

    def train_step(layer, opt):
        def run():
            opt.zero_grad(set_to_none=True)
            layer(x).square().mean().backward()
            opt.step()

        return run

    results = {}
    for mode in ("fwd_bwd", "train_step"):
        fns = {
            name: (fwd_bwd(layer) if mode == "fwd_bwd" else train_step(layer, optims[name]))
            for name, layer in layers.items()
        }
        times = {name: [] for name in fns}
        for r in range(warmup + rounds):
            for name, fn in fns.items():
                t = timed(fn, device, bf16)
                if r >= warmup:
                    times[name].append(t)
        base = statistics.median(times["nn.Linear"])
        results[mode] = {
            name: {
                "median_ms": 1e3 * statistics.median(ts),
                "min_ms": 1e3 * min(ts),
                "ratio_vs_linear": statistics.median(ts) / base,
            }
            for name, ts in times.items()
        }
    # the selection itself
    scores = torch.randn(n_out, n_in, device=device, dtype=dtype)
    k = sparselab.masks.keep_count(scores.numel(), density)
    sel = [timed(lambda: sparselab.masks.topk_mask(scores, k), device, False) for _ in range(warmup + rounds)]
    results["topk_mask_ms"] = 1e3 * statistics.median(sel[warmup:])
    return results


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def write_json_atomic(path: Path, payload: dict) -> None:
    with atomic_write(path, "w") as fh:
        json.dump(payload, fh, indent=2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--in-features", type=int, default=1024)
    p.add_argument("--out-features", type=int, default=1024)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--density", type=float, default=0.1)
    p.add_argument("--device", default="auto")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path("_build/benchmarks/sparse_linear.json"))
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    results = bench(
        args.in_features,
        args.out_features,
        args.batch,
        args.density,
        device,
        torch.float32,
        args.bf16,
        args.rounds,
        args.warmup,
    )
    payload = {
        "benchmark": "SparseLinear forward+backward vs nn.Linear",
        "shape": [args.out_features, args.in_features],
        "batch": args.batch,
        "density": args.density,
        "device": device_name(device),
        "device_type": device.type,
        "bf16": args.bf16 and device.type == "cuda",
        "torch": torch.__version__,
        "sparselab": sparselab.__version__,
        "rounds": args.rounds,
        "results": results,
    }
    write_json_atomic(args.out, payload)
    for mode in ("fwd_bwd", "train_step"):
        print(f"[{mode}]")
        for name, r in results[mode].items():
            print(f"  {name:32s} {r['median_ms']:8.3f} ms   x{r['ratio_vs_linear']:.2f}")
    print(f"topk_mask selection: {results['topk_mask_ms']:.3f} ms   -> {args.out}")


if __name__ == "__main__":
    main()
