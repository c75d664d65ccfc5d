"""A production image needs no simulator: the runtime services import neither `training` nor the developer tools."""

import subprocess
import sys

CODE = r"""
import sys
sys.modules["training"] = None  # any import of the simulator, datasets or trainer now fails
sys.modules["services.tools"] = None
import numpy as np
import services.alert, services.crop, services.detect, services.ingest, services.runner
from pipeline.codec import Scan
from pipeline.frames import network_image
high = np.full((40, 60), 30000, np.uint16)
rgb = network_image(Scan("dual-png16", high=high, low=high // 2), "rgb")  # a raw pair shown on the default screen
assert rgb.shape == (40, 60, 3) and rgb.dtype == np.uint8 and rgb.std(axis=(0, 1)).max() < 1.0 and rgb.mean() < 250
print("ok")
"""


def test_runtime_services_run_without_the_simulator_or_the_tools():
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "ok"
