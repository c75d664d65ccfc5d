"""Kernel Inception Distance between two image sets, on ImageNet EfficientNet-Lite0 embeddings.

KID (Binkowski et al. 2018, "Demystifying MMD GANs") is the unbiased squared
MMD between the sets' embeddings under the cubic polynomial kernel
k(a, b) = (a.b / d + 1)^3, averaged over random equal-size subsets as
torch-fidelity and clean-fid do. Unlike FID it has an unbiased estimator, so
it can be compared across set sizes and is usable with a few hundred images:
what we have when comparing simulated X-ray scans with real ones.

The embedder is Lite0 instead of Inception-v3, so the numbers are not
comparable with published KIDs, only with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch

from models.efficientnet_lite import EfficientNetLite, efficientnet_lite0, normalize

__all__ = ["KIDResult", "embed_images", "kid", "letterbox", "mmd2_unbiased"]

# X-ray scans are drawn on a white belt: padding with white adds no content.
PAD_VALUE = 255


@dataclass(frozen=True)
class KIDResult:
    """KID as the mean unbiased MMD^2 over ``subsets`` random subsets of ``subset_size`` items from each set."""

    mean: float
    std: float  # spread over the subsets (population std, as torch-fidelity reports it)
    subsets: int
    subset_size: int
    reduced: bool  # subset_size was lowered to the smaller set's size


def letterbox(image: np.ndarray, *, size: int = 224) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8: long side resized to ``size`` (INTER_AREA), centred on white."""
    h, w = image.shape[:2]
    r = size / max(h, w)
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.full((size, size, 3), PAD_VALUE, np.uint8)
    y, x = (size - nh) // 2, (size - nw) // 2
    out[y : y + nh, x : x + nw] = resized
    return out


@lru_cache(maxsize=1)
def _pretrained() -> EfficientNetLite:
    return efficientnet_lite0(pretrained=True).eval()


def embed_images(
    images: Sequence[np.ndarray],
    *,
    model: EfficientNetLite | None = None,
    size: int = 224,
    batch: int = 16,
) -> np.ndarray:
    """Uint8 RGB (H, W, 3) images of any size -> (N, 1280) float64 pooled Lite0 embeddings.

    Each image is letterboxed to ``size`` on white (`letterbox`). ``model``
    (default: the ImageNet Lite0, loaded once) must be in eval mode.
    """
    model = _pretrained() if model is None else model
    if model.training:
        raise ValueError("model is in train mode: BatchNorm would use batch statistics; call model.eval()")
    device = next(model.parameters()).device
    out = np.zeros((len(images), 1280), np.float64)
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            chunk = np.stack([letterbox(im, size=size) for im in images[start : start + batch]])
            x = normalize(torch.from_numpy(chunk).to(device).permute(0, 3, 1, 2))
            out[start : start + len(chunk)] = model.embed(x).double().cpu().numpy()
    return out


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, d), (m, d) -> (n, m) cubic polynomial kernel (a.b / d + 1)^3."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between feature sets x (n, d) and y (m, d), n, m >= 2, under the cubic kernel."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n, m = len(x), len(y)
    if n < 2 or m < 2 or x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need two (>=2, d) feature sets with the same d, got {x.shape} and {y.shape}")
    kxx, kyy, kxy = _kernel(x, x), _kernel(y, y), _kernel(x, y)
    # The i == j terms are left out of the within-set means: that is what makes it unbiased.
    xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(xx + yy - 2.0 * kxy.mean())


def kid(x: np.ndarray, y: np.ndarray, *, subsets: int = 50, subset_size: int = 50, seed: int = 0) -> KIDResult:
    """KID between feature sets x (n, d) and y (m, d): unbiased MMD^2 over random subsets, without replacement."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError(f"need at least 2 items per set, got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    values = np.array([
        mmd2_unbiased(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
        for _ in range(subsets)
    ])
    return KIDResult(float(values.mean()), float(values.std()), subsets, size, size < subset_size)
