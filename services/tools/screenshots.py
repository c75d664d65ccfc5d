"""`make screenshots`: the web console's pages as the README shows them, made from a real run.

An embedded stack, the web console, simulator bags with the shipped detector's real boxes queued as alerts,
a TIP scan, and Debian's Chromium (headless, driven by Playwright) taking the pictures: the login page,
the queue with the review screen and its boxes, the same scan in organic-only view, the TIP feedback,
and the supervisor page.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ("login", "review", "organic", "tip", "supervisor")


def _alert(lane: str, seq: int, frame, runtime, at: datetime):
    """The alert the pipeline would raise on a frame: the detector's boxes through the alert service's own policy."""
    from pipeline.alerting import AlertPolicy, build_alert
    from pipeline.messages import Box, Detection, Detections, make_scan_id
    from training.inference import detect_frames

    rows = detect_frames(runtime, [frame.rgb], conf_threshold=0.05)[0]
    h, w = frame.rgb.shape[:2]
    part = Detections(scan_id=make_scan_id(lane, seq, at), lane_id=lane, scanner_id="scanner-1", captured_at=at, seq=seq,
                      region_index=0, region_count=1, region=Box(x1=0, y1=0, x2=w, y2=h), engine="screenshots",
                      detections=tuple(Detection(label=runtime.class_names[int(c)], score=float(s), box=Box(x1=x1, y1=y1, x2=x2, y2=y2))
                                       for x1, y1, x2, y2, s, c in rows if x2 > x1 and y2 > y1))
    return build_alert([part], AlertPolicy(), created_at=at)


def make_screenshots(out: Path, *, chromium: str = "/usr/bin/chromium", seed: int = 4) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from models.runtime import load_runtime
    from models.shipped import DEFAULT_WEIGHTS, require_weights
    from pipeline.codec import encode_rgb
    from pipeline.state import RedisLaneStateStore
    from services.tools.stack import Stack
    from services.web.server import WebConsole
    from training.synth.scene import SceneConfig, generate_frame

    out.mkdir(parents=True, exist_ok=True)
    runtime = load_runtime(require_weights(DEFAULT_WEIGHTS))
    rng = np.random.default_rng(seed)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Stack() as stack:
        store = RedisLaneStateStore.from_url(stack.redis_url)
        with WebConsole(bootstrap=stack.kafka_bootstrap, redis_url=stack.redis_url, port=port, tip_seed=seed) as web:
            web.desk.add_user("j.doe", "screenshots-1", "screener")
            web.desk.add_user("m.ray", "screenshots-1", "supervisor")
            queued, seq = 0, 0
            while queued < 5:
                frame = generate_frame(rng, negative=False, cfg=SceneConfig(width=640, height=480))
                at = datetime.now(UTC)
                alert = _alert(f"lane-{1 + seq % 3}", seq, frame, runtime, at)
                seq += 1
                if alert is None:
                    continue
                store.put_scan_image(alert.scan_id, "top", encode_rgb(frame.rgb), ttl_s=3600)
                store.record_outcome(scan_id=alert.scan_id, lane_id=alert.lane_id, at=at, alert=alert)
                web.desk.enqueue(alert, deadline_s=600 - 60 * queued)
                queued += 1
            clean = generate_frame(rng, negative=True, cfg=SceneConfig(width=640, height=480))
            from pipeline.messages import make_scan_id

            tip_scan = make_scan_id("lane-2", 99, datetime.now(UTC))
            store.put_scan_image(tip_scan, "top", encode_rgb(clean.rgb), ttl_s=3600)
            store.record_outcome(scan_id=tip_scan, lane_id="lane-2", at=datetime.now(UTC))
            web.desk.set_lane("lane-2", tip_rate=1.0, by="m.ray")
            tip_id = web.review_clean(tip_scan, "lane-2")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
                page = browser.new_page(viewport={"width": 1500, "height": 900})
                page.goto(f"{web.url}/login")
                page.fill("#user", "j.doe")
                page.screenshot(path=str(out / "login.png"))
                page.fill("#password", "screenshots-1")
                page.click("#submit")
                page.wait_for_selector("#live:text('live')")
                page.keyboard.press("n")
                page.wait_for_function("window.lw.current && window.lw.image && window.lw.image.complete")
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / "review.png"))
                page.keyboard.press("o")
                page.wait_for_timeout(200)
                page.screenshot(path=str(out / "organic.png"))
                page.keyboard.press("o")
                if tip_id is not None:
                    page.click(f"#queue li[data-alert-id='{tip_id}']")
                    page.wait_for_function(f"window.lw.current && window.lw.current.alert_id === '{tip_id}'")
                    page.wait_for_timeout(300)
                    page.keyboard.press("c")
                    page.wait_for_selector("#feedback:has-text('projected threat')")
                    page.wait_for_timeout(300)
                page.screenshot(path=str(out / "tip.png"))
                sup = browser.new_page(viewport={"width": 1200, "height": 900})
                sup.goto(f"{web.url}/login")
                sup.fill("#user", "m.ray")
                sup.fill("#password", "screenshots-1")
                sup.click("#submit")
                sup.goto(f"{web.url}/supervisor")
                sup.screenshot(path=str(out / "supervisor.png"))
                browser.close()
        store.close()
    written = []
    for name in SHOTS:  # JPEG at 85: a few hundred kB for the README instead of MBs of PNG
        png = out / f"{name}.png"
        if png.exists():
            jpg = out / f"{name}.jpg"
            cv2.imwrite(str(jpg), cv2.imread(str(png)), [cv2.IMWRITE_JPEG_QUALITY, 85])
            png.unlink()
            written.append(jpg)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.tools.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("services/web/screenshots"), help="where the JPEGs go")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium", help="the browser")
    args = parser.parse_args(argv)
    for path in make_screenshots(args.out, chromium=args.chromium):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
