"""Can we reach Kafka and Redis? Asked once at start-up, with a short timeout, so a wrong address is one clear line.

The clients themselves retry for a minute or more and then fail with their own tracebacks (kafka-python's
`KafkaTimeoutError`, endless ECONNREFUSED lines); a service or command that calls these first says
`cannot reach Kafka at 127.0.0.1:1: connection refused` and stops. Given the Kafka clients' security
keywords (`kafka_client_config`), the Kafka check also completes the TLS handshake, so a TLS client pointed at
a plaintext listener, or a broker certificate the CA file does not vouch for, is one line too.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping

import redis

from pipeline.settings import redact_url

__all__ = ["Unreachable", "check_kafka", "check_redis"]


class Unreachable(ConnectionError):
    """Kafka or Redis did not answer at the configured address."""


class _Dropped(OSError):
    """The server closed the connection during the TLS handshake."""


def _reason(err: BaseException) -> str:
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({err.verify_message})"
    if isinstance(err, ssl.SSLError | _Dropped):
        return f"TLS handshake failed ({getattr(err, 'reason', None) or err}): is it a TLS listener?"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, TimeoutError | socket.timeout):
        return "no answer (timed out)"
    if isinstance(err, socket.gaierror):
        return "unknown host"
    return str(err) or type(err).__name__


def _tls_context(config: Mapping[str, object]) -> ssl.SSLContext | None:
    """What kafka-python will check, from its keywords: the CA file (else the system's) and a client certificate."""
    if not str(config.get("security_protocol", "PLAINTEXT")).endswith("SSL"):
        return None
    context = ssl.create_default_context(cafile=config.get("ssl_cafile"))
    if config.get("ssl_certfile"):
        context.load_cert_chain(config["ssl_certfile"], config.get("ssl_keyfile"))
    return context


def _handshake(tls: ssl.SSLContext, sock: socket.socket, host: str) -> None:
    try:
        tls.wrap_socket(sock, server_hostname=host).close()  # the handshake happens on wrapping
    except ConnectionResetError:  # a plaintext Kafka listener drops the ClientHello as a malformed request
        raise _Dropped("the server closed the connection") from None


def check_kafka(bootstrap: str, *, timeout_s: float = 5.0, config: Mapping[str, object] | None = None) -> None:
    """A TCP connection to at least one of the bootstrap servers (`host:port,host:port`), with the TLS handshake
    when `config` (`kafka_client_config(settings)`) asks for TLS; else `Unreachable`."""
    tls, reasons = _tls_context(config or {}), []
    for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
        host, _, port = server.rpartition(":")
        host = host.strip("[]") or "localhost"
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
                if tls is not None:
                    _handshake(tls, sock, host)
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
