"""`lanewatch export`: turn trained `.pt` weights into a deployable file.

- `onnx`: the ONNX Runtime model: dynamic batch, decoding inside, metadata.
- `pt`: a slim release checkpoint.
- `tensorrt`: an engine for this machine's GPU, built from the ONNX through the
  per-machine engine cache (`models.runtime.tensorrt`): FP32, FP16, or INT8
  calibrated on letterboxed frames of a dataset folder or of the simulator.
  Engines are not portable, so this runs on the machine (GPU model, TensorRT
  version) that will serve them; it also takes an exported `.onnx`, so that a
  GPU host needs no checkpoint.

A classifier checkpoint (`lanewatch train --task classify`) exports to `onnx`
(``images`` in, ``scores`` (N, C) probabilities out) or `pt`.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["calibration_canvases", "register", "run"]

# what --format tensorrt takes when the options are not given
TENSORRT_DEFAULTS = {"opt_batch": 8, "max_batch": 32, "calib_count": 128}
_TENSORRT_OPTIONS = ("fp16", "int8", "calib", "calib_count", "opt_batch", "max_batch", "cache_dir")


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from models.shipped import require_weights

    _check_options(args)
    require_weights(args.weights)
    if args.weights.suffix == ".pt":
        from models.chr import checkpoint_task

        if checkpoint_task(args.weights) == "classify":
            return _export_classifier(args)
    if args.format == "tensorrt":
        return _export_tensorrt(args)
    if args.format == "pt":
        from models.checkpoint import save_checkpoint

        model, config, extra = _load_detector(args)
        # a release checkpoint: the (EMA) weights, stored in float16, and what describes them; no optimizer
        # or resume state
        keep = {k: extra[k] for k in ("input_format", "train_config", "epoch", "best_fitness") if k in extra}
        out = args.out or args.weights.with_name(args.weights.stem + "_release.pt")
        save_checkpoint(out, model, config, extra=keep, half=True)
        print(json.dumps({"pt": str(out), "bytes": out.stat().st_size}))
        return 0
    from models.export import load_onnx_metadata

    out = _export_onnx(args, args.out or args.weights.with_suffix(".onnx"))
    print(json.dumps({"onnx": str(out), "metadata": load_onnx_metadata(out)}))
    return 0


def calibration_canvases(
    *, count: int, img_size: int, input_format: str, data: Path | None = None, seed: int = 0
) -> np.ndarray:
    """(count, S, S, 3) uint8 letterboxed canvases for INT8 calibration.

    From the dataset folder ``data`` (samples spread evenly over it, at most
    ``count``), else ``count`` fresh simulator frames (seeded, so the same
    canvases and the same cached calibration each time), one in ten without
    a threat as in training data.
    """
    from pipeline.preprocess import background_for, letterbox

    if count < 1:
        raise ValueError(f"calibration needs at least one frame, not {count}")
    if data is not None:
        from training.datasets.loader import load_dataset, load_image

        samples = load_dataset(data)
        if not samples:
            raise ValueError(f"{data} holds no samples to calibrate on")
        picked = np.linspace(0, len(samples) - 1, min(count, len(samples))).round().astype(int)
        images = (load_image(samples[i], input_format) for i in picked)
    else:
        from pipeline.dual_energy import to_three_channel
        from training.synth.scene import generate_frame

        rng = np.random.default_rng(seed)
        frames = (generate_frame(rng, negative=rng.random() < 0.1) for _ in range(count))
        images = (f.rgb if input_format == "rgb" else to_three_channel(f.high, f.low) for f in frames)
    fill = background_for(input_format)
    return np.stack([letterbox(image, img_size, fill=fill)[0] for image in images])


def _check_options(args: argparse.Namespace) -> None:
    """ValueError for options that do not go together, before any slow work."""
    given = [f"--{name.replace('_', '-')}" for name in _TENSORRT_OPTIONS
             if (value := getattr(args, name)) is not None and value is not False]
    if args.format != "tensorrt" and given:
        raise ValueError(f"{', '.join(given)} apply to --format tensorrt, not {args.format}")
    if (args.calib is not None or args.calib_count is not None) and not args.int8:
        raise ValueError("--calib and --calib-count choose INT8 calibration frames: add --int8")
    if args.weights.suffix == ".onnx" and (args.format != "tensorrt" or args.img_size is not None):
        raise ValueError("an .onnx file only builds a TensorRT engine, at the input size it was exported with: "
                         "pass the .pt checkpoint for other formats or sizes")


def _load_detector(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    from dataclasses import replace

    from models.checkpoint import load_detector

    model, config, extra = load_detector(args.weights)
    if args.img_size is not None:
        # the network is fully convolutional: any multiple of 32 runs; anchors stay in input pixels
        config = replace(config, img_size=args.img_size)
    return model, config, extra


def _export_onnx(args: argparse.Namespace, out: Path) -> Path:
    from models.checkpoint import export_metadata
    from models.export import export_onnx

    model, config, extra = _load_detector(args)
    return export_onnx(model, out, img_size=config.img_size, metadata=export_metadata(config, extra))


def _export_classifier(args: argparse.Namespace) -> int:
    """An image-level classifier checkpoint to ONNX (``scores`` out) or a slim .pt."""
    from dataclasses import replace

    from models.chr import export_metadata, load_classifier, save_classifier
    from models.export import export_classifier_onnx, load_onnx_metadata

    if args.format == "tensorrt":
        raise ValueError(f"{args.weights} is an image-level classifier: it exports to onnx or pt, not tensorrt")
    model, config, extra = load_classifier(args.weights)
    if args.img_size is not None:  # global max pooling reads any multiple of 32
        config = replace(config, img_size=args.img_size)
    if args.format == "pt":
        keep = {k: extra[k] for k in ("input_format", "train_config", "epoch", "best_fitness") if k in extra}
        out = args.out or args.weights.with_name(args.weights.stem + "_release.pt")
        save_classifier(out, model, config, extra=keep)
        print(json.dumps({"pt": str(out), "bytes": out.stat().st_size}))
        return 0
    out = export_classifier_onnx(model, args.out or args.weights.with_suffix(".onnx"), img_size=config.img_size,
                                 metadata=export_metadata(config))
    print(json.dumps({"onnx": str(out), "metadata": load_onnx_metadata(out)}))
    return 0


def _export_tensorrt(args: argparse.Namespace) -> int:
    from models.export import load_onnx_metadata
    from models.metadata import DetectorInfo
    from models.runtime.tensorrt import build_engine, metadata_path, require_tensorrt

    if args.weights.suffix == ".onnx":
        load_onnx_metadata(args.weights)  # a file that is no exported model is the first thing to hear of
    require_tensorrt()  # before minutes of export and calibration that could not be used
    options = {k: v if (v := getattr(args, k)) is not None else default for k, default in TENSORRT_DEFAULTS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = args.weights
        if onnx_path.suffix != ".onnx":
            onnx_path = _export_onnx(args, Path(tmp) / f"{args.weights.stem}.onnx")
        info = DetectorInfo.from_metadata(load_onnx_metadata(onnx_path))
        frames = None
        if args.int8:
            frames = calibration_canvases(count=options["calib_count"], img_size=info.img_size,
                                          input_format=info.input_format, data=args.calib)
        built = build_engine(onnx_path, fp16=args.fp16, int8=args.int8, calib_frames=frames,
                             opt_batch=options["opt_batch"], max_batch=options["max_batch"],
                             cache_dir=args.cache_dir, log=_build_log())
    out = args.out or args.weights.with_suffix(".engine")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built.path, out)
    shutil.copyfile(metadata_path(built.path), metadata_path(out))
    print(json.dumps({"engine": str(out), "cached": built.cached, **json.loads(metadata_path(out).read_text())}))
    return 0


def _build_log() -> logging.Logger:
    """Engine build progress on stderr at INFO: a build takes minutes and must not look hung."""
    log = logging.getLogger("lanewatch.export")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `export` subcommand."""
    x = sub.add_parser(
        "export",
        help="export trained weights to ONNX (dynamic batch), a TensorRT engine, or a slim release .pt",
        description="Export a .pt checkpoint to ONNX with a dynamic batch axis; decoding is inside the graph, NMS is "
                    "not. Class names, input size, anchors and input format travel as ONNX metadata (beside a "
                    "TensorRT engine, as JSON) and are checked when a runtime loads the file. A TensorRT engine is "
                    "built for this machine's GPU and TensorRT version and cached, so build it where it will run.",
        epilog="examples:\n"
               "  lanewatch export --weights runs/nano/best.pt --format onnx\n"
               "  lanewatch export --weights models/weights/aspp_yolo_nano.onnx --format tensorrt --fp16\n"
               "  lanewatch export --weights best.pt --format tensorrt --int8 --calib data/val --max-batch 16",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    x.add_argument("--weights", type=Path, required=True,
                   help="a .pt checkpoint written by lanewatch train (or, for tensorrt, an exported .onnx); a "
                        "classifier's (train --task classify) exports to onnx, input images (N, 3, S, S) in [0, 1], "
                        "output scores (N, C) probabilities, batch dynamic")
    x.add_argument("--format", choices=("onnx", "pt", "tensorrt"), default="onnx",
                   help="onnx: ONNX Runtime model; tensorrt: TensorRT engine for this GPU (needs lanewatch[gpu]); "
                        "pt: release checkpoint without optimizer and resume state (default onnx)")
    x.add_argument("--img-size", type=int, default=None,
                   help="network input side for inference, a multiple of 32 (default: the training size); "
                        "a model trained with zoom crops reads full frames best above its training size")
    trt = x.add_argument_group("tensorrt", "options of --format tensorrt")
    trt.add_argument("--fp16", action="store_true", help="half precision kernels where faster (default FP32)")
    trt.add_argument("--int8", action="store_true",
                     help="INT8 kernels, FP16 elsewhere; calibrated on --calib or on simulator frames")
    trt.add_argument("--calib", type=Path, default=None, metavar="DIR",
                     help="a dataset folder (any layout lanewatch reads) to calibrate INT8 on; "
                          "default: fresh simulator frames")
    trt.add_argument("--calib-count", type=int, default=None, metavar="N",
                     help=f"calibration frames (default {TENSORRT_DEFAULTS['calib_count']}; at least --opt-batch)")
    trt.add_argument("--opt-batch", type=int, default=None, metavar="B",
                     help=f"the batch the kernels are tuned for: the detect stage's usual batch "
                          f"(default {TENSORRT_DEFAULTS['opt_batch']})")
    trt.add_argument("--max-batch", type=int, default=None, metavar="B",
                     help=f"the largest batch the engine takes; larger ones are split "
                          f"(default {TENSORRT_DEFAULTS['max_batch']})")
    trt.add_argument("--cache-dir", type=Path, default=None, metavar="D",
                     help="engine cache (default $LANEWATCH_ENGINE_CACHE or ~/.cache/lanewatch/engines)")
    x.add_argument("--out", type=Path, default=None,
                   help="output file (default: beside the weights; an engine's metadata JSON goes beside it)")
    x.set_defaults(func=run)
