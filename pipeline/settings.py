"""Settings shared by every service, read from `LANEWATCH_*` environment variables.

Each service later gets its own frozen subclass (`class DetectSettings(CommonSettings)`);
its fields read the same prefix, e.g. `LANEWATCH_MAX_BATCH`. With neither
`LANEWATCH_KAFKA_BOOTSTRAP` nor `LANEWATCH_REDIS_URL` set, `lanewatch` starts
the embedded stack (`services/tools/stack.py`).

Secure by default: metrics listen on 127.0.0.1 only, Kafka security settings that do not fit
together are refused at start-up (SASL credentials with a PLAINTEXT protocol would otherwise
connect without them), and secrets are `SecretStr`, masked when printed. Validation errors never
echo the input (`hide_input_in_errors`), so a mistyped URL does not print its password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CommonSettings", "redact_url"]

KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
_CA_QUERY = "ssl_ca_certs"  # redis-py passes unknown URL query arguments to the connection as keywords


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
    """What every service needs: where Kafka and Redis are and how to log in, payload limits, metrics address."""

    model_config = SettingsConfigDict(env_prefix="LANEWATCH_", frozen=True, extra="ignore", hide_input_in_errors=True)

    kafka_bootstrap: str | None = Field(None, description="host:port[,host:port...]; unset: embedded broker")
    kafka_security_protocol: KafkaProtocol = Field("PLAINTEXT", description="how Kafka clients connect")
    kafka_sasl_mechanism: SaslMechanism | None = Field(None, description="SASL_*: how the client logs in")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(None, description="SSL, SASL_SSL: CA bundle (PEM); unset: system CAs")
    kafka_ssl_certfile: Path | None = Field(None, description="SSL, SASL_SSL: client certificate (PEM), mutual TLS")
    kafka_ssl_keyfile: Path | None = Field(None, description="SSL, SASL_SSL: the client certificate's key (PEM)")
    # server certificates are always verified (kafka-python checks the chain and the host name)
    # a SecretStr because a Redis URL may carry a password (redis://:pw@host:6379/0); masked when printed
    redis_url: SecretStr | None = Field(None, description="redis[s]://[user:password@]host:port/db; unset: embedded")
    redis_username: str | None = Field(None, description="Redis ACL user (Redis 6+); written into redis_url")
    redis_tls_cafile: Path | None = Field(None, description="rediss:// only: CA bundle (PEM); written into redis_url")
    redis_namespace: str = Field("lw", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                                 description="first part of every Redis key (lw:lane:...): pipelines sharing a Redis "
                                             "keep apart with their own, as topic_prefix keeps their topics apart")
    client_id: str = Field("lanewatch", description="Kafka client id prefix")
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus /metrics and /healthz port; 0 picks a free one")
    metrics_host: str = Field("127.0.0.1", description="address /metrics and /healthz listen on; 0.0.0.0: every interface")
    max_payload_bytes: int = Field(32 * 2**20, gt=0, description="larger scan payloads are dead-lettered")
    # stock Apache Kafka refuses records over ~1 MB (message.max.bytes), and librdkafka's mock broker keeps
    # only 5 MiB per partition: payloads above this go to Redis (claim-check) and the record carries the key
    claim_check_bytes: int = Field(512 * 1024, ge=0, description="payloads larger than this travel via Redis")
    blob_ttl_s: int = Field(900, gt=0, description="lifetime of a claim-check blob in Redis")
    log_level: str = "INFO"

    @field_validator("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile", "redis_tls_cafile")
    @classmethod
    def _file_exists(cls, path: Path | None, info) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"LANEWATCH_{info.field_name.upper()}: {path} does not exist or is not a file")
        return path

    @model_validator(mode="after")
    def _kafka_security_fits(self) -> CommonSettings:
        sasl = {"MECHANISM": self.kafka_sasl_mechanism, "USERNAME": self.kafka_sasl_username,
                "PASSWORD": self.kafka_sasl_password}
        ssl = {"CAFILE": self.kafka_ssl_cafile, "CERTFILE": self.kafka_ssl_certfile, "KEYFILE": self.kafka_ssl_keyfile}
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL_"):
            missing = [f"LANEWATCH_KAFKA_SASL_{k}" for k, v in sasl.items() if not v]
            if missing:
                raise ValueError(f"LANEWATCH_KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}")
        elif any(sasl.values()):
            raise ValueError(f"LANEWATCH_KAFKA_SASL_* is set but LANEWATCH_KAFKA_SECURITY_PROTOCOL={protocol}: "
                             "use SASL_SSL or SASL_PLAINTEXT, or unset them")
        if not protocol.endswith("SSL") and any(ssl.values()):
            raise ValueError(f"LANEWATCH_KAFKA_SSL_* is set but LANEWATCH_KAFKA_SECURITY_PROTOCOL={protocol}: "
                             "use SSL or SASL_SSL, or unset them")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            # kafka-python loads a client certificate only when given both, and silently skips one alone
            raise ValueError("LANEWATCH_KAFKA_SSL_CERTFILE and LANEWATCH_KAFKA_SSL_KEYFILE go together: set both or neither")
        return self

    @model_validator(mode="after")
    def _redis_login_in_url(self) -> CommonSettings:
        # Every Redis client is made from the URL (redis.Redis.from_url), so the ACL user and the CA bundle
        # go into it once here rather than into each caller: `rediss://user:pw@host/0?ssl_ca_certs=ca.pem`.
        if self.redis_username is None and self.redis_tls_cafile is None:
            return self
        if self.redis_url is None:
            raise ValueError("LANEWATCH_REDIS_USERNAME and LANEWATCH_REDIS_TLS_CAFILE need LANEWATCH_REDIS_URL")
        parts = urlsplit(self.redis_url.get_secret_value())
        netloc, query = parts.netloc, dict(parse_qsl(parts.query))
        if self.redis_username is not None:
            if parts.username and unquote(parts.username) != self.redis_username:
                raise ValueError(f"LANEWATCH_REDIS_USERNAME={self.redis_username} but LANEWATCH_REDIS_URL names "
                                 f"user {unquote(parts.username)}: give the user in one of them")
            login = quote(self.redis_username, safe="") + (f":{parts.password}" if parts.password is not None else "")
            netloc = f"{login}@{netloc.rpartition('@')[2]}"
        if self.redis_tls_cafile is not None:
            if parts.scheme != "rediss":
                raise ValueError("LANEWATCH_REDIS_TLS_CAFILE needs a rediss:// LANEWATCH_REDIS_URL (TLS)")
            if query.get(_CA_QUERY, str(self.redis_tls_cafile)) != str(self.redis_tls_cafile):
                raise ValueError(f"LANEWATCH_REDIS_URL names another {_CA_QUERY} than LANEWATCH_REDIS_TLS_CAFILE")
            query[_CA_QUERY] = str(self.redis_tls_cafile)
        url = urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
        object.__setattr__(self, "redis_url", SecretStr(url))  # still constructing: frozen applies after this
        return self

    @property
    def embedded(self) -> bool:
        """True when Kafka or Redis is not configured, so the embedded stack must supply it."""
        return self.kafka_bootstrap is None or self.redis_url is None

    @property
    def redis_url_for_logs(self) -> str | None:
        return None if self.redis_url is None else redact_url(self.redis_url.get_secret_value())
