"""SIGTERM ends a service on time with the broker and Redis gone (issue 15: crop, detect and alert were still
alive three minutes after `stopping`)."""

import json
import os
import signal
import time
from types import SimpleNamespace

import pytest

from services.tools.demo import service_env, spawn_service, wait_ready
from services.tools.stack import Stack, alive
from tests.integration.helpers import tiny_model

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name,how", [("crop", "gone"), ("alert", "gone"), ("detect", "frozen")])
def test_sigterm_ends_a_service_within_its_stop_timeout_when_the_broker_is_gone(tmp_path, unique, name, how):
    stack = Stack()
    info = stack.start()
    try:
        env = service_env(info.kafka_bootstrap, info.redis_url, unique, tiny_model(),
                          {"LANEWATCH_STOP_TIMEOUT_S": "4", "LANEWATCH_POLL_MS": "100"})
        svc = spawn_service(name, env, tmp_path, unique)
        wait_ready({name: svc}, SimpleNamespace(start_timeout_s=60, show=lambda _: None))
        if how == "frozen":  # connections stay open and nothing answers: a network partition, the slow way to fail
            os.kill(info.pid, signal.SIGSTOP)
            os.kill(info.redis_pid, signal.SIGSTOP)
    finally:
        if how == "gone":
            stack.stop()  # the broker and Redis go away under the running service
    time.sleep(1)
    assert svc.proc.poll() is None  # still up (retrying), until told to stop
    t0 = time.monotonic()
    code = svc.stop(timeout_s=30)
    took = time.monotonic() - t0
    events = [json.loads(line) for line in (tmp_path / f"{name}.log").read_text().splitlines() if line.startswith("{")]
    msgs = [e["msg"] for e in events]
    assert took < 4 + 3, f"{name} took {took:.1f} s to stop; its last events: {msgs[-5:]}"
    assert "stopping" in msgs and msgs.index("started") < msgs.index("stopping")
    # either it drained in time (0), or the deadline ended it (1) and said so as a JSON line
    assert code == 0 or (code == 1 and msgs[-1] == "stop timed out"), (code, msgs[-5:])
    if how == "frozen":
        for pid in (info.pid, info.redis_pid):
            os.kill(pid, signal.SIGCONT)
        stack.stop()
    assert not alive(info.pid)


def test_a_crash_is_one_json_line_with_its_traceback_and_exit_code_1(stack, unique):
    import io

    from pydantic import SecretStr

    from services.runner import ServiceSettings, Stage, configure_logging, serve

    class Broken(Stage):
        name = "broken"
        inputs = {}

        def tick(self, now):
            raise RuntimeError("disk on fire")

    out = io.StringIO()
    configure_logging("broken", stream=out)
    settings = ServiceSettings(kafka_bootstrap=stack.kafka_bootstrap, redis_url=SecretStr(stack.redis_url),
                               topic_prefix=unique, metrics_port=0)
    assert serve(lambda store, topics: Broken(), settings) == 1
    lines = [json.loads(line) for line in out.getvalue().splitlines()]  # every line is JSON
    (crash,) = [e for e in lines if e["msg"] == "crashed"]
    assert crash["level"] == "error" and crash["error"] == "RuntimeError: disk on fire" and "tick" in crash["exc"]
