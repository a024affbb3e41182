"""A TCP proxy in front of one broker's listener: network faults on the local backend, without root.

A proxy in front of the *bootstrap* address does not work with Kafka, because clients follow the
addresses brokers advertise. This one stands where the broker's advertised listener points, so
every client and every follower replica that talks to that broker goes through it. It can delay
what it forwards (latency with jitter, order kept) and cut the broker off: refuse new connections
and drop the open ones. It cannot tell peers apart (every local node connects from 127.0.0.1), and
it sees only traffic *to* the broker's listener: the broker's own fetches from other leaders and
its heartbeats to the controllers are not affected. The docker backend has none of those limits.

`python -m harness.runtime.faultproxy LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT CONTROL_FILE`;
the control file holds `{"delay_ms": 0, "jitter_ms": 0, "cut": false}` and is re-read when it changes.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CHUNK = 64 * 1024


@dataclass
class Impairment:
    delay_ms: int = 0
    jitter_ms: int = 0
    cut: bool = False

    @classmethod
    def read(cls, path: Path) -> Impairment:
        try:
            return cls.parse(path.read_text())
        except OSError:
            return cls()

    @classmethod
    def parse(cls, text: str) -> Impairment:
        try:
            data = json.loads(text)
        except ValueError:
            return cls()
        return cls(int(data.get("delay_ms", 0)), int(data.get("jitter_ms", 0)), bool(data.get("cut", False)))

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__))
        tmp.replace(path)

    def apply(self, path: Path, timeout: float = 10.0) -> None:
        """Write, then wait until the proxy has read it (it echoes the file into `<control>.applied`)."""
        from harness.runtime.readiness import wait_for

        self.write(path)
        wanted = path.read_text()
        wait_for(lambda: applied_path(path).read_text() == wanted, what=f"the fault proxy to apply {path}", timeout=timeout, interval=0.05)

    def latency_s(self) -> float:
        jitter = random.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0
        return max(0.0, self.delay_ms + jitter) / 1000


def applied_path(control: Path) -> Path:
    return control.with_suffix(".applied")


class FaultProxy:
    def __init__(self, target: tuple[str, int], control: Path) -> None:
        self.target, self.control = target, control
        self.impairment = Impairment.read(control)
        self._text: str | None = None  # the control file's content in force; None: not read yet
        self._connections: set[asyncio.StreamWriter] = set()

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.impairment.cut:
            client_writer.transport.abort()
            return
        self._connections.add(client_writer)  # known before the upstream connect yields, so a cut meanwhile reaches it
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._connections.discard(client_writer)
            client_writer.transport.abort()
            return
        self._connections.add(upstream_writer)
        try:
            if self.impairment.cut:  # cut while this connection was being set up: it must not outlive the cut
                return
            await asyncio.gather(self._pump(client_reader, upstream_writer), self._pump(upstream_reader, client_writer))
        finally:
            for writer in (client_writer, upstream_writer):
                self._connections.discard(writer)
                writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward chunks, each no earlier than its arrival plus the latency, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.write_eof() if writer.can_write_eof() else None
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(CHUNK):
                queue.put_nowait((time.monotonic() + self.impairment.latency_s(), data))
            queue.put_nowait((time.monotonic(), b""))
            await sender
        except (ConnectionError, OSError):
            pass
        finally:
            sender.cancel()

    async def watch_control(self) -> None:
        while True:
            try:
                text = self.control.read_text()
            except OSError:
                text = ""
            # The content, not the modification time (two writes within one clock tick share it), read once: parsed
            # and echoed from the same read, so "applied" never confirms a newer file than the one in force.
            if text != self._text:
                self._text = text
                self.impairment = Impairment.parse(text)
                if self.impairment.cut:
                    for writer in list(self._connections):
                        writer.transport.abort()
                try:  # last: "applied" means open connections are already cut
                    applied_path(self.control).write_text(text)
                except OSError:
                    pass
            await asyncio.sleep(0.1)


async def serve(listen: tuple[str, int], target: tuple[str, int], control: Path) -> None:
    proxy = FaultProxy(target, control)
    server = await asyncio.start_server(proxy.handle, *listen, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.ensure_future(proxy.watch_control())
    async with server:
        await stop.wait()
    watcher.cancel()


def main(argv: list[str]) -> int:
    listen_host, listen_port, target_host, target_port, control = argv
    asyncio.run(serve((listen_host, int(listen_port)), (target_host, int(target_port)), Path(control)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
