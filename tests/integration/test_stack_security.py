"""The embedded stack's secure defaults: Redis wants the stack's password, keeps its data across a restart,
the password stays out of what is printed, and Kafka clients configured for TLS do not fall back to plaintext."""

import json
import stat
import subprocess
import sys
import time
import uuid

import pytest
import redis
from kafka.errors import KafkaTimeoutError

from pipeline.kafka import Producer, kafka_client_config
from pipeline.reach import Unreachable, check_kafka, check_redis
from pipeline.settings import CommonSettings
from pipeline.state import RedisLaneStateStore
from services.tools.stack import Stack, StackInfo, alive

pytestmark = pytest.mark.integration


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _password(url: str) -> str:
    return url.split("@")[0].rsplit(":", 1)[1]


def test_redis_wants_the_stacks_password(stack):
    assert stack.redis_url.startswith("redis://:") and len(_password(stack.redis_url)) >= 32
    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        redis.Redis(port=_port(stack.redis_url), socket_timeout=5).ping()
    with pytest.raises(Unreachable, match=r"^Redis at redis://127\.0\.0\.1:\d+/0 refused the credentials"):
        check_redis(f"redis://127.0.0.1:{_port(stack.redis_url)}/0")
    check_redis(stack.redis_url)
    assert redis.Redis.from_url(stack.redis_url).ping()


def test_the_password_is_masked_where_the_stack_is_shown(stack):
    assert stack.redis_url_for_logs == f"redis://:***@127.0.0.1:{_port(stack.redis_url)}/0"
    assert _password(stack.redis_url) not in repr(stack)


def test_an_acl_user_logs_in_with_redis_username(stack):
    admin = redis.Redis.from_url(stack.redis_url)
    user, password = f"lane-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"], channels=["*"], commands=["+@all"])
    try:
        settings = CommonSettings(redis_url=f"redis://:{password}@127.0.0.1:{_port(stack.redis_url)}/0",
                                  redis_username=user)
        check_redis(settings.redis_url.get_secret_value())
        store = RedisLaneStateStore.from_url(settings.redis_url.get_secret_value())
        try:
            assert store.client.acl_whoami() == user and store.ping()
        finally:
            store.close()
        wrong = CommonSettings(redis_url=f"redis://:nope@127.0.0.1:{_port(stack.redis_url)}/0", redis_username=user)
        with pytest.raises(Unreachable, match=f"redis://{user}:\\*\\*\\*@127.0.0.1:.* refused the credentials"):
            check_redis(wrong.redis_url.get_secret_value())
    finally:
        admin.acl_deluser(user)
        admin.close()


def test_restart_keeps_port_password_and_data(tmp_path):
    with Stack(workdir=tmp_path) as s:
        before = s.info
        client = redis.Redis.from_url(s.redis_url, socket_timeout=5)
        client.set("clean", "kept")
        after = s.restart_redis()
        assert after.redis_pid != before.redis_pid and not alive(before.redis_pid) and s.redis_url == before.redis_url
        assert client.get("clean") == b"kept"  # the client reconnects to the same URL
        client.set("crash", "kept")  # acknowledged, so already written to the append-only file
        crashed = s.restart_redis(hard=True)
        assert crashed.redis_pid != after.redis_pid and client.get("crash") == b"kept"
        client.close()
        datadirs = list(tmp_path.glob("redis-*"))
        assert len(datadirs) == 1 and stat.S_IMODE(datadirs[0].stat().st_mode) == 0o700
        assert stat.S_IMODE((datadirs[0] / "redis.conf").stat().st_mode) == 0o600
    assert not alive(crashed.redis_pid) and not datadirs[0].exists()
    assert _password(before.redis_url) not in (tmp_path / "redis.log").read_text() + (tmp_path / "stack.log").read_text()


def test_stack_up_keeps_the_password_out_of_its_comments_and_status(tmp_path):
    state = tmp_path / "stack.json"
    cli = [sys.executable, "-m", "services.cli", "stack"]
    up = subprocess.run([*cli, "up", "--state", str(state)], capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    try:
        info = StackInfo.load(state)
        password = _password(info.redis_url)
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        comments = [line for line in up.stdout.splitlines() if not line.startswith("export ")]
        assert f"export LANEWATCH_REDIS_URL={info.redis_url}" in up.stdout.splitlines()  # for eval "$(...)"
        assert password not in "\n".join(comments) + up.stderr and info.redis_url_for_logs in "\n".join(comments)
        status = subprocess.run([*cli, "status", "--state", str(state)], capture_output=True, text=True, timeout=60)
        shown = json.loads(status.stdout)
        assert status.returncode == 0 and shown["redis_reachable"] is True
        assert shown["redis_url"] == info.redis_url_for_logs and password not in status.stdout
    finally:
        subprocess.run([*cli, "down", "--state", str(state)], capture_output=True, timeout=60)


SASL_SSL = dict(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username="svc",
                kafka_sasl_password="hunter2")


@pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS is deprecated:DeprecationWarning")  # inside kafka-python
def test_a_tls_client_against_the_plaintext_broker_fails_clearly(stack):
    config = kafka_client_config(CommonSettings(kafka_bootstrap=stack.kafka_bootstrap, **SASL_SSL))
    t = time.monotonic()
    with pytest.raises(Unreachable, match=r"^cannot reach Kafka at .*: TLS handshake failed .*is it a TLS listener\?$"):
        check_kafka(stack.kafka_bootstrap, config=config)
    assert time.monotonic() - t < 5
    check_kafka(stack.kafka_bootstrap, config=kafka_client_config(CommonSettings()))
    # the client itself never falls back to plaintext: it gets no metadata at all
    producer = Producer(stack.kafka_bootstrap, max_block_ms=2000, **config)
    try:
        with pytest.raises(KafkaTimeoutError):
            producer.partitions_for("lanewatch.never")
    finally:
        producer.close(timeout_s=1)
