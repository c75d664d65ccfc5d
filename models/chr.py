"""CHR: an image-level multi-label threat classifier on the detector's backbone, with class-balanced hierarchical refinement.

After Miao et al., "SIXray: A Large-scale Security Inspection X-ray Benchmark
for Prohibited Item Discovery in Overlapping Images" (CVPR 2019). Only the
paper's abstract is in our stored sources, so the structure below follows its
description of CHR (reversed connections from the higher layers to the lower
ones, a classifier at each level, class-balanced loss that drops the negatives
the level above already rejects); its section and equation numbers, the exact
fusion of the levels and the loss's thresholds could not be checked.

- ``CHRClassifier``: backbone stage maps p3, p4, p5 (strides 8, 16, 32) ->
  per-level logits (N, L, C) (L = 3 with CHR, 1 for the plain baseline that
  classifies the top stage only); ``class_maps`` gives the maps before global
  max pooling (the CAMs); ``image_logits`` fuses the levels (mean of logits).
- ``chr_loss``: BCE per level (and on the fused logits), with the
  class-balanced weights of ``loss_weights`` where asked; kept apart from
  ``forward``.
- ``save_classifier`` / ``load_classifier``: checkpoints marked ``task:
  classify``, in a format the detector loader refuses, and that refuse a
  detector's file in turn.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from models.blocks import ACTIVATIONS, ConvBNAct
from models.shipped import WeightsError, first_line

__all__ = [
    "FORMAT", "TASK", "CHRClassifier", "ClassifierConfig", "ClassifierWeightsError", "ScoresOnly", "build_classifier",
    "checkpoint_task", "chr_loss", "classifier_from_detector", "export_metadata", "load_classifier", "loss_weights",
    "save_classifier",
]

FORMAT = "lanewatch.classifier"
FORMAT_VERSION = 1
TASK = "classify"
_DETECTOR_FORMAT = "lanewatch.detector"  # models.checkpoint.FORMAT, not imported: it would import the detector
# a negative whose probability at the level above is below this is "easy": the lower level's loss leaves it out
EASY_NEGATIVE = 0.1
# the classifiers' bias starts at this probability: threats are rare, and a 0.5 start spends the first
# steps pushing every score down
PRIOR = 0.05


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything needed to rebuild a classifier; stored in checkpoints as ``to_dict()``.

    ``backbone`` and ``size`` rebuild the detector backbone it was taken from (``size`` None: Lite0's own
    320-channel stride-32 map, no projection); ``width``: channels of the CHR levels.
    """

    class_names: tuple[str, ...]
    img_size: int = 320
    chr: bool = True
    backbone: Literal["efficientnet-lite0", "cspdarknet"] = "efficientnet-lite0"
    size: Literal["nano", "small"] | None = None
    activation: Literal["silu", "leaky"] = "silu"
    width: int = 128
    input_format: Literal["rgb", "dual"] = "rgb"

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(str(n) for n in self.class_names))
        if not self.class_names or len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"need distinct class names, got {list(self.class_names)}")
        if self.img_size % 32:
            raise ValueError(f"img_size must be a multiple of 32, got {self.img_size}")
        if self.backbone == "cspdarknet" and self.size is None:
            raise ValueError("a cspdarknet backbone needs its size (nano or small)")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifierConfig:
        return cls(**d)


class CHRClassifier(nn.Module):
    """(N, 3, S, S) float in [0, 1], S a multiple of 32 -> per-level logits (N, L, C), finest level first.

    With ``chr`` each level k gets a 1x1 lateral conv of its stage map, plus the level above's map
    through a 1x1 "reversed" conv, upsampled x2 (top-down, p5 -> p4 -> p3); a 1x1 conv classifier on each
    level gives a class map, global max pooling its logits. Without ``chr`` (the baseline) one 1x1 conv
    classifier reads the top stage (p5): L = 1. ``forward`` returns the same thing in train and eval.
    """

    config: ClassifierConfig | None = None  # set by the builders

    def __init__(self, backbone: nn.Module, *, num_classes: int, chr: bool = True, width: int = 128,
                 act=ACTIVATIONS["silu"]) -> None:
        super().__init__()
        self.backbone = backbone
        self.chr = chr
        c3, c4, c5 = backbone.out_channels
        if chr:
            self.lateral = nn.ModuleList(ConvBNAct(c, width, 1, act=act) for c in (c3, c4, c5))
            # reverse[k]: from level k + 1 down to level k
            self.reverse = nn.ModuleList(ConvBNAct(width, width, 1, act=act) for _ in range(2))
            self.classifiers = nn.ModuleList(nn.Conv2d(width, num_classes, 1) for _ in range(3))
        else:
            self.lateral = self.reverse = None
            self.classifiers = nn.ModuleList([nn.Conv2d(c5, num_classes, 1)])
        for conv in self.classifiers:
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.constant_(conv.bias, -math.log((1 - PRIOR) / PRIOR))

    @property
    def num_classes(self) -> int:
        return self.classifiers[0].out_channels

    @property
    def levels(self) -> int:
        return len(self.classifiers)

    def class_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Class activation maps, one per level, finest first: (N, C, S/8, S/8), (N, C, S/16, S/16), (N, C, S/32, S/32)
        with CHR, (N, C, S/32, S/32) alone without."""
        if x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(f"height and width must be multiples of 32, got {tuple(x.shape[-2:])}")
        p3, p4, p5 = self.backbone(x)
        if not self.chr:
            return [self.classifiers[0](p5)]
        h = self.lateral[2](p5)
        maps = [h]
        for k, p in ((1, p4), (0, p3)):
            h = self.lateral[k](p) + F.interpolate(self.reverse[k](h), scale_factor=2.0, mode="nearest")
            maps.insert(0, h)
        return [cls(m) for cls, m in zip(self.classifiers, maps, strict=True)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, L, C) logits, each level's class map max-pooled over space."""
        return torch.stack([m.amax(dim=(2, 3)) for m in self.class_maps(x)], dim=1)

    @staticmethod
    def image_logits(levels: torch.Tensor) -> torch.Tensor:
        """(N, L, C) level logits -> (N, C) the image's: their mean (each level has its say)."""
        return levels.mean(dim=1)


class ScoresOnly(nn.Module):
    """(N, 3, S, S) in [0, 1] -> (N, C) sigmoid probabilities of the fused logits: what export and runtimes give."""

    def __init__(self, model: CHRClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model.image_logits(self.model(x)))


def loss_weights(levels: torch.Tensor, targets: torch.Tensor, *, balanced: bool = True,
                 easy_below: float = EASY_NEGATIVE) -> torch.Tensor:
    """(N, L, C) weights of each level's BCE terms for logits ``levels`` (N, L, C) and 0/1 ``targets`` (N, C).

    Balanced: at each level below the top, a negative the level above scores below ``easy_below`` is left
    out (weight 0); per level and class the positives share half the weight and the counted negatives the
    other half (the whole where only one kind is present), so a class's rare positives count as much as its
    many negatives. Not balanced: every term weighs the same (plain mean BCE). Weights sum to 1 per
    (level, class) with any term counted, and carry no gradient.
    """
    if not balanced:
        return torch.full_like(levels, 1.0 / levels.shape[0])
    pos = targets.to(levels.dtype).unsqueeze(1).expand_as(levels)
    counted = torch.ones_like(levels, dtype=torch.bool)
    above = torch.sigmoid(levels.detach()[:, 1:])  # (N, L - 1, C): the level above each lower one
    counted[:, :-1] = ~((pos[:, :-1] == 0) & (above < easy_below))
    is_pos, is_neg = (pos == 1) & counted, (pos == 0) & counted
    n_pos, n_neg = is_pos.sum(0, keepdim=True), is_neg.sum(0, keepdim=True)  # (1, L, C)
    share = torch.where((n_pos > 0) & (n_neg > 0), 0.5, 1.0)
    w = torch.where(is_pos, share / n_pos.clamp(min=1), torch.where(is_neg, share / n_neg.clamp(min=1), 0.0))
    return w.to(levels.dtype)


def chr_loss(levels: torch.Tensor, targets: torch.Tensor, *, balanced: bool = True,
             easy_below: float = EASY_NEGATIVE) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of level logits (N, L, C) against 0/1 targets (N, C), and its parts for the log.

    Per level and class a weighted BCE (``loss_weights``), averaged over classes; with several levels the
    fused image logits (``CHRClassifier.image_logits``) get one more such term over every frame, since a
    lower level never told about the easy negatives it skips could score them high and drag the fused
    score up (our choice: the paper's fusion could not be checked). Terms averaged. Parts: ``loss``,
    ``level0`` .. (finest first), ``fused`` and ``counted_negatives``, the share of the levels' negative
    terms kept.
    """
    y = targets.to(levels.dtype)
    weights = loss_weights(levels, targets, balanced=balanced, easy_below=easy_below)
    bce = F.binary_cross_entropy_with_logits(levels, y.unsqueeze(1).expand_as(levels), reduction="none")
    terms = list((weights * bce).sum(0).mean(-1))  # one per level
    if levels.shape[1] > 1:
        fused = CHRClassifier.image_logits(levels).unsqueeze(1)  # (N, 1, C)
        fused_bce = F.binary_cross_entropy_with_logits(fused, y.unsqueeze(1), reduction="none")
        terms.append((loss_weights(fused, targets, balanced=balanced) * fused_bce).sum(0).mean())
    loss = torch.stack(terms).mean()
    negatives = (targets == 0).unsqueeze(1).expand_as(levels)
    kept = ((weights > 0) & negatives).sum().item() / max(int(negatives.sum().item()), 1)
    parts = {"loss": loss.item(), **{f"level{k}": t.item() for k, t in enumerate(terms[: levels.shape[1]])}}
    if levels.shape[1] > 1:
        parts["fused"] = terms[-1].item()
    return loss, parts | {"counted_negatives": kept}


def _backbone(config: ClassifierConfig, *, pretrained: bool) -> nn.Module:
    """The detector backbone ``config`` names, as `models.detector.detector_from_config` builds it."""
    from models.detector import SIZES

    channels = SIZES[config.size].channels() if config.size else None
    if config.backbone == "efficientnet-lite0":
        from models.lite_backbone import build_lite_backbone

        return build_lite_backbone(pretrained=pretrained, out5=channels[-1] if channels else None)
    from models.backbone import build_backbone

    spec = SIZES[config.size]
    return build_backbone(channels=spec.channels(), depths=spec.depths(), dilations=(1, 1, 2, 2),
                          act=ACTIVATIONS[config.activation])


def build_classifier(config: ClassifierConfig, *, pretrained_backbone: bool = False) -> CHRClassifier:
    """A freshly initialised classifier from ``config`` (kept as ``model.config``); ``pretrained_backbone``
    starts a Lite0 backbone from its ImageNet weights."""
    model = CHRClassifier(_backbone(config, pretrained=pretrained_backbone), num_classes=config.num_classes,
                          chr=config.chr, width=config.width, act=ACTIVATIONS[config.activation])
    model.config = config
    return model


def classifier_from_detector(detector: nn.Module, detector_config: Any, *, class_names: tuple[str, ...],
                             img_size: int, chr: bool, input_format: str = "rgb") -> CHRClassifier:
    """A classifier whose backbone starts as ``detector``'s (an `ASPPYOLO`); levels and classifiers fresh.

    A DOAM in front of the detector's backbone is not carried over: the classifier reads the image itself.
    """
    config = ClassifierConfig(class_names=class_names, img_size=img_size, chr=chr, backbone=detector_config.backbone,
                              size=detector_config.size, activation=detector_config.activation,
                              input_format=input_format)
    model = build_classifier(config)
    model.backbone.load_state_dict(detector.backbone.state_dict())
    return model


class ClassifierWeightsError(WeightsError):
    """A classifier weights file that is there but cannot be loaded (a `WeightsError`: the CLI prints one line)."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(path, problem)
        self.args = (f"cannot load classifier weights {self.path}: {problem}",)


def save_classifier(path: str | Path, model: CHRClassifier, config: ClassifierConfig, *,
                    extra: dict[str, Any]) -> Path:
    """Write weights, config and ``extra`` (plain values and tensors) to ``path``, whole or not at all."""
    from models.metadata import lanewatch_version

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    ckpt = {"format": FORMAT, "format_version": FORMAT_VERSION, "task": TASK, "lanewatch_version": lanewatch_version(),
            "config": config.to_dict(), "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "extra": dict(extra)}
    try:
        torch.save(ckpt, partial)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def _read(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - the unpickler raises whatever the bytes lead it to
        raise ClassifierWeightsError(path, f"not a readable PyTorch checkpoint ({first_line(err)})") from err


def checkpoint_task(path: str | Path) -> str | None:
    """"classify" for a classifier checkpoint, "detect" for a detector's, None for anything else."""
    try:
        ckpt = _read(Path(path))
    except ClassifierWeightsError:
        return None
    if not isinstance(ckpt, dict):
        return None
    return {FORMAT: TASK, _DETECTOR_FORMAT: "detect"}.get(ckpt.get("format"))


def load_classifier(path: str | Path) -> tuple[CHRClassifier, ClassifierConfig, dict[str, Any]]:
    """The classifier in ``path`` in eval mode, its config and extras; `ClassifierWeightsError` for a
    detector's checkpoint or any other file."""
    path = Path(path)
    ckpt = _read(path)
    if isinstance(ckpt, dict) and ckpt.get("format") == _DETECTOR_FORMAT:
        raise ClassifierWeightsError(path, "a detector checkpoint (task detect), not an image-level classifier "
                                           "(task classify); train one with `lanewatch train --task classify`, "
                                           "which takes this file as --init")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or ckpt.get("task") != TASK:
        raise ClassifierWeightsError(path, "a PyTorch file, but not a lanewatch classifier checkpoint")
    if ckpt["format_version"] > FORMAT_VERSION:
        raise ClassifierWeightsError(path, f"format {ckpt['format_version']}; this lanewatch reads {FORMAT_VERSION}")
    try:
        config = ClassifierConfig.from_dict(ckpt["config"])
        model = build_classifier(config)
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ClassifierWeightsError(path, f"its weights do not fit its config ({first_line(err)})") from err
    return model.eval(), config, ckpt["extra"]


def export_metadata(config: ClassifierConfig) -> dict[str, Any]:
    """What an exported classifier carries (ONNX ``metadata_props``, each value JSON)."""
    from models.metadata import lanewatch_version

    return {"task": TASK, "class_names": list(config.class_names), "num_classes": config.num_classes,
            "img_size": config.img_size, "input_format": config.input_format, "chr": config.chr,
            "backbone": config.backbone, "lanewatch_version": lanewatch_version()}
