"""Common settings: LANEWATCH_ environment, secrets masked, frozen."""

import pytest
from pydantic import ValidationError

from pipeline.settings import CommonSettings, redact_url


def test_reads_prefixed_environment(monkeypatch):
    monkeypatch.setenv("LANEWATCH_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("LANEWATCH_REDIS_URL", "redis://:s3cret@redis:6379/2")
    monkeypatch.setenv("LANEWATCH_METRICS_PORT", "9101")
    s = CommonSettings()
    assert s.kafka_bootstrap == "kafka-1:9092,kafka-2:9092" and s.metrics_port == 9101 and not s.embedded
    assert s.redis_url.get_secret_value() == "redis://:s3cret@redis:6379/2"
    assert "s3cret" not in repr(s) and "s3cret" not in str(s.model_dump())
    assert s.redis_url_for_logs == "redis://:***@redis:6379/2"


def test_unset_means_embedded(monkeypatch):
    for name in ("LANEWATCH_KAFKA_BOOTSTRAP", "LANEWATCH_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    s = CommonSettings()
    assert s.embedded and s.redis_url_for_logs is None


def test_frozen_and_validated(monkeypatch):
    s = CommonSettings(kafka_bootstrap="k:9092")
    with pytest.raises(ValidationError):
        s.kafka_bootstrap = "other:9092"
    monkeypatch.setenv("LANEWATCH_METRICS_PORT", "70000")
    with pytest.raises(ValidationError, match="metrics_port"):
        CommonSettings()


@pytest.mark.parametrize("url,shown", [
    ("redis://localhost:6379/0", "redis://localhost:6379/0"),
    ("redis://user:pw@host:6380/1", "redis://user:***@host:6380/1"),
    ("rediss://:pw@host/0", "rediss://:***@host/0"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown
