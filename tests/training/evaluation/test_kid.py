"""KID: the unbiased estimator against a direct double loop, its behaviour on shifted sets, and the embedder."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluation.kid import embed_images, kid, letterbox, mmd2_unbiased


def gaussian(n: int, *, shift: float = 0.0, seed: int = 0, d: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Gretton et al.'s unbiased MMD^2, term by term."""
    d = x.shape[1]

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2.0 * xy


def test_mmd2_matches_the_double_loop():
    x, y = gaussian(5, seed=1, d=3), gaussian(7, shift=0.3, seed=2, d=3)
    assert mmd2_unbiased(x, y) == pytest.approx(reference_mmd2(x, y), abs=1e-10)
    # Unbiased: a set against itself scores below zero (the biased V-statistic would give exactly 0).
    assert mmd2_unbiased(x, x[::-1]) < 0


def test_kid_of_two_halves_of_one_set_is_near_zero():
    both = gaussian(400, seed=3)
    same = kid(both[:200], both[200:])
    shifted = kid(both[:200], both[200:] + 0.5)
    # Measured: about -0.005 against 1.0; across five seeds |same| stayed under 0.035.
    assert abs(same.mean) < 0.05 * shifted.mean


def test_kid_is_clearly_positive_and_grows_with_the_shift():
    x, y = gaussian(200, seed=4), gaussian(200, seed=5)
    results = [kid(x, y + s) for s in (0.25, 0.5, 1.0)]
    means = [r.mean for r in results]
    assert means == sorted(means)
    assert means[1] > 5 * results[1].std
    assert means[2] > 4 * means[1]  # cubic kernel: far faster than linear in the shift


def test_kid_is_deterministic_and_shrinks_subsets_to_the_smaller_set():
    x, y = gaussian(30, seed=6), gaussian(40, shift=0.2, seed=7)
    a, b = kid(x, y, subsets=10, seed=1), kid(x, y, subsets=10, seed=1)
    assert a == b
    assert (a.subsets, a.subset_size, a.reduced) == (10, 30, True)
    assert kid(x, y, subsets=10, seed=2).mean != a.mean
    assert kid(x, y, subset_size=20).reduced is False


def test_kid_over_whole_sets_is_the_plain_estimator():
    x, y = gaussian(20, seed=8), gaussian(20, shift=0.3, seed=9)
    whole = kid(x, y, subsets=5, subset_size=20)
    # Every subset is a permutation of the whole set, and the estimator is order-free.
    assert whole.mean == pytest.approx(mmd2_unbiased(x, y), abs=1e-10)
    assert whole.std == pytest.approx(0.0, abs=1e-10)


def test_letterbox_centres_the_resized_image_on_white():
    image = np.zeros((50, 100, 3), np.uint8)
    out = letterbox(image, size=64)
    assert out.shape == (64, 64, 3)
    # 100x50 -> 64x32, 16 white rows above and below
    assert (out[:16] == 255).all() and (out[48:] == 255).all()
    assert (out[16:48] == 0).all()


def test_embed_images_sees_white_padding_as_nothing():
    rng = np.random.default_rng(10)
    content = rng.integers(0, 256, (56, 112, 3), dtype=np.uint8)
    white = np.full((112, 112, 3), 255, np.uint8)
    white[28:84] = content
    black = np.zeros((112, 112, 3), np.uint8)
    black[28:84] = content
    other = rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)
    emb = embed_images([content, white, black, other])
    assert emb.shape == (4, 1280) and emb.dtype == np.float64
    # `content` is padded with white inside embed_images: it should land next to `white`, far from `black`.
    assert np.linalg.norm(emb[0] - emb[1]) < 0.1 * np.linalg.norm(emb[0] - emb[2])
