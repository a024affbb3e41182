"""The local backend's fault proxy: latency and cut-off without root, and what it covers."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.runtime.faultproxy import FaultProxy, Impairment
from harness.runtime.readiness import free_port


@pytest.fixture
def echo_through_proxy(tmp_path: Path) -> Iterator[tuple[tuple[str, int], Path]]:
    """An echo server behind a fault proxy on an event loop thread; yields (proxy address, control file).
    The loop is shut down cleanly (tasks cancelled and awaited) so nothing is left to the garbage collector."""
    control = tmp_path / "proxy.json"
    Impairment().write(control)
    echo_port, proxy_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    ready, stop = threading.Event(), None

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        proxy = FaultProxy(("127.0.0.1", echo_port), control)
        servers = [await asyncio.start_server(echo, "127.0.0.1", echo_port),
                   await asyncio.start_server(proxy.handle, "127.0.0.1", proxy_port)]
        watcher = asyncio.ensure_future(proxy.watch_control())
        ready.set()
        await stop.wait()
        for server in servers:
            server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in [watcher, *others]:
            task.cancel()
        await asyncio.gather(watcher, *others, return_exceptions=True)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(5)
    try:
        yield ("127.0.0.1", proxy_port), control
    finally:
        loop.call_soon_threadsafe(stop.set)  # type: ignore[union-attr]
        thread.join(5)
        loop.close()


def _refused(address: tuple[str, int]) -> bool:
    """The proxy drops a connection under a cut: the client sees a reset or an end of stream, never an echo."""
    try:
        with socket.create_connection(address, timeout=10) as conn:
            conn.sendall(b"ping")
            return conn.recv(16) == b""
    except OSError:
        return True


def _round_trip(address: tuple[str, int]) -> float:
    with socket.create_connection(address, timeout=5) as conn:
        started = time.perf_counter()
        conn.sendall(b"ping")
        assert conn.recv(16) == b"ping"
        return time.perf_counter() - started


def test_delay_applies_each_way_and_heals(echo_through_proxy: tuple[tuple[str, int], Path]) -> None:
    """The delay is a lower bound (it holds on any machine); its removal is judged against the delayed
    round trips of the same run, never against a fixed time a loaded machine may miss."""
    address, control = echo_through_proxy
    Impairment(delay_ms=200).apply(control)  # returns once the proxy has read it
    delayed = [_round_trip(address) for _ in range(3)]
    assert min(delayed) >= 0.4  # 200 ms to the server and 200 ms back
    Impairment().apply(control)
    healed = sorted(_round_trip(address) for _ in range(3))
    assert healed[1] < min(delayed) - 0.2, f"healed {healed} vs delayed {delayed}"


def test_cut_drops_open_connections_and_refuses_new_ones(echo_through_proxy: tuple[tuple[str, int], Path]) -> None:
    address, control = echo_through_proxy
    open_conn = socket.create_connection(address, timeout=10)
    Impairment(cut=True).apply(control)  # returns once the proxy has cut the open connections
    with pytest.raises(OSError):
        open_conn.sendall(b"x")
        if not open_conn.recv(16):
            raise ConnectionResetError("closed by the proxy")
    open_conn.close()
    assert _refused(address), "a new connection under the cut was served"
    Impairment().apply(control)
    _round_trip(address)  # connects and echoes again: raises while the cut holds


@pytest.mark.slow
def test_local_twin_with_fault_proxies(isolated_runs: Path, tmp_path: Path) -> None:
    """Clients reach a broker through its proxy: delayed, then cut off for the partitions it leads, then healed."""
    from harness.backends import new_deployment
    from harness.kafka import admin
    from harness.kafka.clients import producer
    from harness.topology.loader import load_profile

    data = load_profile("dev").model_dump(mode="json")
    data["kafka"]["fault_proxy"] = True
    profile = tmp_path / "dev-proxy.yaml"
    profile.write_text(yaml.safe_dump(data))
    twin = new_deployment(str(profile), "proxy-test")
    twin.start()
    try:
        assert twin.network_control() is twin
        admin.create_topic(twin.bootstrap_servers, "proxied", partitions=3, replication_factor=3)
        victim = twin.node_id("wn0-kafka")
        partitions = admin.describe(twin.bootstrap_servers, "proxied").partitions
        led = next(p.partition for p in partitions if p.leader == victim)
        other = next(p.partition for p in partitions if p.leader != victim)

        endpoint = twin.client_endpoint("wn0-kafka")
        twin.impair_network("wn0-kafka", delay_ms=300)
        started = time.perf_counter()
        admin.brokers(endpoint, timeout=10)
        assert time.perf_counter() - started >= 0.6
        twin.partition("wn0-kafka")
        assert _send(producer, twin.bootstrap_servers, "proxied", other) is None
        assert _send(producer, twin.bootstrap_servers, "proxied", led) is not None  # its leader is unreachable
        twin.heal_network()
        assert _send(producer, twin.bootstrap_servers, "proxied", led) is None
    finally:
        twin.stop()


def _send(make_producer, bootstrap: str, topic: str, partition: int) -> str | None:  # noqa: ANN001
    """Produce one record to one partition with acks=all; the error, or None when acknowledged."""
    outcome: list[str | None] = []
    client = make_producer(bootstrap, **{"message.timeout.ms": 6000, "acks": "all"})
    client.produce(topic, value=b"x", partition=partition, on_delivery=lambda err, _msg: outcome.append(str(err) if err else None))
    client.flush(15)
    return outcome[0] if outcome else "no delivery report"
