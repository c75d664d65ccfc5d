"""`lanewatch synth`: simulate dual-energy conveyor scans with ground truth."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from services.commands.args import frame_size, positive_int, ratio

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from tqdm import tqdm

    from training.synth.dataset import SynthJob, synthesize
    from training.synth.profiles import DEFAULT_PROFILE, load_profile, profile_names
    from training.synth.scene import SceneConfig

    if args.scanner == "list":
        for name in profile_names():
            p = load_profile(name)
            print(f"{name:<10} {'held out ' if p.held_out else ''}{p.description}")
        return 0
    if args.out is None or args.count is None:
        print("lanewatch synth: error: --out and --count are required (or --scanner list)", file=sys.stderr)
        return 2
    try:
        scanners, weights = _scanners(args.scanner or DEFAULT_PROFILE, load_profile)
    except ValueError as exc:
        print(f"lanewatch synth: error: {exc}", file=sys.stderr)
        return 2
    if args.backgrounds is not None:
        return _run_backgrounds(args, scanners if args.scanner else ())
    scene = SceneConfig(width=args.size[0], height=args.size[1]) if args.size else SceneConfig()
    if args.no_artifacts:
        scene = SceneConfig(**{**scene.__dict__, "artifact_prob": 0.0})
    job = SynthJob(out=args.out, count=args.count, seed=args.seed, negatives_ratio=args.negatives_ratio, fmt=args.format,
                   scene=scene, scanners=scanners, scanner_weights=weights, jitter=args.jitter)
    with tqdm(total=args.count, unit="frame", desc="synth", disable=args.quiet, file=sys.stderr) as bar:
        summary = synthesize(job, workers=args.workers, progress=bar.update)
    _print_summary(args, summary)
    return 0


def _scanners(text: str, load) -> tuple[tuple, tuple[float, ...]]:
    """'sixray:2,vivid,greyscale' -> the profiles and their relative weights (1 where not given)."""
    profiles, weights = [], []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        name, _, weight = item.partition(":") if not item.endswith(".json") else (item, "", "")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"scanner weight must be a number, got {item!r} (NAME or NAME:WEIGHT)") from None
        if w <= 0:
            raise ValueError(f"scanner weight must be positive, got {item!r}")
        profiles.append(load(name))
        weights.append(w)
    return tuple(profiles), tuple(weights) if len(set(weights)) > 1 else ()


def _run_backgrounds(args: argparse.Namespace, scanners: tuple) -> int:
    """Project simulated threats into the clean scans of --backgrounds."""
    from tqdm import tqdm

    from training.synth.backgrounds import synthesize_on_backgrounds

    unused = [flag for flag, given in (("--size", args.size), ("--no-artifacts", args.no_artifacts),
                                       ("--jitter", args.jitter)) if given]
    if unused or len(scanners) > 1:
        what = ", ".join(unused) or "several --scanner profiles"
        print(f"lanewatch synth: error: {what} cannot be used with --backgrounds (the scans are what they are; "
              "--scanner names the one profile they were scanned with, if known)", file=sys.stderr)
        return 2
    try:
        with tqdm(total=args.count, unit="frame", desc="synth", disable=args.quiet, file=sys.stderr) as bar:
            summary = synthesize_on_backgrounds(args.backgrounds, args.out, count=args.count, seed=args.seed,
                                                negatives_ratio=args.negatives_ratio, fmt=args.format,
                                                workers=args.workers, progress=bar.update,
                                                scanner=scanners[0] if scanners else None)
    except ValueError as exc:
        print(f"lanewatch synth: error: {exc}", file=sys.stderr)
        return 2
    _print_summary(args, summary)
    return 0


def _print_summary(args: argparse.Namespace, summary: dict) -> None:
    if args.sheet:
        from training.contact_sheet import contact_sheet
        from training.datasets.loader import load_dataset

        samples = load_dataset(args.out)[: args.sheet_count]
        summary["sheet"] = str(contact_sheet(samples, args.sheet))
    print(json.dumps(summary))


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `synth` subcommand."""
    s = sub.add_parser(
        "synth",
        help="simulate dual-energy conveyor scans with threat annotations",
        description="\n\n".join(textwrap.fill(p, 100) for p in (
            "Simulate conveyor frames physically: materials with real X-ray attenuation, a polychromatic "
            "two-layer detector with photon noise and saturation, bags with clutter and the five SIXray-D "
            "threat classes (gun, knife, wrench, pliers, scissors) at measured occlusion levels OL1-OL3. "
            "Writes images/<stem>.png or .jpg (pseudo-colour; JPEG where the scanner profile archives so), "
            "raw/<stem>_high.png and _low.png (16-bit), "
            "annotations/<stem>.xml (VOC) and annotations.json (COCO), and scanners.json (the scanner "
            "profiles used and each frame's). Every frame depends only on --seed and its index, so any "
            "--workers gives the same files. Prints one JSON summary line.",
            "With --backgrounds DIR it builds a training set by projecting simulated threats into your own "
            "clean scans (threat image projection, as screening machines do): 1-3 threats per frame go into "
            "the bags of each scan (its bag boxes, or bags found in the image) at a scale judged from bag "
            "size, attenuating what lies under them physically. DIR is a dataset lanewatch reads (its boxes "
            "are kept), or any folder of PNG/JPEG pseudo-colour scans and/or 16-bit raw pairs "
            "<stem>_high.png + <stem>_low.png; --count frames cycle through its scans. Pseudo-colour scans "
            "are read back through their own screen, calibrated from each scan (or, with --scanner, the "
            "profile they came from). Same output layout, so `lanewatch train` reads it; backgrounds.json "
            "names each frame's scan.",
        )),
        epilog=(
            "example:\n"
            "  lanewatch synth --out data/train --count 2000 --seed 1 --workers 2\n"
            "  lanewatch synth --out data/dr --count 3000 --scanner sixray,vivid,greyscale --jitter 0.5  # domain randomisation\n"
            "  lanewatch synth --scanner list\n"
            "  lanewatch synth --out data/mix --count 900 --scanner sixray,vivid,greyscale   # one profile per frame, drawn by seed\n"
            "  lanewatch synth --out data/heldout --count 500 --seed 98 --scanner teal          # the held-out scanner\n"
            "  lanewatch synth --out data/tip --count 3000 --backgrounds site/clean_scans --workers 2  # threats in your scans"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--out", type=Path, default=None, help="output folder (created); required unless --scanner list")
    s.add_argument("--count", type=positive_int, default=None, help="number of frames; required unless --scanner list")
    s.add_argument("--scanner", default=None, metavar="NAME[:W][,NAME[:W]...]|list",
                   help="scanner profile(s) by name or .json path; several: each frame gets one, drawn by seed, "
                        "NAME:W drawn W times as often (sixray:2,vivid,greyscale); "
                        "'list' prints the shipped profiles (default sixray). With --backgrounds: the one profile "
                        "the scans came from, if known (default: calibrate each scan's screen from its pixels)")
    s.add_argument("--jitter", type=ratio, default=0.0, metavar="AMOUNT",
                   help="perturb each frame's screen at random, 0..1 (palette hues, display and saturation curves, belt "
                        "tone, edge enhancement), drawn apart from the frame's content: domain randomisation for "
                        "detectors that must work on scanners they have not seen (default 0: the profile as it is)")
    s.add_argument("--backgrounds", type=Path, default=None, metavar="DIR",
                   help="build a training set by projecting simulated threats into your own clean scans in DIR "
                        "(a dataset, PNG/JPEG scans or <stem>_high/_low.png raw pairs) instead of simulating bags")
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
