"""Execute every chapter notebook with papermill into a staging copy of the book.

    python tools/execute_chapters.py --out _build/src [-p name value ...] [-f params.yaml] [book/learned_masks.ipynb ...]

Copies ``_config.yml``, ``_toc.yml`` and ``book/`` to ``--out``, then executes each
notebook (papermill records the parameters in the executed notebook's metadata)
over its copy. Wall times per chapter are written to ``--out/timings.json``. The
book is then rendered from ``--out`` with execution off (``make book``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import papermill as pm
import yaml

from sparselab._io import atomic_write

ROOT = Path(__file__).resolve().parent.parent


def stage(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, out / name)
    shutil.copytree(ROOT / "book", out / "book", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="papermill-execute the book's chapters")
    p.add_argument("notebooks", nargs="*", type=Path, help="default: every book/*.ipynb")
    p.add_argument("--out", type=Path, default=ROOT / "_build" / "src")
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="parameter for every notebook (value parsed as YAML, as papermill -y does)",
    )
    p.add_argument("-f", "--parameters-file", type=Path, help="YAML file of parameters for every notebook")
    p.add_argument("-k", "--kernel", default="python3")
    args = p.parse_args(argv)

    params = {}
    if args.parameters_file:
        params.update(yaml.safe_load(args.parameters_file.read_text()) or {})
    params.update({name: yaml.safe_load(value) for name, value in args.parameter})
    notebooks = args.notebooks or sorted((ROOT / "book").glob("*.ipynb"))
    stage(args.out)
    timings = {}
    for nb in notebooks:
        nb = nb.resolve()
        target = args.out / nb.relative_to(ROOT)
        print(f"executing {nb.relative_to(ROOT)}", flush=True)
        t0 = time.perf_counter()
        pm.execute_notebook(
            str(nb),
            str(target),
            parameters=params,
            kernel_name=args.kernel,
            cwd=str(nb.parent),
            progress_bar=False,
            log_output=False,
        )
        timings[str(nb.relative_to(ROOT))] = round(time.perf_counter() - t0, 1)
        print(f"  done in {timings[str(nb.relative_to(ROOT))]} s", flush=True)
    with atomic_write(args.out / "timings.json", "w") as fh:
        json.dump({"seconds": timings, "parameters": params}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
