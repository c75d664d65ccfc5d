"""`lanewatch eval realism`: how close a simulated set looks to a real one, measured inside bags."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.commands.args import positive_int

__all__ = ["register", "run"]


def _limit(samples: list, n: int | None) -> list:
    return samples[:n] if n else samples


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from tqdm import tqdm

    from training.datasets.loader import load_dataset
    from training.evaluation.realism import compare, format_realism, plot_realism

    sets = {}
    for name, folder in (("real", args.real), ("sim", args.sim)):
        samples = _limit(load_dataset(folder), args.max_images)
        if not samples:
            print(f"lanewatch eval realism: error: no scans in {folder}", file=sys.stderr)
            return 2
        sets[name] = samples
    with tqdm(total=sum(map(len, sets.values())), unit="scan", desc="realism", file=sys.stderr, disable=args.quiet) as bar:
        result, crops = compare(sets["sim"], sets["real"], kid=not args.no_kid, kid_subsets=args.kid_subsets,
                                kid_subset_size=args.kid_size, seed=args.seed, progress=bar.update)
    result["sim"]["data"], result["real"]["data"] = str(args.sim), str(args.real)
    print(format_realism(result))
    png = args.png or (args.json.with_suffix(".png") if args.json else None)
    if png:
        plot_realism(result, crops, png)
        result["png"] = str(png)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def register(targets: argparse._SubParsersAction) -> None:
    """Add `eval realism` to the `eval` targets."""
    r = targets.add_parser(
        "realism",
        help="how close simulated scans look to real ones (colour mix, texture, KID)",
        description=(
            "eval realism: compare a simulated set (--sim) with a real one (--real), any layouts the readers know. "
            "Bags are cut out (bag boxes where the data has them, else the large non-background regions) and "
            "resized to a 128 px long side; inside them it measures the colour mix (shares of organic/orange, "
            "mixed/green, metal/blue, near-black and grey among bag pixels, and the background share), saturation "
            "and brightness histograms, edge density (Canny 60/140), texture energy (mean |Laplacian|), connected "
            "metal structures per 1000 bag pixels, and threat box size relative to the bag (medians over bags). "
            "KID is the kernel distance between the two sets on ImageNet EfficientNet-Lite0 features of bag crops "
            "(unbiased, mean and spread over random subsets); 0 means indistinguishable to that network."
        ),
        epilog=(
            "example: lanewatch synth --out data/realism --count 500 --seed 11 --workers 2 --quiet\n"
            "         lanewatch eval realism --sim data/realism --real ../shared/realxray-dev --json runs/realism.json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("--sim", type=Path, required=True, help="the simulated dataset folder")
    r.add_argument("--real", type=Path, required=True, help="the real dataset folder")
    r.add_argument("--json", type=Path, default=None, help="write every figure here (plot beside it as .png)")
    r.add_argument("--png", type=Path, default=None, help="histograms side by side and bag crops of each set")
    r.add_argument("--max-images", type=positive_int, default=None, help="read at most this many scans of each set")
    r.add_argument("--kid-subsets", type=positive_int, default=50, help="random subsets for KID's spread (default 50)")
    r.add_argument("--kid-size", type=positive_int, default=50,
                   help="bags per KID subset; capped at the smaller set (default 50)")
    r.add_argument("--seed", type=int, default=0, help="seed of the KID subsets (default 0)")
    r.add_argument("--no-kid", action="store_true", help="skip the kernel distance (no network needed)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=run)
