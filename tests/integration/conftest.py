"""One embedded stack (real Kafka-protocol broker, real redis-server) for the whole integration session."""

import uuid

import pytest

from pipeline.state import RedisLaneStateStore
from services.tools.stack import Stack, alive


@pytest.fixture(scope="session")
def stack():
    s = Stack()
    info = s.start()
    yield info
    s.stop()
    orphans = [pid for pid in (info.pid, info.redis_pid) if alive(pid)]
    assert not orphans, f"embedded stack processes still running: {orphans}"


@pytest.fixture()
def store(stack):
    s = RedisLaneStateStore.from_url(stack.redis_url)
    yield s
    # alerts a test recorded straight into the store were never published: left in the outbox, a later test's
    # alert service would publish them on its own topics
    s.client.delete(s.keys["outbox"])
    s.close()


@pytest.fixture()
def unique():
    """A fresh name per test: topics and groups never see another test's records."""
    return f"it-{uuid.uuid4().hex[:8]}"
