import socket
import time

import pytest

from pipeline.reach import Unreachable, check_kafka, check_redis


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_a_listening_server_is_reachable_and_a_closed_port_says_so_in_one_line():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        check_kafka(f"127.0.0.1:{_closed_port()},127.0.0.1:{port}")  # one of the bootstrap servers is enough
    closed = _closed_port()
    t = time.monotonic()
    with pytest.raises(Unreachable, match=rf"^cannot reach Kafka at 127.0.0.1:{closed}: connection refused$"):
        check_kafka(f"127.0.0.1:{closed}")
    assert time.monotonic() - t < 5
    with pytest.raises(Unreachable, match="not host:port"):
        check_kafka("localhost")


def test_redis_unreachable_names_the_address_without_the_password():
    closed = _closed_port()
    with pytest.raises(Unreachable) as err:
        check_redis(f"redis://:hunter2@127.0.0.1:{closed}/0")
    assert str(err.value) == f"cannot reach Redis at redis://:***@127.0.0.1:{closed}/0: connection refused"


def test_a_service_with_a_wrong_kafka_address_stops_at_once():
    from services.alert import AlertSettings, make_stage
    from services.runner import serve

    settings = AlertSettings(kafka_bootstrap=f"127.0.0.1:{_closed_port()}", redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    t = time.monotonic()
    assert serve(make_stage(settings), settings) == 1
    assert time.monotonic() - t < 10
