"""Every value the book glues, read from the executed chapters, as one JSON; and a comparison of two such files.

    python tools/glue_values.py _build/src --out before.json        # collect
    python tools/glue_values.py --compare before.json after.json    # identical / changed / timing counts
    python tools/glue_values.py --compare before.json after.json --renamed ch/old=ch/new   # a glue name renamed

The executed notebooks (the papermill outputs that ``make book`` writes under ``_build/src``) hold one
display output per ``myst_nb.glue`` call, tagged with the glued name in ``metadata.scrapbook``. For every
such output this records the value's ``text/plain`` representation (scalars, strings, tables) or, for a
figure, a SHA-256 of its PNG (recorded, but figures are not compared: matplotlib's output is not a
number of the book). Names are keyed ``chapter/name``.

A refactoring must leave every non-timing value identical. Values that measure the machine (wall times,
speed-ups, peak memory) are classed as *timing* by :func:`is_timing` and are reported, not
compared. ``--compare`` exits 1 when any non-timing value differs or is missing on one side.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

# glued names that measure the machine rather than the mathematics (wall times, speed ratios, memory, the
# device): a name is timing when one of its "_"-separated words is in TIMING_WORDS, or it matches TIMING_NAMES
TIMING_WORDS = {"time", "times", "seconds", "minutes", "speedup", "speed", "device", "threads", "memory", "mem"}
TIMING_NAMES = re.compile(
    r"^(cost_(IHT|IMP|chunk)_|cost_iht_copies$|fft_ratio_|slope_(dense|butterfly|monarch|fft)_|ft_slope)"
)


def collect(root: Path) -> dict:
    """``{"chapter/name": {"kind": "text"|"figure", "value": str}}`` over every executed notebook under ``root``."""
    values = {}
    for path in sorted(root.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = json.loads(path.read_text())
        for cell in nb.get("cells", []):
            for output in cell.get("outputs", []):
                name = output.get("metadata", {}).get("scrapbook", {}).get("name")
                if name is None:
                    continue
                # glue(..., display=False) stores its bundle under the scrapbook prefix
                # ("application/papermill.record/text/plain"); a displayed glue under the plain mime types
                prefix = output["metadata"]["scrapbook"].get("mime_prefix", "")
                data = {mime.removeprefix(prefix): value for mime, value in output.get("data", {}).items()}
                key = f"{path.stem}/{name}"
                if "image/png" in data:
                    png = data["image/png"]
                    png = "".join(png) if isinstance(png, list) else png
                    values[key] = {"kind": "figure", "value": hashlib.sha256(png.encode()).hexdigest()}
                elif "text/plain" in data:
                    text = data["text/plain"]
                    values[key] = {"kind": "text", "value": "".join(text) if isinstance(text, list) else text}
                else:
                    raise ValueError(f"{path}: glued output {name!r} has neither text/plain nor image/png")
    return values


def is_timing(key: str) -> bool:
    name = key.split("/", 1)[1]
    return bool(TIMING_WORDS & set(name.lower().split("_"))) or bool(TIMING_NAMES.match(name))


def compare(before: dict, after: dict) -> dict:
    """Counts and lists of identical, changed, missing and timing values (figures are counted apart)."""
    report = {"identical": [], "changed": [], "only_before": [], "only_after": [], "timing": [], "figures": []}
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if (b or a)["kind"] == "figure":
            report["figures"].append(key)
        elif is_timing(key):
            report["timing"].append(key)
        elif b is None:
            report["only_after"].append(key)
        elif a is None:
            report["only_before"].append(key)
        elif a["value"] == b["value"]:
            report["identical"].append(key)
        else:
            report["changed"].append({"name": key, "before": b["value"], "after": a["value"]})
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", nargs="?", type=Path, help="folder of executed notebooks (e.g. _build/src)")
    p.add_argument("--out", type=Path, help="JSON file to write (default: standard output)")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="compare two collected files")
    p.add_argument(
        "--renamed",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="a glued name renamed between the builds (chapter/name=chapter/name); its values are still compared",
    )
    args = p.parse_args(argv)
    if args.compare:
        before, after = (json.loads(f.read_text()) for f in args.compare)
        for pair in args.renamed:
            old, sep, new = pair.partition("=")
            if not sep or old not in before:
                p.error(f"--renamed {pair!r}: expected OLD=NEW with OLD a name of {args.compare[0]}")
            before[new] = before.pop(old)
            print(f"renamed: {old} -> {new}")
        report = compare(before, after)
        for field in report:
            print(f"{field}: {len(report[field])}")
        for item in report["changed"]:
            print(f"  changed {item['name']}: {item['before']!r} -> {item['after']!r}")
        for field in ("only_before", "only_after"):
            for key in report[field]:
                print(f"  {field} {key}")
        return 1 if report["changed"] or report["only_before"] or report["only_after"] else 0
    if args.root is None:
        p.error("give the folder of executed notebooks, or --compare BEFORE AFTER")
    values = collect(args.root)
    text = json.dumps(values, indent=1, sort_keys=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        print(f"{len(values)} glued values from {args.root} -> {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
