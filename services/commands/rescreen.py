"""`lanewatch rescreen`: show a dataset's pseudo-colour scans on another scanner's screen."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

__all__ = ["register", "run"]

DESCRIPTION = """\
Copy a dataset with every pseudo-colour scan shown on another scanner profile's screen: each
pixel's absorbance and material are read back through the scan's own screen (calibrated from
its pixels, as threat projection does) and rendered with the --scanner profile's palette and
display curve. Annotations, bag boxes and everything else are copied unchanged, so
`lanewatch eval detector` and `lanewatch train` read the copy as they read the original.

What it is for: looking at a foreign scanner's scans in a familiar palette, and measuring
whether a detector does better on scans mapped to the screen it was trained on (a palette-
independent input). What the read-back cannot recover (texture the display model does not
explain, JPEG artifacts, material at the edges of things, any material on a greyscale screen)
stays lost. Prints one JSON summary line; a scan that cannot be read is reported and skipped,
and the exit code is then 1."""

EPILOG = """\
examples:
  lanewatch rescreen ../shared/realxray-dev --out /tmp/real_on_sixray
  lanewatch rescreen data/test_teal --out /tmp/teal_on_sixray --scanner sixray
  lanewatch eval detector --weights models/weights/aspp_yolo_nano.onnx --data /tmp/teal_on_sixray"""


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    import cv2
    from tqdm import tqdm

    from training.datasets.loader import load_dataset
    from training.synth.profiles import load_profile
    from training.synth.projection import rescreen

    src, out = args.data.resolve(), args.out.resolve()
    if out == src or src in out.parents:
        raise ValueError(f"--out {args.out} lies inside the dataset {args.data}: choose a folder outside it")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"--out {args.out} exists and is not empty")
    display = load_profile(args.scanner).display
    samples = [s for s in load_dataset(src) if s.image is not None]
    if not samples:
        raise ValueError(f"{args.data}: no pseudo-colour scans to show (raw pairs are rendered by `lanewatch synth`)")
    # raw pairs are the scanner's own read-out, not a screen: they stay out of the copy
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("raw"), dirs_exist_ok=True)
    done, failed = 0, []
    for s in tqdm(samples, desc="rescreen", unit="scan", file=sys.stderr, disable=args.quiet):
        target = out / Path(s.image).resolve().relative_to(src)
        bgr = cv2.imread(str(s.image), cv2.IMREAD_COLOR)
        if bgr is None:
            failed.append(str(s.image))
            print(f"lanewatch rescreen: cannot read {s.image}: skipped", file=sys.stderr)
            continue
        rgb = rescreen(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), display)
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if target.suffix.lower() in (".jpg", ".jpeg") else []
        if not cv2.imwrite(str(target), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params):
            raise OSError(f"could not write {target}")
        done += 1
    print(json.dumps({"scans": done, "failed": failed, "scanner": args.scanner, "out": str(args.out)}))
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `rescreen` subcommand."""
    c = sub.add_parser("rescreen", help="show a dataset's pseudo-colour scans on another scanner's screen",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("data", type=Path, help="dataset folder (any layout the readers know)")
    c.add_argument("--out", type=Path, required=True, help="folder for the copy (created; must be empty)")
    c.add_argument("--scanner", default="sixray", metavar="NAME",
                   help="profile whose screen to show the scans on, by name or .json path (default sixray, "
                        "the training default; `lanewatch synth --scanner list` lists them)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=run)
