"""`lanewatch export`: turn trained `.pt` weights into a deployable engine file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from models.checkpoint import load_detector, save_checkpoint
    from models.export import export_onnx, load_onnx_metadata

    model, config, extra = load_detector(args.weights)
    if args.format == "pt":
        # a release checkpoint: the (EMA) weights and what describes them, no optimizer or resume state
        keep = {k: extra[k] for k in ("input_format", "train_config", "epoch", "best_fitness") if k in extra}
        out = args.out or args.weights.with_name(args.weights.stem + "_release.pt")
        save_checkpoint(out, model, config, extra=keep)
        print(json.dumps({"pt": str(out), "bytes": out.stat().st_size}))
        return 0
    out = args.out or args.weights.with_suffix(".onnx")
    export_onnx(model, out, img_size=config.img_size, metadata={"class_names": list(config.class_names), "input_format": extra.get("input_format", "rgb")})
    print(json.dumps({"onnx": str(out), "metadata": load_onnx_metadata(out)}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `export` subcommand."""
    x = sub.add_parser(
        "export",
        help="export trained weights to ONNX (dynamic batch) or a slim release .pt",
        description="Export a .pt checkpoint to ONNX with a dynamic batch axis; decoding is inside the graph, NMS is not. Class names, input size, anchors and input format travel as ONNX metadata and are checked when a runtime loads the file.",
        epilog="example: lanewatch export --weights runs/nano/best.pt --format onnx",
    )
    x.add_argument("--weights", type=Path, required=True, help="a .pt checkpoint written by lanewatch train")
    x.add_argument("--format", choices=("onnx", "pt"), default="onnx",
                   help="onnx: ONNX Runtime engine; pt: release checkpoint without optimizer and resume state (default onnx)")
    x.add_argument("--out", type=Path, default=None, help="output file (default: beside the weights)")
    x.set_defaults(func=run)
