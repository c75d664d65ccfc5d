"""Secure defaults: Kafka TLS/SASL and Redis ACL/TLS settings, their checks, and metrics on loopback."""

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from pipeline.kafka import kafka_client_config
from pipeline.metrics import serve_metrics
from pipeline.settings import CommonSettings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in CommonSettings.model_fields:
        monkeypatch.delenv(f"LANEWATCH_{name.upper()}", raising=False)


@pytest.fixture()
def pem(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


SASL = dict(kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="svc", kafka_sasl_password="hunter2")


def test_plaintext_is_the_default_and_adds_nothing():
    assert kafka_client_config(CommonSettings()) == {"security_protocol": "PLAINTEXT"}


def test_ssl_passes_the_files(pem):
    s = CommonSettings(kafka_security_protocol="SSL", kafka_ssl_cafile=pem, kafka_ssl_certfile=pem, kafka_ssl_keyfile=pem)
    assert kafka_client_config(s) == {"security_protocol": "SSL", "ssl_cafile": str(pem), "ssl_certfile": str(pem),
                                      "ssl_keyfile": str(pem)}


def test_sasl_plaintext_passes_the_login():
    s = CommonSettings(kafka_security_protocol="SASL_PLAINTEXT", **SASL)
    assert kafka_client_config(s) == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                                      "sasl_plain_username": "svc", "sasl_plain_password": "hunter2"}


def test_sasl_ssl_passes_both_and_masks_the_password(monkeypatch, pem):
    monkeypatch.setenv("LANEWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LANEWATCH_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("LANEWATCH_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("LANEWATCH_KAFKA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("LANEWATCH_KAFKA_SSL_CAFILE", str(pem))
    s = CommonSettings()
    config = kafka_client_config(s)
    assert config == {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_plain_username": "svc",
                      "sasl_plain_password": "hunter2", "ssl_cafile": str(pem)}
    assert "hunter2" not in repr(config) and "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())


@pytest.mark.parametrize("given,missing", [
    ({}, "LANEWATCH_KAFKA_SASL_MECHANISM, LANEWATCH_KAFKA_SASL_USERNAME, LANEWATCH_KAFKA_SASL_PASSWORD"),
    ({"kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "svc"}, "LANEWATCH_KAFKA_SASL_PASSWORD"),
])
def test_sasl_needs_mechanism_user_and_password(given, missing):
    with pytest.raises(ValidationError) as err:
        CommonSettings(kafka_security_protocol="SASL_SSL", **given)
    assert err.value.errors()[0]["msg"] == f"Value error, LANEWATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs {missing}"


def test_credentials_without_a_protocol_that_uses_them_are_refused(pem):
    # otherwise the client would connect in the clear, without them, and nobody would notice
    with pytest.raises(ValidationError, match="LANEWATCH_KAFKA_SASL_\\* is set but LANEWATCH_KAFKA_SECURITY_PROTOCOL=SSL"):
        CommonSettings(kafka_security_protocol="SSL", **SASL)
    with pytest.raises(ValidationError, match="LANEWATCH_KAFKA_SSL_\\* is set but .*=SASL_PLAINTEXT"):
        CommonSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_ssl_cafile=pem, **SASL)
    with pytest.raises(ValidationError, match="kafka_security_protocol"):
        CommonSettings(kafka_security_protocol="TLS")
    with pytest.raises(ValidationError, match="kafka_sasl_mechanism"):
        CommonSettings(kafka_security_protocol="SASL_SSL", **{**SASL, "kafka_sasl_mechanism": "GSSAPI"})
    with pytest.raises(ValidationError, match="CERTFILE and LANEWATCH_KAFKA_SSL_KEYFILE go together"):
        CommonSettings(kafka_security_protocol="SSL", kafka_ssl_certfile=pem)


def test_a_missing_ca_file_is_one_clear_line_without_the_secrets(tmp_path):
    with pytest.raises(ValidationError) as err:
        CommonSettings(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=tmp_path / "nope.pem", **SASL)
    assert f"LANEWATCH_KAFKA_SSL_CAFILE: {tmp_path / 'nope.pem'} does not exist or is not a file" in str(err.value)
    assert err.value.error_count() == 1 and "hunter2" not in str(err.value)


def test_redis_user_and_ca_go_into_the_url_every_client_is_made_from(pem):
    s = CommonSettings(redis_url="rediss://:s3cret@redis:6380/1", redis_username="lane svc", redis_tls_cafile=pem)
    assert s.redis_url.get_secret_value() == f"rediss://lane%20svc:s3cret@redis:6380/1?ssl_ca_certs={str(pem).replace('/', '%2F')}"
    assert s.redis_url_for_logs.startswith("rediss://lane%20svc:***@redis:6380/1?ssl_ca_certs=")
    again = CommonSettings(redis_url=s.redis_url, redis_username="lane svc", redis_tls_cafile=pem)
    assert again.redis_url == s.redis_url  # a child process given both the URL and the settings gets the same


def test_redis_login_settings_that_contradict_are_refused(pem):
    with pytest.raises(ValidationError, match="needs a rediss:// LANEWATCH_REDIS_URL") as err:
        CommonSettings(redis_url="redis://:s3cret@redis:6379/0", redis_tls_cafile=pem)
    assert "s3cret" not in str(err.value)
    with pytest.raises(ValidationError, match="names user alice: give the user in one of them"):
        CommonSettings(redis_url="redis://alice:s3cret@redis:6379/0", redis_username="bob")
    with pytest.raises(ValidationError, match="need LANEWATCH_REDIS_URL"):
        CommonSettings(redis_username="bob")


def test_metrics_listen_on_loopback_unless_told(monkeypatch):
    assert CommonSettings().metrics_host == "127.0.0.1"
    monkeypatch.setenv("LANEWATCH_METRICS_HOST", "0.0.0.0")
    assert CommonSettings().metrics_host == "0.0.0.0"
    server = serve_metrics(CollectorRegistry())
    try:
        assert server.host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as r:
            assert r.status == 200
    finally:
        server.close()


def test_metrics_can_listen_everywhere_when_configured():
    server = serve_metrics(CollectorRegistry(), addr="0.0.0.0")
    try:
        assert server.host == "0.0.0.0"
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            pass
    finally:
        server.close()
