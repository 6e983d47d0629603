"""Execute every chapter notebook with papermill into a staging copy of the book.

    python tools/execute_chapters.py --out _build/src [-p name value ...] [-f params.yaml] [book/learned_masks.ipynb ...]

Copies ``_config.yml``, ``_toc.yml`` and ``book/`` to ``--out``, then executes each
notebook (papermill records the parameters in the executed notebook's metadata)
over its copy, ``--jobs`` chapters at a time (default: one per CPU), each in its own process and kernel.
Wall times per chapter are written to ``--out/timings.json``. The
book is then rendered from ``--out`` with execution off (``make book``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import papermill as pm
import yaml

from sparselab._io import atomic_write

ROOT = Path(__file__).resolve().parent.parent


def with_repository(config: dict, url: str, branch: str = "main") -> dict:
    """The book's ``_config.yml`` (as a dict) with repository, issues and launch buttons pointing at ``url``.

    The committed configuration has no repository (the project has no public address of its own); a
    build for a published copy passes its address (``make book REPOSITORY_URL=https://github.com/o/r``)
    and gets a repository and an issues button on every page and Binder and Colab launch buttons on
    every chapter (they open the chapter's notebook from ``branch``; Binder installs the repository's
    ``requirements.txt``).
    """
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ValueError(f"repository must be an http(s) URL of the book's repository, got {url!r}")
    config = dict(config)
    config["repository"] = {"url": url.rstrip("/"), "branch": branch, "path_to_book": "."}
    config["html"] = {**config.get("html", {}), "use_repository_button": True, "use_issues_button": True}
    config["launch_buttons"] = {
        "notebook_interface": "jupyterlab",
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
    }
    return config


def stage(out: Path, repository: str | None = None) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, out / name)
    if repository:
        config = with_repository(yaml.safe_load((ROOT / "_config.yml").read_text()), repository)
        (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    shutil.copytree(ROOT / "book", out / "book", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))


def execute_one(nb: Path, target: Path, params: dict, kernel: str) -> float:
    """papermill-execute the chapter ``nb`` into ``target`` (in the chapter's folder); its wall time in seconds."""
    t0 = time.perf_counter()
    pm.execute_notebook(
        str(nb),
        str(target),
        parameters=params,
        kernel_name=kernel,
        cwd=str(nb.parent),
        progress_bar=False,
        log_output=False,
    )
    return round(time.perf_counter() - t0, 1)


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
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="chapters executed at once, each in its own process (default: the number of CPUs)",
    )
    p.add_argument(
        "--repository",
        default=None,
        help="the book's repository URL: repository, issues and Binder/Colab launch buttons point there",
    )
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.repository:
        with_repository({}, args.repository)  # a bad URL fails here, before any chapter runs

    params = {}
    if args.parameters_file:
        params.update(yaml.safe_load(args.parameters_file.read_text()) or {})
    params.update({name: yaml.safe_load(value) for name, value in args.parameter})
    notebooks = [nb.resolve() for nb in (args.notebooks or sorted((ROOT / "book").glob("*.ipynb")))]
    stage(args.out, args.repository)
    jobs = min(args.jobs, len(notebooks))
    timings = {}
    if jobs == 1:
        for nb in notebooks:
            name = str(nb.relative_to(ROOT))
            print(f"executing {name}", flush=True)
            timings[name] = execute_one(nb, args.out / nb.relative_to(ROOT), params, args.kernel)
            print(f"  done in {timings[name]} s", flush=True)
    else:
        # one process (and one kernel) per chapter; every chapter fixes its own torch threads (parameter threads)
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            running = {}
            for nb in notebooks:
                running[pool.submit(execute_one, nb, args.out / nb.relative_to(ROOT), params, args.kernel)] = nb
                print(f"executing {nb.relative_to(ROOT)}", flush=True)
            try:
                for future in as_completed(running):
                    name = str(running[future].relative_to(ROOT))
                    timings[name] = future.result()  # a failed chapter raises here, naming its cell
                    print(f"  {name} done in {timings[name]} s", flush=True)
            except BaseException:
                for future in running:
                    future.cancel()
                raise
        timings = {str(nb.relative_to(ROOT)): timings[str(nb.relative_to(ROOT))] for nb in notebooks}
    with atomic_write(args.out / "timings.json", "w") as fh:
        json.dump({"seconds": timings, "parameters": params, "jobs": jobs}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
