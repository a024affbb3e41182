"""The one place that starts and stops operating-system processes.

Every process gets its own session (so Ctrl-C in the user's terminal reaches the harness, which
then stops its children in order, instead of killing brokers mid-write), its output in a log file,
and a record of (pid, create time) so a later `harness down` never signals a recycled pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class ProcessRecord:
    """A process the harness launched. `started_after_boot` (seconds from boot to its start, as the kernel
    counts them) tells it from a later process that got its pid; `create_time` is the same instant on the
    wall clock, which moves when the clock is set (a VM resumed, time synced), so it only decides for records
    written before `started_after_boot` existed."""

    name: str
    pid: int
    create_time: float
    log: str
    started_after_boot: float | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ProcessRecord:
        after_boot = data.get("started_after_boot")
        return cls(name=str(data["name"]), pid=int(data["pid"]), create_time=float(data["create_time"]), log=str(data["log"]),  # type: ignore[arg-type]
                   started_after_boot=float(after_boot) if after_boot is not None else None)  # type: ignore[arg-type]


def _started_after_boot(proc: psutil.Process) -> float:
    """Seconds from boot to the process's start: the kernel's tick count (`starttime` in /proc/PID/stat), free
    of wall-clock steps; psutil's create_time adds to it a boot time read afresh from a wall-clock-based value."""
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return proc.create_time() - psutil.boot_time()


def launch(name: str, argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> tuple[ProcessRecord, subprocess.Popen[bytes]]:
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=full_env, cwd=cwd, start_new_session=True,
        )
    try:
        launched = psutil.Process(proc.pid)
        created, after_boot = launched.create_time(), _started_after_boot(launched)
    except psutil.NoSuchProcess:
        created, after_boot = 0.0, None
    return ProcessRecord(name=name, pid=proc.pid, create_time=created, log=str(log), started_after_boot=after_boot), proc


def _process(record: ProcessRecord) -> psutil.Process | None:
    try:
        proc = psutil.Process(record.pid)
        if record.started_after_boot is not None:
            if abs(_started_after_boot(proc) - record.started_after_boot) > 0.5:
                return None  # the pid was recycled by an unrelated process
        elif record.create_time and abs(proc.create_time() - record.create_time) > 1.0:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.NoSuchProcess:
        return None


def is_alive(record: ProcessRecord) -> bool:
    return _process(record) is not None


def state_of(record: ProcessRecord) -> str:
    return "exited" if _process(record) is None else pid_state(record.pid)


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (a container's processes, seen from the host)."""
    try:
        root = psutil.Process(pid)
        return [root.pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def pid_state(pid: int) -> str:
    """"paused" (stopped by a signal), "running" or "exited", for a process the harness did not launch."""
    try:
        status = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return "exited"
    if status == psutil.STATUS_ZOMBIE:
        return "exited"
    return "paused" if status == psutil.STATUS_STOPPED else "running"


def signal_pid(pid: int, sig: signal.Signals) -> bool:
    """Signal one process; False when it is gone."""
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def send(record: ProcessRecord, sig: signal.Signals) -> bool:
    """Signal the process's whole group (its session), so helper children go too."""
    proc = _process(record)
    if proc is None:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(record.pid, sig)
        return True
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(sig)
    return True


def terminate(records: Sequence[ProcessRecord], *, grace: float = 15.0,
              finished: Callable[[ProcessRecord], bool] | None = None) -> None:
    """SIGTERM every process at once (a paused one is resumed first), wait until they exit or the grace
    period ends (psutil's wait, which also reaps our children), then SIGKILL the rest. `finished` names
    a fact after which a process still shutting down has nothing left worth waiting for: it is killed then."""
    live = [r for r in records if is_alive(r)]
    for record in live:
        send(record, signal.SIGCONT)
        send(record, signal.SIGTERM)
    waiting = {p.pid: (r, p) for r, p in ((r, _process(r)) for r in live) if p is not None}
    deadline = time.monotonic() + grace
    while waiting and time.monotonic() < deadline:
        _, still = psutil.wait_procs([p for _, p in waiting.values()], timeout=min(0.2, max(0.0, deadline - time.monotonic())))
        waiting = {p.pid: waiting[p.pid] for p in still}
        for record, _ in list(waiting.values()):
            if finished is not None and finished(record):
                send(record, signal.SIGKILL)
    for record, _ in waiting.values():
        send(record, signal.SIGKILL)
    for record in records:
        reap(record)


def reap(record: ProcessRecord, timeout: float = 5.0) -> None:
    """Collect the exit status of a child of ours, so no zombie lingers in a long pytest session."""
    try:
        os.waitpid(record.pid, os.WNOHANG)  # not a child of ours: ChildProcessError, nothing to reap
        psutil.Process(record.pid).wait(timeout=timeout)  # reaps a child once it exits
    except (ChildProcessError, psutil.NoSuchProcess, psutil.TimeoutExpired):
        return


def log_tail(path: str | Path, lines: int = 25) -> str:
    text = read_tail(path, 256_000)
    return f"(no log at {path})" if text is None else excerpt(text, lines)


def read_tail(path: str | Path, limit: int) -> str | None:
    """The last `limit` bytes of a log, or None when there is none: a JVM's log grows for as long as it runs."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return None


def excerpt(text: str, lines: int = 25) -> str:
    """The last lines of a log, preceded by its first errors: a JVM's shutdown chatter and stack
    frames often bury the one line that says what was wrong."""
    all_lines = text.splitlines()
    tail = all_lines[-lines:]
    errors: list[str] = []
    for i, line in enumerate(all_lines[:-lines]):
        if len(errors) < 9 and (" ERROR " in line or " FATAL " in line or line.startswith(("Exception", "Caused by", "java.", "org.apache"))):
            errors.extend(all_lines[i : i + 2])  # the error and the exception message under it
    if errors:
        return "\n".join(["first errors:", *errors, "last lines:", *tail])
    return "\n".join(tail)


INTERRUPTED = threading.Event()
"""Set by Ctrl-C or SIGTERM. A KeyboardInterrupt raised while Python runs a finaliser is swallowed
("Exception ignored in ..."), so every wait loop also checks this flag."""
_ACTIVE = threading.Event()
_DEFERRED: list[int] = []  # signals that arrived inside `interrupts_deferred`, raised when it ends
_DEFERRING = threading.Event()


def _on_signal(signum: int, frame: object) -> None:
    if _DEFERRING.is_set():
        _DEFERRED.append(signum)
        return
    INTERRUPTED.set()
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C or SIGTERM inside the block is raised when the block ends, not in its middle. A process launch and
    the write of its record go in one such block: an interrupt between them left a broker running that no
    record named, so no stop found it."""
    if threading.current_thread() is not threading.main_thread() or _DEFERRING.is_set():
        yield  # signals reach only the main thread; a nested block is already covered
        return
    _DEFERRING.set()
    try:
        with _handled_here():
            yield
    finally:
        _DEFERRING.clear()
        if _DEFERRED:
            signum = _DEFERRED[0]
            _DEFERRED.clear()
            signal.raise_signal(signum)  # whatever handled it before the block handles it now


@contextlib.contextmanager
def _handled_here() -> Iterator[None]:
    """SIGINT and SIGTERM go to `_on_signal` for the block; the handlers in force before it are back after it."""
    previous = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


def stopping_after_interrupt() -> None:
    """Stopping what was started is how an interrupt is handled, so the stop's own waits run to their end: the flag
    of the interrupt that led here is cleared. A further Ctrl-C or SIGTERM still raises at once and cuts it short."""
    INTERRUPTED.clear()


def check_interrupted() -> None:
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt("interrupted")


def reinstall_interrupt_handlers() -> None:
    """pyspark installs its own SIGINT handler when a SparkContext starts; put ours back."""
    if _ACTIVE.is_set() and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C for the duration, so `finally` blocks stop what was started."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handling belongs to the main thread's caller
        return
    outer = _ACTIVE.is_set()  # nested (the pytest session's, then a fixture's): the outer one stays in force
    INTERRUPTED.clear()
    _ACTIVE.set()
    try:
        with _handled_here():
            yield
    finally:
        if not outer:
            _ACTIVE.clear()


def run_tool(argv: Sequence[str], *, what: str, timeout: float = 120.0, cwd: Path | None = None, secrets: Iterable[str] = ()) -> str:
    """Run a short-lived command to completion (a storage formatter, a perf tool); fail with its output,
    in which any of `secrets` (passwords in its arguments) is masked."""
    from harness.errors import HarnessError

    hidden = [s for s in secrets if s]

    def masked(text: str) -> str:
        for secret in hidden:
            text = text.replace(secret, "<secret>")
        return text
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"{what} did not finish within {timeout:.0f}s", detail=masked(str(exc.stdout or "")[-2000:])) from None
    if done.returncode != 0:
        raise HarnessError(f"{what} failed with exit code {done.returncode}", detail=masked(excerpt((done.stdout + done.stderr).strip(), 12)))
    return done.stdout


def resident_bytes(pids: list[int]) -> int:
    """Resident memory of processes and all their descendants, each counted once."""
    seen: set[int] = set()
    total = 0
    for pid in pids:
        try:
            family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in family:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
    return total
