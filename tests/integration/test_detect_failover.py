"""Two detect workers in one group, one killed mid-stream: the survivor takes its partitions, no scan is lost.

The workers are real `lanewatch serve detect` processes; the one that dies gets SIGKILL, so it neither
finishes its batch nor commits nor leaves the group: the broker notices by the session timeout, and
the survivor re-reads what was not committed. The survivor is then stopped with SIGTERM, as an
orchestrator would, and must exit cleanly.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

from pipeline.codec import encode_rgb
from pipeline.kafka import Producer
from services import alert, crop, ingest
from services.runner import Topics, serve
from services.tools.stack import alive
from tests.integration.helpers import FAST, running, tiny_model, until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return json.loads(r.read())
    except OSError:
        return {}


def _worker(env, port, log):
    env = {**env, "LANEWATCH_METRICS_PORT": str(port), "LANEWATCH_METRICS_HOST": "127.0.0.1"}
    return subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "detect"], env=env, cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)


def test_killing_one_of_two_detect_workers_loses_no_scan(stack, store, tmp_path):
    prefix = f"it-fail-{uuid.uuid4().hex[:6]}"
    topics = Topics.prefixed(prefix)
    weights = tiny_model()
    common = dict(kafka_bootstrap=stack.kafka_bootstrap, redis_url=stack.redis_url, topic_prefix=prefix, **FAST)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANEWATCH_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
           "LANEWATCH_REDIS_URL": stack.redis_url, "LANEWATCH_TOPIC_PREFIX": prefix, "LANEWATCH_WEIGHTS": str(weights),
           "LANEWATCH_GROUP_ID": f"{prefix}-detect", "LANEWATCH_SESSION_TIMEOUT_MS": "3000",
           "LANEWATCH_HEARTBEAT_INTERVAL_MS": "300", "LANEWATCH_POLL_MS": "100", "LANEWATCH_THREADS": "1",
           "LANEWATCH_MAX_BATCH": "4", "OMP_NUM_THREADS": "1"}
    ports = [_free_port(), _free_port()]
    logs = [open(tmp_path / f"detect{i}.log", "wb") for i in range(2)]
    workers = [_worker(env, p, log) for p, log in zip(ports, logs)]
    # the crop service lays regions on the detector's canvas: it must read the same weights as the workers
    crop_s = crop.CropSettings(**common, group_id=f"{prefix}-crop", crop_method="none", weights=weights)
    alert_s = alert.AlertSettings(**common, group_id=f"{prefix}-alert")
    lanes = [f"lane-f{i}" for i in range(8)]
    rng = np.random.default_rng(0)
    payloads = [encode_rgb(rng.integers(0, 255, (120, 160, 3), np.uint8)) for _ in range(4)]
    try:
        with (running(serve, crop.make_stage(crop_s), crop_s), running(serve, alert.make_stage(alert_s), alert_s),
              Producer(stack.kafka_bootstrap) as producer):
            # both workers in the group, two partitions each
            until(lambda: [_health(p).get("partitions") for p in ports] == [2, 2], timeout_s=60,
                  what="two detect workers sharing the partitions")
            gate = ingest.Ingest(producer, store, topics)
            sent = []

            def feed(n):
                for _ in range(n):
                    lane = lanes[len(sent) % len(lanes)]
                    sent.append(gate.publish(payloads[len(sent) % 4], lane_id=lane, source="test"))
                    producer.flush()
                    time.sleep(0.02)

            feed(16)
            until(lambda: sum(store.is_done(m.scan_id) for m in sent) >= 4, what="the first outcomes")
            workers[1].send_signal(signal.SIGKILL)  # mid-stream: records of its partitions are in flight
            feed(24)
            until(lambda: _health(ports[0]).get("partitions") == 4, timeout_s=30, what="the survivor to take over")
            until(lambda: all(store.is_done(m.scan_id) for m in sent), timeout_s=60,
                  what="every scan's outcome after the kill")
            assert len(sent) == 40 and all(sent)
            assert sum(store.lane(lane).counters["scans"] for lane in lanes) == 40  # each exactly once
        workers[0].send_signal(signal.SIGTERM)
        assert workers[0].wait(30) == 0  # graceful: drained, committed, left the group
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait(10)
        for log in logs:
            log.close()
    events = [json.loads(line) for line in (tmp_path / "detect0.log").read_text().splitlines() if line.startswith("{")]
    assert any(e["msg"] == "stopped" and e.get("drained") for e in events)
    assert not any(alive(w.pid) for w in workers)
