"""The one place that waits: for a node to be ready, a topic to be replicated, a job to catch up.

Every wait ends on a fact the harness can observe; the time-out is the failure path only, and a wait
that gives up raises `NotReadyError` naming what it waited for and what it last saw. Every wait also
races the condition against the death of the processes it depends on, so a broker that fails to
start fails the wait at once, with the tail of its log, instead of after a time-out.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from harness.runtime.processes import ProcessRecord, check_interrupted, is_alive, log_tail
from harness.errors import NotReadyError

T = TypeVar("T")
Progress = Callable[[str], None]
"""How slow work reports what it is doing: one line at a time, to the CLI's console or nowhere."""


def quiet(_: str) -> None:
    """The progress callback of callers that want no output."""
    return None


def wait_for(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    watch: Sequence[ProcessRecord] = (),
    guard: Callable[[], None] | None = None,
    interval: float = 0.25,
    fatal: tuple[type[BaseException], ...] = (),
    last_seen: Callable[[], str] | None = None,
    progress: Progress | None = None,
    report_every: float = 5.0,
) -> T:
    """Call `check` until it returns something other than None (or False); it may raise to say 'not yet'.

    `guard` is for dependencies that are not local processes (containers): it raises when one died.
    Exceptions of the `fatal` types raised by `check` end the wait at once. `last_seen` says what was
    observed so far: it goes into the time-out error and into the `progress` line sent every
    `report_every` seconds, so a slow wait is visibly alive."""
    started = time.monotonic()
    deadline = started + timeout
    reported = started
    last_error: Exception | None = None
    while True:
        check_interrupted()
        _raise_if_exited(watch, what)
        if guard is not None:
            guard()
        try:
            result = check()
            if result is not None and result is not False:
                return result
        except fatal:
            raise
        except Exception as exc:  # noqa: BLE001 - any other failure of a probe means "not ready yet"
            last_error = exc
        now = time.monotonic()
        if now >= deadline:
            seen = f"; last seen: {last_seen()}" if last_seen is not None else ""
            why = f" (last probe error: {str(last_error) or type(last_error).__name__})" if last_error else ""
            tails = "\n".join(f"--- {r.name} ({r.log}):\n{log_tail(r.log, 10)}" for r in watch)
            raise NotReadyError(f"timed out after {timeout:.0f}s waiting for {what}{why}{seen}", detail=tails or None)
        if progress is not None and now - reported >= report_every:
            reported = now
            progress(f"waiting for {what} ({now - started:.0f}s)" + (f": {last_seen()}" if last_seen is not None else ""))
        time.sleep(interval)


def _raise_if_exited(watch: Sequence[ProcessRecord], what: str) -> None:
    for record in watch:
        if not is_alive(record):
            raise NotReadyError(
                f"{record.name} exited while waiting for {what}",
                detail=f"last lines of {record.log}:\n{log_tail(record.log)}",
                hint="fix the cause in the log above; the run directory keeps every node's log",
            )


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    """Bind-test: the only honest answer to "may I listen here?"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def zookeeper_mode(host: str, port: int, timeout: float = 2.0) -> str | None:
    """What a ZooKeeper server says it is (`leader`, `follower`, `standalone`), by its `srvr` command;
    None while it does not serve (it answers "not currently serving requests" until it has a quorum)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"srvr")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    except OSError:
        return None
    for line in answer.decode(errors="replace").splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None
