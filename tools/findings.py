"""Check the claims registry against executed chapters and write the "Findings at a glance" page.

    python tools/findings.py _build/src

Reads ``book/claims.yml``, the glued values of every executed chapter under ``<src>/book/*.ipynb`` and the
chapter order of ``<src>/_toc.yml``; fails (exit status 1, every failing claim named by its id) when a value
left its claim's interval, and otherwise writes ``<src>/book/findings.md`` from the registry's sentences and
the executed values, and fills every ``{{ claim:ID }}`` of the other pages (the limitations) with that claim's
sentence. ``make book`` runs it between executing and rendering.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import yaml

from sparselab._io import atomic_write
from sparselab.chapters.claims import (
    ClaimError,
    check_claims,
    fill_claims,
    findings_markdown,
    glued_values,
    load_claims,
)

ROOT = Path(__file__).resolve().parent.parent


def _toc_files(toc: dict) -> list[str]:
    files = []
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            files.append(chapter["file"])
    return files


def _title(notebook: Path) -> str:
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return notebook.stem


PACKAGES = ("torch", "numpy", "scipy", "pandas", "matplotlib", "scikit-learn", "papermill", "jupyter-book", "myst-nb")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True)
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def provenance_markdown(src: Path, titles: dict[str, str]) -> str:
    """The build's provenance as Markdown: commit, date, machine, package versions, per-chapter times."""
    timings = json.loads((src / "timings.json").read_text()) if (src / "timings.json").exists() else {}
    seconds = timings.get("seconds", {})
    params = timings.get("parameters", {})
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    gpu = "none"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    lines = [
        f"* commit: `{_commit()}`; built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"* machine: {_cpu()}, {os.cpu_count()} logical cores, GPU: {gpu}; Python {platform.python_version()}",
        f"* packages: {', '.join(versions)}",
        "* parameters: "
        + (", ".join(f"`{k} = {v!r}`" for k, v in params.items()) if params else "every chapter at its defaults"),
        "",
        "| chapter | execution time (s) | executed |",
        "| --- | --- | --- |",
    ]
    cached = timings.get("cached", {})
    for chapter, title in titles.items():
        key = f"book/{chapter}.ipynb"
        if key in seconds:
            when = (
                f"at commit `{cached[key]['commit']}`, {cached[key]['date']} (reused from the execution cache)"
                if key in cached
                else "in this build"
            )
            lines.append(f"| {{doc}}`{title} <{chapter}>` | {seconds[key]:.1f} | {when} |")
    if seconds:
        jobs = timings.get("jobs", 1)
        lines.append(f"| total | {sum(seconds.values()):.1f} | {jobs} chapter(s) at a time |")
    return "\n".join(lines)


def stamp_chapters(src: Path, titles: dict[str, str]) -> None:
    """Add a provenance line under each executed chapter's title: commit, build date, run time, device."""
    timings = json.loads((src / "timings.json").read_text()) if (src / "timings.json").exists() else {}
    seconds, params = timings.get("seconds", {}), timings.get("parameters", {})
    cached = timings.get("cached", {})
    when = f"{datetime.now(UTC):%Y-%m-%d}"
    for chapter in titles:
        path = src / "book" / f"{chapter}.ipynb"
        nb = json.loads(path.read_text())
        device = "CPU"
        values = glued_values(path)
        if isinstance(values.get("device"), str) and values["device"] not in ("auto", "cpu"):
            device = values["device"]
        key = f"book/{chapter}.ipynb"
        run = f"executed in {seconds[key]:.0f} s" if key in seconds else "executed"
        if key in cached:  # the notebook came from the execution cache: say which execution it is
            run += f" (at commit `{cached[key]['commit']}` on {cached[key]['date'][:10]}, reused: nothing it depends on changed)"
        scale = (
            "at its default parameters"
            if not params
            else "with " + ", ".join(f"`{k}={v!r}`" for k, v in params.items())
        )
        line = (
            f"*Built from commit `{_commit()}` on {when}, {run} {scale} on {_cpu()} ({os.cpu_count()} cores, "
            f"{device}); see {{doc}}`reproducibility`.*"
        )
        cell = {"cell_type": "markdown", "id": "provenance", "metadata": {"tags": ["provenance"]}, "source": line}
        cells = nb["cells"]
        if any(c.get("id") == "provenance" for c in cells):
            continue
        first = cells[0]
        text = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
        if first["cell_type"] == "markdown" and text.startswith("# "):
            title, _, rest = text.partition("\n")
            first["source"] = title + "\n"
            cells[1:1] = [cell] + (
                [{"cell_type": "markdown", "id": "intro-rest", "metadata": {}, "source": rest}] if rest.strip() else []
            )
        else:
            cells.insert(0, cell)
        with atomic_write(path, "w") as fh:
            json.dump(nb, fh, indent=1, ensure_ascii=False)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="check book/claims.yml and write the findings page")
    p.add_argument("src", type=Path, help="the executed book (tools/execute_chapters.py --out)")
    p.add_argument("--claims", type=Path, default=ROOT / "book" / "claims.yml")
    args = p.parse_args(argv)

    claims = load_claims(args.claims)
    toc = yaml.safe_load((args.src / "_toc.yml").read_text())
    titles, values = {}, {}
    for file in _toc_files(toc):
        notebook = args.src / f"{file}.ipynb"
        if notebook.exists():
            chapter = notebook.stem
            titles[chapter] = _title(notebook)
            values[chapter] = glued_values(notebook)
    unknown = sorted({c["chapter"] for c in claims} - set(titles))
    if unknown:
        print(f"claims name chapters that were not executed: {unknown}", file=sys.stderr)
        return 1
    try:
        check_claims(claims, values)
        pages = {}  # authored pages that quote claims ({{ claim:ID }}), filled in before anything is written
        for page in sorted((args.src / "book").glob("*.md")):
            text = page.read_text()
            filled = fill_claims(text, claims, values)
            if "{{ build:provenance }}" in filled:
                filled = filled.replace("{{ build:provenance }}", provenance_markdown(args.src, titles))
            if filled != text:
                pages[page] = filled
    except ClaimError as err:
        print(f"findings: {err}", file=sys.stderr)
        return 1
    for page, text in pages.items():
        with atomic_write(page, "w") as fh:
            fh.write(text)
    with atomic_write(args.src / "book" / "findings.md", "w") as fh:
        fh.write(findings_markdown(claims, values, titles) + "\n")
    stamp_chapters(args.src, titles)
    print(f"findings: {len(claims)} claims hold; wrote {args.src / 'book' / 'findings.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
