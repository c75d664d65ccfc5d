"""Train the image-level threat classifier (`models.chr`): `train_classifier(ClassifierTrainConfig) -> weights path`.

Labels are per frame: class c is present when the frame holds at least one
box of c; frames without threats are all-negative. Frames are letterboxed and
augmented exactly as the detector's training data (`training.data`,
`DetectionDataset`), so the label follows the boxes an augmentation keeps.
AdamW with linear warm-up and cosine annealing (`training.schedule`).

Writes to ``config.out``: ``last.pt`` every epoch (with what ``resume``
needs), ``best.pt`` when validation mAP improves (only with ``val``),
``train_log.jsonl`` (one JSON line per epoch) and ``config.json``. Ctrl-C
raises `training.trainer.TrainingInterrupted` naming the last complete
checkpoint, as detector training does.

The metrics (`average_precision`, `roc`, `classifier_report`) live here too:
validation uses them, and so does `lanewatch eval classifier`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, field_validator
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from models.chr import (
    CHRClassifier,
    ClassifierConfig,
    ScoresOnly,
    build_classifier,
    chr_loss,
    classifier_from_detector,
    load_classifier,
    save_classifier,
)
from training.augment import AugmentConfig
from training.data import DetectionDataset, collate, load_samples
from training.datasets.classes import SIXRAY_D
from training.datasets.records import Sample
from training.schedule import WarmupCosine
from training.trainer import TrainingInterrupted, make_optimizer

__all__ = [
    "ClassifierTrainConfig", "average_precision", "classifier_report", "frame_labels", "predict_scores", "roc",
    "train_classifier",
]

FALSE_ALARM_RATES = (0.01, 0.05, 0.10)
NEGATIVE_RATIOS = (10, 100, 1000)  # SIXray10, SIXray100, SIXray1000: negatives per positive


class ClassifierTrainConfig(BaseModel):
    """Everything one classifier training run depends on; stored in its checkpoints and ``config.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: Path
    out: Path
    val: Path | None = None
    init: Path | None = None  # a detector checkpoint whose backbone the classifier starts from
    chr: bool = True  # reversed connections and a classifier per level; False: one classifier on the top stage
    balanced: bool | None = None  # class-balanced loss with easy negatives filtered; None: on with chr
    classes: tuple[str, ...] = SIXRAY_D
    epochs: PositiveInt = 10
    img_size: PositiveInt = 320
    batch: PositiveInt = 16
    optimizer: Literal["adamw"] = "adamw"  # `training.trainer.make_optimizer` reads these four
    lr: float | None = Field(default=None, gt=0)  # None: 0.001
    weight_decay: float | None = Field(default=None, ge=0)  # None: 0.05
    momentum: float = 0.9  # AdamW's beta1
    warmup_epochs: float = Field(default=1.0, ge=0)
    final_lr_ratio: float = Field(default=0.01, gt=0, le=1)
    freeze: Literal["stem", "dark2", "dark3", "dark4", "dark5"] | None = None
    augment: AugmentConfig = AugmentConfig()
    cache: bool | None = None
    workers: NonNegativeInt = 0
    threads: PositiveInt | None = None
    seed: int = 0
    resume: Path | None = None
    max_batches: PositiveInt | None = None
    progress: bool = True

    @field_validator("img_size")
    @classmethod
    def _multiple_of_32(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"img_size must be a multiple of 32, got {v}")
        return v

    @property
    def base_lr(self) -> float:
        return self.lr if self.lr is not None else 0.001

    @property
    def use_balanced(self) -> bool:
        return self.chr if self.balanced is None else self.balanced


# ---- labels and metrics -------------------------------------------------------------------------------------------


def frame_labels(samples: Sequence[Sample], classes: Sequence[str]) -> np.ndarray:
    """(N, C) 0/1: class c present in frame i (at least one box of it)."""
    index = {name: i for i, name in enumerate(classes)}
    y = np.zeros((len(samples), len(classes)), np.float32)
    for i, s in enumerate(samples):
        for b in s.boxes:
            if b.label in index:
                y[i, index[b.label]] = 1.0
    return y


def _batch_labels(targets: torch.Tensor, n: int, num_classes: int) -> torch.Tensor:
    """(T, 6) collate targets (img_idx, cls, ...) -> (n, C) 0/1 labels of the augmented frames."""
    y = torch.zeros(n, num_classes)
    y[targets[:, 0].long(), targets[:, 1].long()] = 1.0
    return y


def _ranked(y: np.ndarray, s: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted true and false positives at each distinct threshold, highest first, and the thresholds."""
    w = np.ones_like(s, np.float64) if w is None else np.asarray(w, np.float64)
    order = np.argsort(-s, kind="stable")
    s, y, w = s[order], y[order].astype(bool), w[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last index of each run of equal scores
    return np.cumsum(w * y)[last], np.cumsum(w * ~y)[last], s[last]


def average_precision(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> float | None:
    """AP as scikit-learn's ``average_precision_score``: sum over thresholds of (R_k - R_k-1) P_k; None without positives.

    ``w``: per-sample weights (a negative of weight 10 counts as ten).
    """
    tp, fp, _ = _ranked(np.asarray(y), np.asarray(s, np.float64), w)
    if len(tp) == 0 or tp[-1] <= 0:
        return None
    precision, recall = tp / (tp + fp), tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-alarm rates, detection rates and thresholds (a scan alarms at score >= threshold), from (0, 0)."""
    tp, fp, thresholds = _ranked(np.asarray(y), np.asarray(s, np.float64), None)
    return np.r_[0.0, fp / max(fp[-1], 1)], np.r_[0.0, tp / max(tp[-1], 1)], np.r_[np.inf, thresholds]


def classifier_report(scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
                      ratios: Sequence[float] = NEGATIVE_RATIOS,
                      false_alarm_rates: Sequence[float] = FALSE_ALARM_RATES) -> dict[str, Any]:
    """Per-class AP and mean AP; scan level (threat = any class, score = max class probability): ROC AUC,
    detection rate at each false-alarm rate, and AP at negatives:positives ``ratios``.

    A ratio beyond the negatives the set holds is emulated by weighting: each negative counts
    ratio * positives / negatives times (below 1 where the set holds more), so a SIXray1000-like AP comes
    from a test set with far fewer clean scans; it assumes they are representative of clean traffic.
    """
    per_class = {name: average_precision(labels[:, c], scores[:, c]) for c, name in enumerate(class_names)}
    aps = [v for v in per_class.values() if v is not None]
    threat, score = labels.any(axis=1), scores.max(axis=1)
    n_pos, n_neg = int(threat.sum()), int((~threat).sum())
    report: dict[str, Any] = {"per_class": per_class, "map": float(np.mean(aps)) if aps else None,
                              "threat_scans": n_pos, "clean_scans": n_neg, "roc_auc": None, "at_false_alarm_rate": {},
                              "scan_ap_at_negative_ratio": {}}
    if n_pos and n_neg:
        fpr, tpr, thr = roc(threat, score)
        report["roc_auc"] = float(np.trapezoid(tpr, fpr))
        for far in false_alarm_rates:
            k = int(np.flatnonzero(fpr <= far)[-1])
            report["at_false_alarm_rate"][f"{far:g}"] = {
                "detection_rate": float(tpr[k]), "false_alarm_rate": float(fpr[k]),
                "threshold": None if np.isinf(thr[k]) else float(thr[k])}
        for r in ratios:
            weight = r * n_pos / n_neg
            ap = average_precision(threat, score, np.where(threat, 1.0, weight))
            report["scan_ap_at_negative_ratio"][f"{r:g}"] = {"ap": ap, "negative_weight": weight,
                                                             "emulated": weight > 1.0}
        report["negative_ratio_note"] = (
            f"the set holds {n_neg} clean and {n_pos} threat scans ({n_neg / n_pos:.3g}:1); each ratio's AP counts "
            "every clean scan negative_weight times (ratio * threat / clean scans); emulated: weight above 1, the "
            "set holds fewer clean scans than the ratio asks for")
    return report


# ---- training -----------------------------------------------------------------------------------------------------


def _dataset(cfg: ClassifierTrainConfig, samples: list[Sample], *, train: bool) -> DetectionDataset:
    ds = DetectionDataset(samples, classes=cfg.classes, img_size=cfg.img_size, mode="rgb",
                          augment=cfg.augment if train else None, cache=cfg.cache, seed=cfg.seed)
    if ds.cache_enabled:
        with tqdm(total=len(ds), desc=f"cache {'train' if train else 'val'}", unit="img", file=sys.stderr,
                  disable=not cfg.progress) as bar:
            ds.preload(threads=cfg.threads, progress=bar.update)
    return ds


def _loader(ds: DetectionDataset, cfg: ClassifierTrainConfig, *, epoch: int | None) -> DataLoader:
    """Shuffled by seed and epoch when ``epoch`` is given, in order otherwise."""
    order = None
    if epoch is not None:
        order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)).tolist()
    # a batch of one cannot train BatchNorm
    return DataLoader(ds, batch_size=cfg.batch, sampler=order, num_workers=cfg.workers, collate_fn=collate,
                      drop_last=epoch is not None and len(ds) % cfg.batch == 1)


@torch.no_grad()
def predict_scores(model: CHRClassifier, ds: DetectionDataset, *, batch: int = 16) -> np.ndarray:
    """(N, C) probabilities for the frames of ``ds``, in order."""
    was_training = model.training
    net = ScoresOnly(model).eval()
    loader = DataLoader(ds, batch_size=batch, collate_fn=collate)
    try:
        return np.concatenate([net(x).numpy() for x, _ in loader]) if len(ds) else np.zeros((0, model.num_classes))
    finally:
        model.train(was_training)


def _build(cfg: ClassifierTrainConfig) -> CHRClassifier:
    torch.manual_seed(cfg.seed)
    if cfg.init is not None:
        from models.checkpoint import load_detector

        detector, detector_config, extra = load_detector(cfg.init)
        return classifier_from_detector(detector, detector_config, class_names=cfg.classes, img_size=cfg.img_size,
                                        chr=cfg.chr, input_format=extra.get("input_format", "rgb"))
    config = ClassifierConfig(class_names=cfg.classes, img_size=cfg.img_size, chr=cfg.chr)
    return build_classifier(config, pretrained_backbone=True)


class _Run:
    """The mutable state of one run: model, optimizer, schedule, epoch, best val mAP."""

    def __init__(self, cfg: ClassifierTrainConfig, model: CHRClassifier, steps_per_epoch: int) -> None:
        self.cfg, self.model = cfg, model
        self.optimizer = make_optimizer(model, cfg)  # AdamW, no decay on biases and norms
        self.schedule = WarmupCosine(self.optimizer, base_lr=cfg.base_lr, total_steps=cfg.epochs * steps_per_epoch,
                                     warmup_steps=round(cfg.warmup_epochs * steps_per_epoch),
                                     final_ratio=cfg.final_lr_ratio)
        self.epoch, self.best = 0, -1.0

    def save(self, path: Path) -> None:
        extra = {"input_format": "rgb", "epoch": self.epoch, "best_fitness": self.best,
                 "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                 "torch_rng": torch.get_rng_state(), "train_config": self.cfg.model_dump(mode="json")}
        save_classifier(path, self.model, self.model.config, extra=extra)

    def restore(self, extra: dict[str, Any]) -> None:
        old = extra.get("train_config") or {}
        for key in ("chr", "img_size", "classes"):
            now = getattr(self.cfg, key)
            if (list(now) if isinstance(now, tuple) else now) != old.get(key):
                raise ValueError(f"--resume {self.cfg.resume}: it was trained with {key}={old.get(key)!r}, not {now!r}")
        self.optimizer.load_state_dict(extra["optimizer"])
        self.schedule.load_state_dict(extra["schedule"])
        torch.set_rng_state(extra["torch_rng"])
        self.epoch, self.best = int(extra["epoch"]), float(extra["best_fitness"])


def _train_epoch(run: _Run, ds: DetectionDataset) -> dict[str, float]:
    cfg, model = run.cfg, run.model
    model.train()
    ds.set_epoch(run.epoch)
    loader = _loader(ds, cfg, epoch=run.epoch)
    steps = min(len(loader), cfg.max_batches or len(loader))
    sums: dict[str, float] = {}
    images, lr, start = 0, 0.0, time.perf_counter()
    bar = tqdm(total=steps, desc=f"epoch {run.epoch + 1}/{cfg.epochs}", unit="batch", file=sys.stderr,
               disable=not cfg.progress)
    for step, (x, targets) in enumerate(loader):
        if step == steps:
            break
        lr = run.schedule.step()
        loss, parts = chr_loss(model(x), _batch_labels(targets, len(x), model.num_classes), balanced=cfg.use_balanced)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        run.optimizer.step()
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v
        images += len(x)
        bar.set_postfix({k: f"{v / (step + 1):.4f}" for k, v in sums.items()}
                        | {"lr": f"{lr:.2e}", "img/s": f"{images / (time.perf_counter() - start):.1f}"})
        bar.update()
    bar.close()
    seconds = time.perf_counter() - start
    return {k: v / max(steps, 1) for k, v in sums.items()} | {
        "lr": lr, "images": images, "seconds": seconds, "images_per_s": images / max(seconds, 1e-9)}


def train_classifier(config: ClassifierTrainConfig) -> Path:
    """Run the training ``config`` describes; return the weights to use (``best.pt`` with a val set, else ``last.pt``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    try:
        return _train(config)
    except KeyboardInterrupt:
        raise TrainingInterrupted(config.resume, None) from None
    finally:
        torch.set_num_threads(threads)


def _train(cfg: ClassifierTrainConfig) -> Path:
    cfg.out.mkdir(parents=True, exist_ok=True)
    samples = load_samples(cfg.data, cfg.classes)
    if len(samples) < 2:
        raise ValueError(f"{cfg.data}: {len(samples)} frame(s); training needs at least 2")
    extra: dict[str, Any] = {}
    if cfg.resume is not None:
        model, _, extra = load_classifier(cfg.resume)
        model.train()
    else:
        model = _build(cfg)
    if cfg.freeze:
        model.backbone.freeze(cfg.freeze)
    train_ds = _dataset(cfg, samples, train=True)
    val_ds = _dataset(cfg, load_samples(cfg.val, cfg.classes), train=False) if cfg.val is not None else None
    val_labels = frame_labels(val_ds.samples, cfg.classes) if val_ds is not None else None
    steps_per_epoch = min(len(_loader(train_ds, cfg, epoch=0)), cfg.max_batches or 1 << 62)
    run = _Run(cfg, model, steps_per_epoch)
    if cfg.resume is not None:
        run.restore(extra)
    else:
        (cfg.out / "train_log.jsonl").unlink(missing_ok=True)
    (cfg.out / "config.json").write_text(json.dumps(cfg.model_dump(mode="json") | {"balanced": cfg.use_balanced},
                                                    indent=2) + "\n")
    saved = (cfg.resume, run.epoch)
    try:
        while run.epoch < cfg.epochs:
            record: dict[str, Any] = {"epoch": run.epoch + 1, "epochs": cfg.epochs} | _train_epoch(run, train_ds)
            run.epoch += 1
            improved = False
            if val_ds is not None:
                report = classifier_report(predict_scores(model, val_ds, batch=cfg.batch), val_labels, cfg.classes)
                record |= {"map": report["map"], "per_class": report["per_class"], "roc_auc": report["roc_auc"]}
                improved = report["map"] is not None and report["map"] > run.best
                run.best = max(run.best, report["map"] or 0.0)
            run.save(cfg.out / "last.pt")
            saved = (cfg.out / "last.pt", run.epoch)
            if improved:
                run.save(cfg.out / "best.pt")
            with (cfg.out / "train_log.jsonl").open("a") as log:
                log.write(json.dumps(record | {"best": improved}) + "\n")
    except KeyboardInterrupt:
        raise TrainingInterrupted(*saved) from None
    return cfg.out / ("best.pt" if val_ds is not None and (cfg.out / "best.pt").exists() else "last.pt")
