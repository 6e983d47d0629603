"""Execute every chapter notebook with papermill into a staging copy of the book.

    python tools/execute_chapters.py --out _build/src [-p name value ...] [-f params.yaml] [book/learned_masks.ipynb ...]

Copies ``_config.yml``, ``_toc.yml`` and ``book/`` to ``--out``, then executes each
notebook (papermill records the parameters in the executed notebook's metadata)
over its copy, ``--jobs`` chapters at a time (default: one per CPU), each in its own process and kernel.
Wall times per chapter are written to ``--out/timings.json``.

**Execution cache.** A chapter whose notebook, parameters, package source (``sparselab/``), shipped data
(``data/``) and pinned requirements are unchanged since it was last executed is not executed again: its
executed notebook is copied from ``--cache`` (default ``_build/cache``), and ``timings.json`` records under
``cached`` the commit and date of the execution reused. ``--force`` (``make book FORCE=1``) re-executes
everything, ``--no-cache`` neither reuses nor keeps. The
book is then rendered from ``--out`` with execution off (``make book``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path

import papermill as pm
import yaml
from findings import _commit  # the build's commit, as the provenance states it (tools/ is on the path of a script)

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


#: What a chapter's executed notebook depends on besides its own source and parameters: the package, the
#: shipped data it reads, and the pinned environment. A change to any of these re-executes every chapter.
DEPENDENCIES = ("sparselab", "data", "requirements.txt", "pyproject.toml")


def cache_key(nb: Path, params: dict, kernel: str) -> str:
    """The execution cache's key of chapter ``nb``: a SHA-256 over everything its executed notebook depends on.

    The notebook's bytes, the parameters given to every chapter, the kernel name, the Python version, and every
    file of :data:`DEPENDENCIES` (paths and bytes, in sorted order; ``__pycache__`` and ``.pyc`` skipped).
    """
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(label.encode() + b"\0" + hashlib.sha256(data).digest())

    add("notebook", nb.read_bytes())
    add("parameters", json.dumps(params, sort_keys=True, default=str).encode())
    add("kernel", kernel.encode())
    add("python", sys.version.encode())
    for name in DEPENDENCIES:
        path = ROOT / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc":
                add(str(file.relative_to(ROOT)), file.read_bytes())
    return digest.hexdigest()


def _cache_files(cache: Path, nb: Path, key: str) -> tuple[Path, Path]:
    stem = f"{nb.stem}-{key[:20]}"
    return cache / f"{stem}.ipynb", cache / f"{stem}.json"


def cache_lookup(cache: Path, nb: Path, key: str) -> dict | None:
    """The cache entry of chapter ``nb`` under ``key`` (``{"notebook", "seconds", "commit", "date"}``), or None."""
    notebook, meta = _cache_files(cache, nb, key)
    if not (notebook.exists() and meta.exists()):
        return None
    try:
        entry = json.loads(meta.read_text())
    except json.JSONDecodeError:  # a torn entry (written atomically, so only by hand): treat as absent
        return None
    return {**entry, "notebook": notebook}


def cache_store(cache: Path, nb: Path, key: str, executed: Path, seconds: float) -> None:
    """Keep the executed notebook ``executed`` of chapter ``nb`` under ``key``; older entries of ``nb`` go.

    Both files are written atomically (the notebook first, so an entry with metadata always has its notebook).
    """
    cache.mkdir(parents=True, exist_ok=True)
    notebook, meta = _cache_files(cache, nb, key)
    for old in cache.glob(f"{nb.stem}-*.*"):
        if old not in (notebook, meta) and old.stem.rsplit("-", 1)[0] == nb.stem:
            old.unlink(missing_ok=True)
    with atomic_write(notebook, "wb") as fh:
        fh.write(executed.read_bytes())
    entry = {"seconds": seconds, "commit": _commit(), "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "key": key}
    with atomic_write(meta, "w") as fh:
        json.dump(entry, fh, indent=1)


def _last_seconds(cache: Path, nb: Path) -> float:
    """How long chapter ``nb`` took when it was last executed, from any cache entry of it (inf when none)."""
    for meta in sorted(cache.glob(f"{nb.stem}-*.json")) if cache.is_dir() else []:
        try:
            return float(json.loads(meta.read_text())["seconds"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return float("inf")


def execute_one(nb: Path, target: Path, params: dict, kernel: str) -> float:
    """papermill-execute the chapter ``nb`` into ``target`` (in the chapter's folder); its wall time in seconds.

    papermill writes its output as it goes, so it writes to a temporary file beside ``target``, which replaces
    ``target`` only when the chapter has finished: ``target`` is never a half-executed notebook. A chapter that
    fails leaves its partly executed notebook as ``<name>.failed.ipynb`` for inspection, and raises.
    """
    running = target.with_name(f".{target.stem}.running.ipynb")
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(nb),
            str(running),
            parameters=params,
            kernel_name=kernel,
            cwd=str(nb.parent),
            progress_bar=False,
            log_output=False,
        )
    except BaseException:
        if running.exists():
            os.replace(running, target.with_name(f"{target.stem}.failed.ipynb"))
        raise
    os.replace(running, target)
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
        "--cache",
        type=Path,
        default=ROOT / "_build" / "cache",
        help="folder of executed chapters kept for reuse (default _build/cache)",
    )
    p.add_argument("--no-cache", action="store_true", help="neither reuse nor keep executed chapters")
    p.add_argument("--force", action="store_true", help="re-execute every chapter (the cache is refreshed)")
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
    timings, cached, keys, todo = {}, {}, {}, []
    for nb in notebooks:
        name = str(nb.relative_to(ROOT))
        hit = None
        if not args.no_cache:
            keys[name] = cache_key(nb, params, args.kernel)
            hit = None if args.force else cache_lookup(args.cache, nb, keys[name])
        if hit is None:
            todo.append(nb)
            continue
        shutil.copyfile(hit["notebook"], args.out / nb.relative_to(ROOT))
        timings[name] = hit["seconds"]
        cached[name] = {"commit": hit["commit"], "date": hit["date"]}
        print(f"{name}: unchanged since commit {hit['commit']} ({hit['date']}), reused from {args.cache}", flush=True)

    def finished(nb: Path, seconds: float) -> None:
        name = str(nb.relative_to(ROOT))
        timings[name] = seconds
        if not args.no_cache:
            cache_store(args.cache, nb, keys[name], args.out / nb.relative_to(ROOT), seconds)
        print(f"  {name} done in {seconds} s", flush=True)

    jobs = max(1, min(args.jobs, len(todo)))
    if jobs > 1:  # longest first (by its last execution's time, if the cache remembers one): a shorter makespan
        todo.sort(key=lambda nb: -_last_seconds(args.cache, nb))
    if jobs == 1:
        for nb in todo:
            print(f"executing {nb.relative_to(ROOT)}", flush=True)
            finished(nb, execute_one(nb, args.out / nb.relative_to(ROOT), params, args.kernel))
    else:
        # one process (and one kernel) per chapter; every chapter fixes its own torch threads (parameter threads)
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            running = {}
            for nb in todo:
                running[pool.submit(execute_one, nb, args.out / nb.relative_to(ROOT), params, args.kernel)] = nb
                print(f"executing {nb.relative_to(ROOT)}", flush=True)
            try:
                for future in as_completed(running):
                    finished(running[future], future.result())  # a failed chapter raises here, naming its cell
            except BaseException:
                for future in running:
                    future.cancel()
                raise
    timings = {str(nb.relative_to(ROOT)): timings[str(nb.relative_to(ROOT))] for nb in notebooks}
    with atomic_write(args.out / "timings.json", "w") as fh:
        json.dump({"seconds": timings, "parameters": params, "jobs": jobs, "cached": cached}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
