"""The one place that waits for something to become ready.

Every wait races the condition against the death of the processes it depends on, so a broker
that fails to start fails the wait at once, with the tail of its log, instead of after a time-out.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from harness.runtime.processes import ProcessRecord, check_interrupted, is_alive, log_tail
from harness.errors import NotReadyError

T = TypeVar("T")


def wait_for(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    watch: Sequence[ProcessRecord] = (),
    guard: Callable[[], None] | None = None,
    interval: float = 0.25,
) -> T:
    """Call `check` until it returns something other than None (or False); it may raise to say 'not yet'.

    `guard` is for dependencies that are not local processes (containers): it raises when one died."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        check_interrupted()
        for record in watch:
            if not is_alive(record):
                raise NotReadyError(
                    f"{record.name} exited while waiting for {what}",
                    detail=f"last lines of {record.log}:\n{log_tail(record.log)}",
                    hint="fix the cause in the log above; the run directory keeps every node's log",
                )
        if guard is not None:
            guard()
        try:
            result = check()
            if result is not None and result is not False:
                return result
        except Exception as exc:  # noqa: BLE001 - any failure of a probe means "not ready yet"
            last_error = exc
        if time.monotonic() >= deadline:
            tails = "\n".join(f"--- {r.name} ({r.log}):\n{log_tail(r.log, 10)}" for r in watch)
            why = f" (last probe error: {last_error})" if last_error else ""
            raise NotReadyError(f"timed out after {timeout:.0f}s waiting for {what}{why}", detail=tails or None)
        time.sleep(interval)


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
