"""Can we reach Kafka and Redis? Asked once at start-up, with a short timeout, so a wrong address is one clear line.

The clients themselves retry for a minute or more and then fail with their own tracebacks (kafka-python's
`KafkaTimeoutError`, endless ECONNREFUSED lines); a service or command that calls these first says
`cannot reach Kafka at 127.0.0.1:1: connection refused` and stops.
"""

from __future__ import annotations

import socket

import redis

from pipeline.settings import redact_url

__all__ = ["Unreachable", "check_kafka", "check_redis"]


class Unreachable(ConnectionError):
    """Kafka or Redis did not answer at the configured address."""


def _reason(err: BaseException) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, TimeoutError | socket.timeout):
        return "no answer (timed out)"
    if isinstance(err, socket.gaierror):
        return "unknown host"
    return str(err) or type(err).__name__


def check_kafka(bootstrap: str, *, timeout_s: float = 5.0) -> None:
    """A TCP connection to at least one of the bootstrap servers (`host:port,host:port`), else `Unreachable`."""
    reasons = []
    for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=timeout_s):
                return
        except ValueError:
            reasons.append(f"{server}: not host:port")
        except OSError as err:
            reasons.append(_reason(err))
    raise Unreachable(f"cannot reach Kafka at {bootstrap}: {'; '.join(reasons) or 'no servers given'}")


def check_redis(url: str, *, timeout_s: float = 5.0) -> None:
    """A PING answered at `url`, else `Unreachable` (the password, if any, left out of the message)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        client.ping()
    except redis.AuthenticationError as err:
        raise Unreachable(f"Redis at {redact_url(url)} refused the credentials: {err}") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as err:
        cause = err.__cause__ or err.__context__ or err
        raise Unreachable(f"cannot reach Redis at {redact_url(url)}: {_reason(cause) if isinstance(cause, OSError) else err}") from None
    finally:
        client.close()
