"""Train an ASPP-YOLO detector: `train(TrainConfig) -> weights path`.

Writes to ``config.out``:

- ``last.pt`` after every epoch (EMA weights for inference, plus the raw
  weights, optimizer, schedule, EMA and RNG state for ``resume``),
- ``best.pt`` whenever validation mAP@0.5 improves (only with ``val``),
- ``train_log.jsonl``: one JSON line per epoch (losses, lr, speed, val metrics),
- ``config.json``: the training config, anchors included.

The recipe follows YOLOv5: SGD (momentum 0.937, Nesterov) or AdamW, weight
decay off for biases and norm weights, linear warm-up into cosine annealing
(optionally with warm restarts), an exponential moving average of the weights
(evaluated and saved), and the `DetectionLoss` of `training.loss`.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from copy import deepcopy
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, field_validator
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from models.anchors import kmeans_anchors
from models.checkpoint import load_detector, save_checkpoint
from models.decode import Decoder
from models.detector import ASPPYOLO, STRIDES, build_detector, detector_from_config
from models.label_aware import LabelAwareHead
from models.nms import postprocess
from training.augment import AugmentConfig
from training.data import DetectionDataset, box_sizes, collate, load_samples
from training.datasets.classes import SIXRAY_D
from training.datasets.records import Sample
from training.evaluation.report import evaluate
from training.loss import DetectionLoss
from training.schedule import WarmupCosine

__all__ = ["ModelEMA", "TrainConfig", "TrainingInterrupted", "make_optimizer", "predict", "train"]

# YOLOv5's nominal batch: weight decay is given per 64 images, as the lr is.
_NOMINAL_BATCH = 64


class TrainingInterrupted(Exception):
    """Ctrl-C stopped `train`. ``checkpoint``: the last complete checkpoint to resume from, holding ``epoch``
    finished epochs (None where not known; a ``checkpoint`` of None: no epoch finished, nothing to resume).

    The epoch in progress is lost: resuming starts whole epochs (each in its own seeded data order), so a
    checkpoint taken inside one could not be resumed exactly; ``last.pt`` is written whole or not at all.
    """

    def __init__(self, checkpoint: Path | None, epoch: int | None) -> None:
        self.checkpoint, self.epoch = checkpoint, epoch
        super().__init__(f"interrupted; the last complete checkpoint is {checkpoint}" if checkpoint
                         else "interrupted before the first epoch finished; nothing saved")


class TrainConfig(BaseModel):
    """Everything one training run depends on; stored in its checkpoints and ``config.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: Path
    out: Path
    val: Path | None = None
    size: Literal["nano", "small"] = "nano"
    backbone: Literal["cspdarknet", "efficientnet-lite0"] = "cspdarknet"
    init: Path | None = None  # start from these weights (fine-tuning): their architecture, anchors and classes
    freeze: Literal["stem", "dark2", "dark3", "dark4", "dark5"] | None = None  # keep the backbone up to this stage fixed
    freeze_bn: bool = False  # the frozen stages' BatchNorm statistics stay as they started too
    # DOAM (`models.doam`) in front of the backbone; with `init`, added to weights that lack it
    doam: bool = False
    # the label-aware mechanism (`models.label_aware`) in the head: LAcls ("cls") or LAreg ("reg"); with
    # `init`, added to weights that lack it (it starts as the head without it)
    label_aware: Literal["none", "cls", "reg"] = "none"
    epochs: PositiveInt = 100
    img_size: PositiveInt = 416
    batch: PositiveInt = 16
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float | None = Field(default=None, gt=0)  # None: 0.01 for SGD, 0.001 for AdamW
    weight_decay: float | None = Field(default=None, ge=0)  # None: 5e-4 for SGD, 0.05 for AdamW
    momentum: float = 0.937
    warmup_epochs: float = Field(default=3.0, ge=0)
    final_lr_ratio: float = Field(default=0.01, gt=0, le=1)
    restart_period: PositiveInt | None = None  # SGDR first cycle, in epochs after warm-up
    restart_mult: PositiveInt = 1
    mode: Literal["rgb", "dual"] = "rgb"
    classes: tuple[str, ...] = SIXRAY_D
    anchors: tuple[tuple[float, float], ...] | None = None  # 9 (w, h) at img_size; None: k-means on the training boxes
    box_loss: Literal["ciou", "giou"] = "ciou"
    loss_gains: tuple[float, float, float] = (0.05, 1.0, 0.5)  # box, obj, cls before DetectionLoss's scaling
    augment: AugmentConfig = AugmentConfig()
    cache: bool | None = None  # None: cache letterboxed images when they fit in 4 GB
    workers: NonNegativeInt = 0
    threads: PositiveInt | None = None  # torch CPU threads; None: one per core
    seed: int = 0
    ema_decay: float = Field(default=0.9999, gt=0, lt=1)
    conf_threshold: float = 0.001  # validation keeps low scores: mAP integrates the whole PR curve
    resume: Path | None = None
    max_batches: PositiveInt | None = None  # per epoch; for smoke tests and benchmarks
    # DOAM-O's over-sampling: frames holding a hard sample (an OL3 threat, or one of `hard_classes`)
    # are drawn this many times as often as the others (1: every frame once per epoch)
    oversample_hard: float = Field(default=1.0, ge=1.0)
    hard_classes: tuple[str, ...] = ()
    progress: bool = True

    @field_validator("img_size")
    @classmethod
    def _multiple_of_stride(cls, v: int) -> int:
        if v % max(STRIDES):
            raise ValueError(f"img_size must be a multiple of {max(STRIDES)}, got {v}")
        return v

    @field_validator("freeze_bn")
    @classmethod
    def _bn_needs_freeze(cls, v: bool, info) -> bool:
        if v and info.data.get("freeze") is None:
            raise ValueError("freeze_bn fixes the frozen stages' BatchNorm: give freeze (--freeze STAGE) too")
        return v

    @field_validator("anchors")
    @classmethod
    def _nine_anchors(cls, v: tuple[tuple[float, float], ...] | None) -> tuple[tuple[float, float], ...] | None:
        if v is not None and len(v) != 9:
            raise ValueError(f"anchors must be 9 (w, h) pairs, got {len(v)}")
        return v

    @property
    def base_lr(self) -> float:
        """The peak learning rate (after warm-up)."""
        return self.lr if self.lr is not None else (0.01 if self.optimizer == "sgd" else 0.001)


class ModelEMA:
    """Exponential moving average of a model's weights (YOLOv5): decay ramps up as 1 - exp(-updates / tau).

    The average of the late, noisy SGD iterates generalises better than the last one; the
    ramp keeps the random initial weights from lingering in it on short runs.
    """

    def __init__(self, model: nn.Module, *, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0) -> None:
        self.ema = deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the model's current weights (and BN statistics) in."""
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        source = model.state_dict()
        for name, value in self.ema.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(d).add_(source[name].detach(), alpha=1 - d)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Nesterov) or AdamW; weight decay only on conv/linear weights, not on biases or norm weights."""
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:  # frozen stages
                continue
            is_norm = isinstance(module, nn.modules.batchnorm._NormBase | nn.GroupNorm | nn.LayerNorm)
            (no_decay if name == "bias" or is_norm else decay).append(p)
    if cfg.optimizer == "sgd":
        wd = (cfg.weight_decay if cfg.weight_decay is not None else 5e-4) * cfg.batch / _NOMINAL_BATCH
        opt: torch.optim.Optimizer = torch.optim.SGD(no_decay, lr=cfg.base_lr, momentum=cfg.momentum, nesterov=True)
    else:
        wd = cfg.weight_decay if cfg.weight_decay is not None else 0.05
        opt = torch.optim.AdamW(no_decay, lr=cfg.base_lr, betas=(cfg.momentum, 0.999), weight_decay=0.0)
    opt.add_param_group({"params": decay, "weight_decay": wd})
    return opt


def _init_model(cfg: TrainConfig) -> ASPPYOLO:
    """The detector of ``cfg.init``, its weights loaded, to fine-tune at ``cfg.img_size``.

    With ``cfg.doam`` a detector without DOAM gets a fresh one, which starts as the identity
    (`models.doam.DOAM`): the fine-tuning starts from the detector ``cfg.init`` holds.
    """
    model, config, _ = load_detector(cfg.init)
    if tuple(config.class_names) != tuple(cfg.classes):
        raise ValueError(f"--init {cfg.init}: it detects {list(config.class_names)}, this run trains {list(cfg.classes)}")
    # anchors are object sizes in input pixels, whatever the canvas: they carry over as they are
    torch.manual_seed(cfg.seed)
    tuned = detector_from_config(
        config.__class__(**{**config.to_dict(), "img_size": cfg.img_size, "doam": config.doam or cfg.doam,
                            "label_aware": _label_aware(cfg, config)})
    )
    # load_detector matched the weights to their config: only the DOAM or the LA parts added here can be missing
    missing, unexpected = tuned.load_state_dict(model.state_dict(), strict=False)
    added = ("doam.", "head.gamma", "head.dist.")
    if unexpected or any(not key.startswith(added) for key in missing):
        raise RuntimeError(f"--init {cfg.init}: unexpected weights {unexpected}, missing {missing}")
    return tuned


def _label_aware(cfg: TrainConfig, config) -> str:
    """The head option of a fine-tuned detector: the run's where it asks for one, else the weights' own."""
    if cfg.label_aware == "none":
        return config.label_aware
    if config.label_aware not in ("none", cfg.label_aware):
        raise ValueError(f"--init {cfg.init} has label-aware {config.label_aware!r}; this run asks for {cfg.label_aware!r}")
    return cfg.label_aware


def _build_model(cfg: TrainConfig, samples: list[Sample]) -> ASPPYOLO:
    if cfg.init is not None:
        return _init_model(cfg)
    if cfg.anchors is not None:
        anchors = np.array(cfg.anchors, np.float64)
        anchors = anchors[np.argsort(anchors.prod(1), kind="stable")].reshape(3, 3, 2)
    else:
        try:
            # with zoom crops the network sees boxes zoom times larger: cluster at the mean (geometric) zoom
            lo, hi = cfg.augment.zoom
            at = round(cfg.img_size * float(np.sqrt(lo * hi)))
            anchors = kmeans_anchors(box_sizes(samples, cfg.classes, at), seed=cfg.seed)
        except ValueError as err:
            raise ValueError(f"{cfg.data}: anchors from boxes of {list(cfg.classes)}: {err}; or pass anchors") from err
    torch.manual_seed(cfg.seed)
    return build_detector(
        size=cfg.size, num_classes=len(cfg.classes), anchors=anchors.tolist(), class_names=cfg.classes,
        img_size=cfg.img_size, backbone=cfg.backbone, pretrained_backbone=True, doam=cfg.doam,
        label_aware=cfg.label_aware,
    )


class _Run:
    """The mutable state of one training run, saved to and restored from ``last.pt``."""

    def __init__(self, cfg: TrainConfig, model: ASPPYOLO, steps_per_epoch: int) -> None:
        self.cfg, self.model = cfg, model
        self.optimizer = make_optimizer(model, cfg)
        self.schedule = WarmupCosine(
            self.optimizer,
            momentum=cfg.momentum if cfg.optimizer == "sgd" else None,
            base_lr=cfg.base_lr,
            total_steps=cfg.epochs * steps_per_epoch,
            warmup_steps=round(cfg.warmup_epochs * steps_per_epoch),
            final_ratio=cfg.final_lr_ratio,
            restart_period=cfg.restart_period * steps_per_epoch if cfg.restart_period else None,
            restart_mult=float(cfg.restart_mult),
        )
        self.ema = ModelEMA(model, decay=cfg.ema_decay)
        box_gain, obj_gain, cls_gain = cfg.loss_gains
        self.loss = DetectionLoss(
            anchors=model.anchors, strides=model.strides, num_classes=model.num_classes, img_size=cfg.img_size,
            box_loss=cfg.box_loss, box_gain=box_gain, obj_gain=obj_gain, cls_gain=cls_gain,
        )
        self.epoch, self.best = 0, -1.0

    def save(self, path: Path) -> None:
        extra = {
            "input_format": self.cfg.mode,
            "epoch": self.epoch,
            "best_fitness": self.best,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "ema_updates": self.ema.updates,
            "torch_rng": torch.get_rng_state(),
            "train_config": self.cfg.model_dump(mode="json"),
        }
        save_checkpoint(path, self.ema.ema, self.ema.ema.config, extra=extra)

    def restore(self, ema: ASPPYOLO, extra: dict[str, Any]) -> None:
        """Continue from a ``last.pt`` read by `load_detector` (EMA model and extras)."""
        self.model.load_state_dict(extra["model"])
        self.ema.ema.load_state_dict(ema.state_dict())
        self.ema.updates = int(extra["ema_updates"])
        self.optimizer.load_state_dict(extra["optimizer"])
        self.schedule.load_state_dict(extra["schedule"])
        torch.set_rng_state(extra["torch_rng"])
        self.epoch, self.best = int(extra["epoch"]), float(extra["best_fitness"])


def _check_resumable(cfg: TrainConfig, extra: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint with a config it no longer fits."""
    old = extra.get("train_config")
    if old is None:
        raise ValueError(f"--resume {cfg.resume}: not a training checkpoint (no optimizer state); use it as pretrained weights")
    # what runs saved before these keys existed trained with
    before = {"backbone": "cspdarknet", "doam": False, "label_aware": "none"}
    for key in ("size", "img_size", "mode", "classes", "backbone", "freeze", "doam", "label_aware"):
        now, was = getattr(cfg, key), old.get(key, before.get(key))
        if (list(now) if isinstance(now, tuple) else now) != was:
            raise ValueError(f"--resume {cfg.resume}: it was trained with {key}={was!r}, not {now!r}")


def hard_frames(samples: list[Sample], hard_classes: tuple[str, ...] = ()) -> np.ndarray:
    """bool (N,): which frames hold a hard sample, a threat at occlusion level OL3 or of one of `hard_classes`."""
    hard = set(hard_classes)
    return np.array([any(b.occlusion == "OL3" or b.label in hard for b in s.boxes) for s in samples], bool)


def epoch_order(ds: DetectionDataset, cfg: TrainConfig, epoch: int) -> list[int]:
    """The frames of one training epoch, fixed by seed and epoch.

    Every frame once in a shuffled order; with ``oversample_hard`` > 1, as many
    draws with replacement, a frame holding a hard sample that many times as
    likely as one without (DOAM-O's over-sampling: hard samples re-fed).
    """
    g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    if cfg.oversample_hard == 1.0:
        return torch.randperm(len(ds), generator=g).tolist()
    weights = np.where(hard_frames(ds.samples, cfg.hard_classes), cfg.oversample_hard, 1.0)
    return torch.multinomial(torch.as_tensor(weights), len(ds), replacement=True, generator=g).tolist()


def _loader(ds: DetectionDataset, cfg: TrainConfig, *, epoch: int | None) -> DataLoader:
    """Shuffled (see `epoch_order`) when `epoch` is given, in order otherwise."""
    order = None if epoch is None else epoch_order(ds, cfg, epoch)
    return DataLoader(
        ds,
        batch_size=cfg.batch,
        sampler=order,
        num_workers=cfg.workers,
        collate_fn=collate,
        # a batch of one cannot train BatchNorm after ASPP's image pooling (one value per channel)
        drop_last=epoch is not None and len(ds) % cfg.batch == 1,
    )


@torch.no_grad()
def predict(model: nn.Module, ds: DetectionDataset, cfg: TrainConfig) -> dict[str, np.ndarray]:
    """Detections per image id, (K, 6) rows (x1, y1, x2, y2, score, class_id) in frame pixels."""
    model.eval()
    decoder = Decoder(model.anchors, model.strides)
    out: dict[str, np.ndarray] = {}
    i = 0
    for images, _ in _loader(ds, cfg, epoch=None):
        for det in postprocess(decoder(model(images)).numpy(), conf_threshold=cfg.conf_threshold, iou_threshold=0.6):
            det = det.astype(np.float64)
            det[:, :4] = ds.letterbox_of(i).to_frame(det[:, :4])
            s = ds.samples[i]
            det[:, [0, 2]] = det[:, [0, 2]].clip(0, s.width)
            det[:, [1, 3]] = det[:, [1, 3]].clip(0, s.height)
            out[s.image_id] = det
            i += 1
    return out


def _validate(model: nn.Module, ds: DetectionDataset, cfg: TrainConfig) -> dict[str, Any]:
    samples = [s.model_copy(update={"boxes": [b for b in s.boxes if b.label in cfg.classes]}) for s in ds.samples]
    metrics = evaluate(samples, predict(model, ds, cfg), cfg.classes)
    return {k: metrics[k] for k in ("map50", "map50_95", "precision", "recall", "per_class")}


def fix_frozen_batchnorm(model: nn.Module) -> list[nn.Module]:
    """Put the BatchNorm layers whose parameters are all frozen in eval mode (their running statistics stay
    as pretrained, as in Hinterstoisser et al. 2018's frozen feature extractor); returns them."""
    fixed = []
    for m in model.modules():
        params = list(m.parameters(recurse=False))
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and params and not any(p.requires_grad for p in params):
            m.eval()
            fixed.append(m)
    return fixed


def _train_epoch(run: _Run, ds: DetectionDataset, total_steps: int) -> dict[str, float]:
    cfg, model = run.cfg, run.model
    model.train()
    if cfg.freeze_bn:
        fix_frozen_batchnorm(model)
    ds.set_epoch(run.epoch)
    loader = _loader(ds, cfg, epoch=run.epoch)
    steps = min(len(loader), cfg.max_batches or len(loader))
    sums = {"loss": 0.0, "box": 0.0, "obj": 0.0, "cls": 0.0}
    images, lr, start = 0, 0.0, time.perf_counter()
    bar = tqdm(total=steps, desc=f"epoch {run.epoch + 1}/{cfg.epochs}", unit="batch", file=sys.stderr, disable=not cfg.progress)
    for step, (x, targets) in enumerate(loader):
        if step == steps:
            break
        lr = run.schedule.step()
        loss, parts = _loss(run, model, x, targets)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        run.optimizer.step()
        run.ema.update(model)
        for k, v in (("loss", sum(parts.values())), *parts.items()):
            sums[k] = sums.get(k, 0.0) + v
        images += len(x)
        elapsed = time.perf_counter() - start
        left = total_steps - (run.epoch * steps + step + 1)
        postfix = {k: f"{v / (step + 1):.4f}" for k, v in sums.items()}
        postfix |= {"lr": f"{lr:.2e}", "img/s": f"{images / elapsed:.1f}", "run ETA": _hms(elapsed / (step + 1) * left)}
        bar.set_postfix(postfix)
        bar.update()
    bar.close()
    seconds = time.perf_counter() - start
    speed = {"lr": lr, "images": images, "seconds": seconds, "images_per_s": images / seconds}
    return {k: v / max(steps, 1) for k, v in sums.items()} | speed


def _loss(run: _Run, model: ASPPYOLO, x: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """The batch's loss. A label-aware head reads the labels the loss assigns (pseudo-labels elsewhere), and
    its first prediction is trained as well as its refined one, so that its pseudo-labels at inference mean
    something (`models.label_aware`); its parts are the refined prediction's, plus ``la``."""
    head = model.head
    if not isinstance(head, LabelAwareHead):
        return run.loss(model(x), targets)
    features = model.head_inputs(x)
    labels = run.loss.assigned(features, targets, bins=head.bins if head.mode == "reg" else 0)
    refined, first, dists = head.forward_train(features, labels)
    loss, parts = run.loss(refined, targets)
    first_loss, _ = run.loss(first, targets)
    extra = first_loss + (run.loss.bin_loss(dists, labels) if dists is not None else 0.0)
    return loss + extra, parts | {"la": extra.item() / x.shape[0]}


def _dataset(cfg: TrainConfig, samples: list[Sample], *, train: bool) -> DetectionDataset:
    """The (augmented when `train`) dataset of `samples`, its image cache filled."""
    augment = cfg.augment if train else None
    ds = DetectionDataset(
        samples, classes=cfg.classes, img_size=cfg.img_size, mode=cfg.mode, augment=augment, cache=cfg.cache, seed=cfg.seed
    )
    if ds.cache_enabled:
        desc = f"cache {'train' if train else 'val'}"
        with tqdm(total=len(ds), desc=desc, unit="img", file=sys.stderr, disable=not cfg.progress) as bar:
            ds.preload(progress=bar.update)
    return ds


def _hms(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}"


def train(config: TrainConfig) -> Path:
    """Run the training `config` describes; return the weights to use (``best.pt`` with a val set, else ``last.pt``)."""
    threads = torch.get_num_threads()
    # On a machine shared with other jobs fewer threads can be faster: each parallel op waits for its slowest thread.
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    try:
        return _train(config)
    except KeyboardInterrupt:  # before the epochs started: the checkpoint resumed from, if any, is still the one
        raise TrainingInterrupted(config.resume, None) from None
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig) -> Path:
    cfg.out.mkdir(parents=True, exist_ok=True)
    samples = load_samples(cfg.data, cfg.classes)
    if len(samples) < 2:
        raise ValueError(f"{cfg.data}: {len(samples)} frame(s); training needs at least 2")
    unknown = sorted(set(cfg.hard_classes) - set(cfg.classes))
    if unknown:
        raise ValueError(f"hard classes {unknown} are not among the trained classes {list(cfg.classes)}")
    if cfg.oversample_hard > 1.0 and not hard_frames(samples, cfg.hard_classes).any():
        raise ValueError(f"{cfg.data}: no frame holds an OL3 threat or one of the hard classes "
                         f"{list(cfg.hard_classes)}: nothing to over-sample (occlusion levels come from "
                         "`lanewatch synth`; name classes with --hard-classes)")
    if cfg.resume:
        ema, detector_config, extra = load_detector(cfg.resume)
        _check_resumable(cfg, extra)
        model = detector_from_config(detector_config)
    else:
        model = _build_model(cfg, samples)
    if cfg.freeze:
        # pretrained early stages see edges and blobs in X-ray scans as in photos; not training them
        # saves their backward pass (measured on Lite0 at 320: 4.8 -> 7.0 training images/s per thread)
        model.backbone.freeze(cfg.freeze)
    model.to(memory_format=torch.channels_last)  # as collate lays out the images
    train_ds = _dataset(cfg, samples, train=True)
    val_ds = _dataset(cfg, load_samples(cfg.val, cfg.classes), train=False) if cfg.val is not None else None
    steps_per_epoch = min(len(_loader(train_ds, cfg, epoch=0)), cfg.max_batches or 1 << 62)
    run = _Run(cfg, model, steps_per_epoch)
    if cfg.resume:
        run.restore(ema, extra)
    else:
        (cfg.out / "train_log.jsonl").unlink(missing_ok=True)  # a new run in an old folder starts a new log
    anchors = model.anchors.reshape(-1, 2).tolist()
    (cfg.out / "config.json").write_text(json.dumps(cfg.model_dump(mode="json") | {"anchors": anchors}, indent=2) + "\n")
    saved = (cfg.resume, run.epoch)  # the checkpoint Ctrl-C would resume from, and its finished epochs
    try:
        while run.epoch < cfg.epochs:
            record = {"epoch": run.epoch + 1, "epochs": cfg.epochs} | _train_epoch(run, train_ds, cfg.epochs * steps_per_epoch)
            run.epoch += 1
            improved = False
            if val_ds is not None:
                record |= _validate(run.ema.ema, val_ds, cfg)
                improved = record["map50"] is not None and record["map50"] > run.best
                run.best = max(run.best, record["map50"] or 0.0)
            run.save(cfg.out / "last.pt")
            saved = (cfg.out / "last.pt", run.epoch)
            if improved:
                run.save(cfg.out / "best.pt")
            with (cfg.out / "train_log.jsonl").open("a") as log:
                log.write(json.dumps(record | {"best": improved}) + "\n")
    except KeyboardInterrupt:
        raise TrainingInterrupted(*saved) from None
    return cfg.out / ("best.pt" if val_ds is not None and (cfg.out / "best.pt").exists() else "last.pt")
