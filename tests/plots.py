"""What a written chart must be: a decodable image with something drawn on it, not just a file of some size."""

from pathlib import Path

import cv2
import numpy as np


def assert_plotted(path: Path, *, min_side: int = 300) -> None:
    img = cv2.imread(str(path))
    assert img is not None, f"{path} is not a readable image"
    assert min(img.shape[:2]) >= min_side, img.shape
    ink = (img < 200).any(axis=2)  # axes, lines, markers, text: anything darker than the paper
    assert 0.01 < ink.mean() < 0.6, ink.mean()
    colours = np.unique(img.reshape(-1, 3) // 32, axis=0)
    assert len(colours) >= 6, len(colours)  # more than black on white: the series are coloured
