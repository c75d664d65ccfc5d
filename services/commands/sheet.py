"""`lanewatch sheet`: tile frames of a dataset with their boxes into one PNG."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from services.commands.args import positive_int

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from training.contact_sheet import contact_sheet
    from training.datasets.loader import load_dataset

    samples = load_dataset(args.data)
    if args.positives:
        samples = [s for s in samples if s.boxes]
    out = contact_sheet(samples[: args.count], args.out, columns=args.columns, tile=args.tile, mode=args.mode)
    print(json.dumps({"sheet": str(out), "frames": min(args.count, len(samples))}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sheet` subcommand."""
    c = sub.add_parser(
        "sheet",
        help="tile frames of a dataset with their boxes into one PNG",
        description="Contact sheet of any dataset the readers know (simulator, SIXray-D/OPIXray VOC, SIXray txt, "
                    "CLCXray COCO): threat boxes with class and occlusion level, bag boxes in grey.",
        epilog="example: lanewatch sheet data/train --out sheet.png --count 16",
    )
    c.add_argument("data", type=Path, help="dataset folder")
    c.add_argument("--out", type=Path, required=True, help="PNG to write")
    c.add_argument("--count", type=positive_int, default=16, help="frames to tile (default 16)")
    c.add_argument("--columns", type=positive_int, default=4, help="tiles per row (default 4)")
    c.add_argument("--tile", type=positive_int, default=384, help="tile size in pixels (default 384)")
    c.add_argument("--mode", choices=("rgb", "dual"), default="rgb", help="show pseudo-colour or the dual-energy 3-channel form")
    c.add_argument("--positives", action="store_true", help="only frames with threats")
    c.set_defaults(func=run)
