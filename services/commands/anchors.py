"""`lanewatch anchors`: anchor boxes by IoU k-means on a dataset's boxes, and how well they fit."""

from __future__ import annotations

import argparse
import json

import numpy as np

from services.commands.train import add_data_arguments

__all__ = ["register", "run"]

DESCRIPTION = """\
Cluster the sizes of a dataset's threat boxes, letterboxed to --img-size as
training sees them, into -n anchor boxes by k-means with 1 - IoU as the
distance, and print them as one JSON line:

  anchors         [[w, h], ...] smallest first (3 per detection scale when n = 9)
  mean_best_iou   mean over boxes of the IoU with their best anchor (higher is better)
  recall_4x       share of boxes with an anchor within 4x in width and height:
                  the boxes the loss can assign at all
  arg             the anchors as `lanewatch train --anchors` takes them

`lanewatch train` runs the same k-means itself when --anchors is not given."""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `anchors` subcommand."""
    p = subparsers.add_parser(
        "anchors", help="compute anchor boxes by IoU k-means", description=DESCRIPTION,
        epilog="example: lanewatch anchors --data data/train --img-size 416",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data_arguments(p)
    p.add_argument("-n", type=int, default=9, help="number of anchors (default 9: 3 scales x 3)")
    p.add_argument("--seed", type=int, default=0, help="k-means seed (default 0)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Print the anchors of `args.data` as one JSON line."""
    from models.anchors import kmeans_anchors, mean_best_iou
    from training.data import box_sizes, load_samples

    if args.n < 1:
        raise ValueError(f"-n must be positive, got {args.n}")
    wh = box_sizes(load_samples(args.data, args.classes), args.classes, args.img_size)
    anchors = kmeans_anchors(wh, num_scales=1, per_scale=args.n, seed=args.seed).reshape(-1, 2)
    ratio = wh[:, None] / anchors[None]
    recall = float((np.maximum(ratio, 1 / ratio).max(2) < 4.0).any(1).mean())
    print(json.dumps({
        "boxes": len(wh),
        "img_size": args.img_size,
        "anchors": np.round(anchors, 2).tolist(),
        "mean_best_iou": round(mean_best_iou(wh, anchors), 4),
        "recall_4x": round(recall, 4),
        "arg": " ".join(f"{w:.1f},{h:.1f}" for w, h in anchors),
    }))
    return 0
