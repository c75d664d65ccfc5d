"""`lanewatch synth`: simulate dual-energy conveyor scans with ground truth."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.commands.args import frame_size, positive_int, ratio

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `synth` subcommand."""
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
    s.add_argument("--count", type=positive_int, required=True, help="number of frames")
    s.add_argument("--seed", type=int, default=0, help="random seed; frames are a pure function of (seed, index) (default 0)")
    s.add_argument("--negatives-ratio", type=ratio, default=0.1, help="share of threat-free frames, exact (default 0.1)")
    s.add_argument("--format", choices=("voc", "coco", "both"), default="both", help="annotation format (default both)")
    s.add_argument("--workers", type=positive_int, default=1, help="processes to render with (default 1)")
    s.add_argument("--size", type=frame_size, default=None, help="fixed frame size WxH; default: random 300x200 .. 2000x1500")
    s.add_argument("--no-artifacts", action="store_true", help="no scanner line artifacts")
    s.add_argument("--sheet", type=Path, default=None, help="also write a contact sheet PNG of the first frames here")
    s.add_argument("--sheet-count", type=positive_int, default=16, help="frames on the contact sheet (default 16)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=run)
