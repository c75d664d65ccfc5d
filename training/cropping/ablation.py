"""The TDC ablation behind `lanewatch eval crop-ablation`: which backbone layer and threshold k.

As the paper's Figure 10, but measured on retention and area: every setting
(variant x layer x signal x k x margin) runs on the same frames; the feature
map of a layer is computed once per frame and shared by all settings that
read it. Variant "paper" is the paper's single crop (no splitting, growing or
energy cap, belt estimated from the frame); "tdc" is lanewatch's. The
recommended setting is the one keeping the least area among those that meet
the retention targets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.crop import CropRegion, TDCConfig, tdc_regions
from training.cropping.benchmark import load_tdc
from training.cropping.metrics import retention
from training.datasets.loader import load_image
from training.datasets.records import Sample

__all__ = ["VARIANTS", "ablation", "best_setting", "format_ablation", "variant_config"]

# The targets: threat boxes and bags kept whole.
BOX_TARGET, BAG_TARGET = 0.995, 0.99
VARIANTS = ("paper", "tdc")


def variant_config(base: TDCConfig, variant: str) -> TDCConfig:
    """``base`` as the paper's TDC or as lanewatch's."""
    if variant == "paper":
        return replace(base, split=False, grow=False, saturate=None)
    if variant == "tdc":
        return base
    raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


def ablation(
    samples: Sequence[Sample],
    weights: str | Path,
    *,
    layers: Sequence[str],
    ks: Sequence[float],
    signals: Sequence[str] = ("diff", "level"),
    margins: Sequence[float] = (1.0,),
    variants: Sequence[str] = VARIANTS,
    base: TDCConfig = TDCConfig(),
    threads: int = 1,
    progress: Callable[[int], object] | None = None,
) -> list[dict[str, Any]]:
    """One row per setting: variant, layer, signal, k, margin, retention and area, ms per frame (features + profile maths).

    The paper variant is measured against the frame's own belt estimate, as the paper has no belt reference.
    """
    if not samples:
        raise ValueError("no frames to run the ablation on")
    croppers = {layer: load_tdc(weights, config=replace(base, layer=layer), threads=threads) for layer in layers}
    settings = [(v, layer, signal, k, m) for v in variants for layer in layers for signal in signals for k in ks for m in margins]
    configs = {st: replace(variant_config(base, st[0]), layer=st[1], signal=st[2], k=st[3], margin=st[4]) for st in settings}
    regions: dict[tuple, dict[str, list[CropRegion]]] = {st: {} for st in settings}
    feature_s = dict.fromkeys(layers, 0.0)
    maths_s = dict.fromkeys(settings, 0.0)
    mode = croppers[layers[0]].extractor.input_format  # the backbone's input: pseudo-colour or dual-energy
    warm = load_image(samples[0], mode)
    for cropper in croppers.values():
        cropper(warm)
    for s in samples:
        image = load_image(s, mode)
        for layer, cropper in croppers.items():
            start = time.perf_counter()
            features = cropper.extractor(image)
            feature_s[layer] += time.perf_counter() - start
            belt = cropper.belt_for(image)
            for st in settings:
                if st[1] != layer:
                    continue
                start = time.perf_counter()
                if st[0] == "paper":
                    regions[st][s.image_id] = tdc_regions(features, (s.width, s.height), config=configs[st], shift=cropper.extractor.shift)
                else:
                    regions[st][s.image_id] = cropper.regions(features, (s.width, s.height), configs[st], belt=belt)
                maths_s[st] += time.perf_counter() - start
        if progress is not None:
            progress(1)
    n = len(samples)
    rows = []
    for st in settings:
        variant, layer, signal, k, margin = st
        r = retention(samples, regions[st])
        r.pop("frames_losing_a_threat")
        rows.append({"variant": variant, "layer": layer, "signal": signal, "k": k, "margin": margin, **r,
                     "feature_ms": 1000 * feature_s[layer] / n, "ms_per_frame": 1000 * (feature_s[layer] + maths_s[st]) / n})
    return rows


def best_setting(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The row keeping the least area among those meeting both retention targets, or None."""
    ok = [r for r in rows if (r["box_retention"] or 0) >= BOX_TARGET and (r["bag_retention"] or 0) >= BAG_TARGET]
    return min(ok, key=lambda r: (r["area_kept"], r["ms_per_frame"])) if ok else None


def format_ablation(rows: Sequence[dict[str, Any]]) -> str:
    """The ablation rows as a text table; the recommended setting is marked with *."""
    best = best_setting(rows)
    lines = [f"  {'variant':<8}{'layer':<6}{'signal':<7}{'k':>6}{'margin':>7}{'box ret.':>10}{'bag ret.':>10}{'area':>8}{'regions':>9}{'fallback':>9}{'ms':>7}"]
    for r in rows:
        mark = "*" if r is best else " "
        lines.append(
            f"{mark} {r['variant']:<8}{r['layer']:<6}{r['signal']:<7}{r['k']:>6.2f}{r['margin']:>7.1f}{r['box_retention'] or 0:>10.2%}"
            f"{r['bag_retention'] or 0:>10.2%}{r['area_kept']:>8.1%}{r['regions_per_frame']:>9.2f}{r['fallback_rate']:>9.1%}{r['ms_per_frame']:>7.2f}"
        )
    lines.append(
        f"* least area with box retention >= {BOX_TARGET:.1%} and bag retention >= {BAG_TARGET:.0%}"
        if best else f"no setting reached box retention {BOX_TARGET:.1%} and bag retention {BAG_TARGET:.0%}"
    )
    return "\n".join(lines)
