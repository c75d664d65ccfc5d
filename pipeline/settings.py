"""Settings shared by every service, read from `LANEWATCH_*` environment variables.

Each service later gets its own frozen subclass (`class DetectSettings(CommonSettings)`);
its fields read the same prefix, e.g. `LANEWATCH_MAX_BATCH`. With neither
`LANEWATCH_KAFKA_BOOTSTRAP` nor `LANEWATCH_REDIS_URL` set, `lanewatch` starts
the embedded stack (`services/tools/stack.py`).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CommonSettings", "redact_url"]


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***`, fit for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class CommonSettings(BaseSettings):
    """What every service needs: where Kafka and Redis are, payload limits, metrics port."""

    model_config = SettingsConfigDict(env_prefix="LANEWATCH_", frozen=True, extra="ignore")

    kafka_bootstrap: str | None = Field(None, description="host:port[,host:port...]; unset: embedded broker")
    # a SecretStr because a Redis URL may carry a password (redis://:pw@host:6379/0); masked when printed
    redis_url: SecretStr | None = Field(None, description="redis://host:port/db; unset: embedded Redis")
    client_id: str = Field("lanewatch", description="Kafka client id prefix")
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus /metrics and /healthz port; 0 picks a free one")
    metrics_addr: str = "0.0.0.0"
    max_payload_bytes: int = Field(32 * 2**20, gt=0, description="larger scan payloads are dead-lettered")
    # stock Apache Kafka refuses records over ~1 MB (message.max.bytes), and librdkafka's mock broker keeps
    # only 5 MiB per partition: payloads above this go to Redis (claim-check) and the record carries the key
    claim_check_bytes: int = Field(512 * 1024, ge=0, description="payloads larger than this travel via Redis")
    blob_ttl_s: int = Field(900, gt=0, description="lifetime of a claim-check blob in Redis")
    log_level: str = "INFO"

    @property
    def embedded(self) -> bool:
        """True when Kafka or Redis is not configured, so the embedded stack must supply it."""
        return self.kafka_bootstrap is None or self.redis_url is None

    @property
    def redis_url_for_logs(self) -> str | None:
        return None if self.redis_url is None else redact_url(self.redis_url.get_secret_value())
