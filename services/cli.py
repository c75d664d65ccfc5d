"""The `lanewatch` command line: one entry point, one subcommand per job.

    lanewatch synth   simulate dual-energy conveyor scans with ground truth
    lanewatch sheet   tile frames of any dataset with their boxes into one PNG
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 1200x950, got {text!r}") from None
    if not (64 <= w <= 8192 and 64 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"frame size {w}x{h} is outside 64..8192")
    return w, h


def _cmd_synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from training.synth.dataset import SynthJob, synthesize
    from training.synth.scene import SceneConfig

    scene = SceneConfig(width=args.size[0], height=args.size[1]) if args.size else SceneConfig()
    if args.no_artifacts:
        scene = SceneConfig(**{**scene.__dict__, "artifact_prob": 0.0})
    job = SynthJob(out=args.out, count=args.count, seed=args.seed, negatives_ratio=args.negatives_ratio, fmt=args.format, scene=scene)
    with tqdm(total=args.count, unit="frame", desc="synth", disable=args.quiet, file=sys.stderr) as bar:
        summary = synthesize(job, workers=args.workers, progress=bar.update)
    if args.sheet:
        from training.contact_sheet import contact_sheet
        from training.datasets.loader import load_dataset

        samples = load_dataset(args.out)[: args.sheet_count]
        summary["sheet"] = str(contact_sheet(samples, args.sheet))
    print(json.dumps(summary))
    return 0


def _cmd_sheet(args: argparse.Namespace) -> int:
    from training.contact_sheet import contact_sheet
    from training.datasets.loader import load_dataset

    samples = load_dataset(args.data)
    if args.positives:
        samples = [s for s in samples if s.boxes]
    out = contact_sheet(samples[: args.count], args.out, columns=args.columns, tile=args.tile, mode=args.mode)
    print(json.dumps({"sheet": str(out), "frames": min(args.count, len(samples))}))
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lanewatch",
        description="Screen X-ray baggage scans from conveyor lanes: simulate, train, evaluate, serve.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `lanewatch COMMAND --help` for the options of one command.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "synth",
        help="simulate dual-energy conveyor scans with threat annotations",
        description=(
            "Simulate conveyor frames physically: materials with real X-ray attenuation, a polychromatic "
            "two-layer detector with photon noise and saturation, bags with clutter and the five SIXray-D "
            "threat classes (gun, knife, wrench, pliers, scissors) at measured occlusion levels OL1-OL3. "
            "Writes images/<stem>.png (pseudo-colour), raw/<stem>_high.png and _low.png (16-bit), "
            "annotations/<stem>.xml (VOC) and annotations.json (COCO). Every frame depends only on "
            "--seed and its index, so any --workers gives the same files. Prints one JSON summary line."
        ),
        epilog="example: lanewatch synth --out data/train --count 2000 --seed 1 --workers 2",
    )
    s.add_argument("--out", type=Path, required=True, help="output folder (created)")
    s.add_argument("--count", type=_positive_int, required=True, help="number of frames")
    s.add_argument("--seed", type=int, default=0, help="random seed; frames are a pure function of (seed, index) (default 0)")
    s.add_argument("--negatives-ratio", type=_ratio, default=0.1, help="share of threat-free frames, exact (default 0.1)")
    s.add_argument("--format", choices=("voc", "coco", "both"), default="both", help="annotation format (default both)")
    s.add_argument("--workers", type=_positive_int, default=1, help="processes to render with (default 1)")
    s.add_argument("--size", type=_size, default=None, help="fixed frame size WxH; default: random 300x200 .. 2000x1500")
    s.add_argument("--no-artifacts", action="store_true", help="no scanner line artifacts")
    s.add_argument("--sheet", type=Path, default=None, help="also write a contact sheet PNG of the first frames here")
    s.add_argument("--sheet-count", type=_positive_int, default=16, help="frames on the contact sheet (default 16)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_synth)

    c = sub.add_parser(
        "sheet",
        help="tile frames of a dataset with their boxes into one PNG",
        description="Contact sheet of any dataset the readers know (simulator, SIXray-D/OPIXray VOC, SIXray txt, CLCXray COCO): threat boxes with class and occlusion level, bag boxes in grey.",
        epilog="example: lanewatch sheet data/train --out sheet.png --count 16",
    )
    c.add_argument("data", type=Path, help="dataset folder")
    c.add_argument("--out", type=Path, required=True, help="PNG to write")
    c.add_argument("--count", type=_positive_int, default=16, help="frames to tile (default 16)")
    c.add_argument("--columns", type=_positive_int, default=4, help="tiles per row (default 4)")
    c.add_argument("--tile", type=_positive_int, default=384, help="tile size in pixels (default 384)")
    c.add_argument("--mode", choices=("rgb", "dual"), default="rgb", help="show pseudo-colour or the dual-energy 3-channel form")
    c.add_argument("--positives", action="store_true", help="only frames with threats")
    c.set_defaults(func=_cmd_sheet)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lanewatch` command."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as err:
        print(f"lanewatch {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
