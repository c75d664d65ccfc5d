"""The image a model sees for a decoded scan, whichever form the scanner sent (DESIGN.md section 4).

Models are trained on one input mode, "rgb" (pseudo-colour) or "dual" (the dual-energy 3-channel
form). A dual-energy scan shown to an "rgb" model is rendered to pseudo-colour as a scanner would,
on the default scanner's screen (`pipeline.xray.screen.render_raw`, as `lanewatch detect` does); a pseudo-colour scan cannot
be turned back into energies, so a "dual" model refuses it (the record is dead-lettered).

Operators see the pseudo-colour image too (`screen_image`): the scanner's own PNG or JPEG as it came, or a
raw pair's rendering as JPEG, which any browser shows.
"""

from __future__ import annotations

import numpy as np

from pipeline.codec import Scan, encode_rgb
from pipeline.messages import Rejected
from pipeline.preprocess import background_for

__all__ = ["SCREEN_JPEG_QUALITY", "background_for", "network_image", "screen_image"]

SCREEN_JPEG_QUALITY = 90


def network_image(scan: Scan, mode: str) -> np.ndarray:
    """uint8 (H, W, 3) in the model's input `mode` ("rgb" or "dual"); Rejected when the scan cannot give it."""
    if mode == "dual":
        if scan.high is None:
            raise Rejected(f"a dual-energy model cannot read a {scan.format} scan: send the raw high/low pair")
        return scan.network_input()
    if mode != "rgb":
        raise ValueError(f"unknown input mode {mode!r}")
    if scan.rgb is not None:
        return scan.rgb
    from pipeline.xray.screen import render_raw

    return render_raw(scan.high, scan.low)


def screen_image(scan: Scan, data: bytes, rgb: np.ndarray | None = None) -> bytes:
    """The view as an operator's browser shows it: `data` itself when the scanner sent a PNG or JPEG of the
    pseudo-colour image (never re-encoded), else a JPEG of the raw pair's rendering (`rgb`, uint8 (H, W, 3),
    when the caller has rendered it already)."""
    if scan.rgb is not None:
        return data
    return encode_rgb(network_image(scan, "rgb") if rgb is None else rgb, fmt="rgb-jpeg", jpeg_quality=SCREEN_JPEG_QUALITY)
