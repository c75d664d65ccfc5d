"""Threat image projection for the console: a simulated threat put into a live clean scan, truth kept aside.

Screening regulators require TIP: fictional threats appear in real bags so that operators stay sharp and
their hit rates can be measured. The projection is the simulator's physical one
(`training.synth.projection.project_rgb`: the scan's colours read back to absorbance and material, the
threat's attenuation added, the result shown through the scan's own display, calibrated from the scan),
so a projected knife darkens and colours what lies under it as a real one would. Outside the threat's
footprint every pixel is the scan's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["BELT_WIDTH_CM", "TipImage", "project_tip"]

# the scanners' tunnel is about this wide: it sets the pixel pitch a threat is drawn at
BELT_WIDTH_CM = 100.0


@dataclass(frozen=True)
class TipImage:
    image: bytes  # PNG of the scan with the threat in it
    label: str
    box: tuple[int, int, int, int]  # (x1, y1, x2, y2) in scan pixels, x2/y2 exclusive


def project_tip(scan: bytes, rng: np.random.Generator, *, labels: tuple[str, ...] | None = None,
                belt_width_cm: float = BELT_WIDTH_CM) -> TipImage | None:
    """Project one random threat into an encoded scan (PNG or JPEG), inside one of its bags; None when the
    scan cannot be read or holds no bag big enough."""
    from training.evaluation.realism import bag_regions
    from training.synth.projection import pose_in_region, project_rgb
    from training.synth.threats import THREATS, make_threat

    bgr = cv2.imdecode(np.frombuffer(scan, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    bags = [b for b in bag_regions(rgb) if (b[2] - b[0]) * (b[3] - b[1]) >= 0.02 * w * h]
    if not bags:
        return None
    x1, y1, x2, y2 = bags[int(rng.integers(len(bags)))]
    label = str(rng.choice(list(labels or THREATS)))
    threat = make_threat(label, rng)
    px_per_cm = max(w, h) / belt_width_cm
    margin = 0.1 * min(x2 - x1, y2 - y1)
    pose = pose_in_region(rng, threat, (x1 + margin, y1 + margin, x2 - margin, y2 - margin), px_per_cm)
    shown = project_rgb(rgb, threat, pose)
    if shown.box is None or shown.rgb is None:
        return None
    png = cv2.imencode(".png", cv2.cvtColor(shown.rgb, cv2.COLOR_RGB2BGR))[1].tobytes()
    return TipImage(png, label, tuple(int(v) for v in shown.box))
