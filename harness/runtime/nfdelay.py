"""Latency and jitter for one network namespace without netem: hold each packet, then let it go.

Kernels built without netem (`CONFIG_NET_SCH_NETEM`) cannot delay packets with `tc`, but almost
every kernel has netfilter's packet queue. An iptables `NFQUEUE` rule hands each outgoing packet's
id to this process over netlink; the packet waits in the kernel until this process issues its
verdict, which it does `latency ± jitter` milliseconds later. Only metadata crosses netlink
(`NFQNL_COPY_META`), so the cost per packet is two small messages.

    nsenter -t PID -n python -m harness.runtime.nfdelay --latency 100 --jitter 20 --watch PID

runs until SIGTERM (then it releases every held packet at once) or until the watched process, the
container's init, is gone. The queue is configured to accept packets when it is full ("fail open")
and the rule to accept them when no program listens (`--queue-bypass`), so a dead delayer never
blackholes a node.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterator

NETLINK_NETFILTER = 12
SOL_NETLINK, NETLINK_NO_ENOBUFS, SO_RCVBUFFORCE = 270, 5, 33
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQNL_CFG_CMD_BIND, NFQNL_COPY_META, NFQA_CFG_F_FAIL_OPEN = 1, 1, 0x1
NF_ACCEPT = 1
QUEUE_MAXLEN = 65536


def _attribute(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * (-length % 4)


def _message(kind: int, queue: int, attributes: bytes, *, flags: int = NLM_F_REQUEST, seq: int = 0) -> bytes:
    body = struct.pack("!BBH", socket.AF_UNSPEC, 0, queue) + attributes  # nfgenmsg: family, version, res_id (big-endian)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, seq, 0) + body


def _attributes(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            return
        yield kind & 0x7FFF, data[offset + 4: offset + length]
        offset += (length + 3) & ~3


class PacketQueue:
    """One bound netfilter queue: packet ids in, verdicts out."""

    def __init__(self, number: int = 0) -> None:
        self.number = number
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self.sock.bind((0, 0))
        self._configure(_attribute(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, 0)), seq=1)
        self._configure(_attribute(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))
                        + _attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN))
                        + _attribute(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))
                        + _attribute(NFQA_CFG_FLAGS, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN)), seq=2)

    def _configure(self, attributes: bytes, *, seq: int) -> None:
        self.sock.send(_message(NFQNL_MSG_CONFIG, self.number, attributes, flags=NLM_F_REQUEST | NLM_F_ACK, seq=seq))
        reply = self.sock.recv(65536)
        length, kind = struct.unpack_from("=IH", reply)
        if kind == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", reply, 16)
            if error:
                raise OSError(-error, f"configuring netfilter queue {self.number}: {os.strerror(-error)}")

    def fileno(self) -> int:
        return self.sock.fileno()

    def packet_ids(self) -> list[int]:
        """Ids of the packets that arrived since the last call (reads one datagram of messages)."""
        data, ids, offset = self.sock.recv(1 << 20), [], 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if length < 16:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                for attr, value in _attributes(data[offset + 20: offset + length]):
                    if attr == NFQA_PACKET_HDR:
                        ids.append(struct.unpack_from("!I", value)[0])
            offset += (length + 3) & ~3
        return ids

    def accept(self, packet_id: int) -> None:
        self.sock.send(_message(NFQNL_MSG_VERDICT, self.number, _attribute(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id))))

    def close(self) -> None:
        self.sock.close()


def run(queue: PacketQueue, latency_ms: float, jitter_ms: float, watch: int | None) -> None:
    held: list[tuple[float, int]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    next_watch = 0.0
    while not stopping:
        now = time.monotonic()
        if watch and now >= next_watch:
            if not os.path.exists(f"/proc/{watch}"):
                break
            next_watch = now + 1.0
        while held and held[0][0] <= now:
            queue.accept(heapq.heappop(held)[1])
        timeout = min(held[0][0] - now if held else 1.0, 1.0)
        try:
            ready, _, _ = select.select([queue], [], [], max(0.0, timeout))
        except InterruptedError:
            continue
        if ready:
            arrived = time.monotonic()
            for packet_id in queue.packet_ids():
                delay = max(0.0, latency_ms + random.uniform(-jitter_ms, jitter_ms)) / 1000
                heapq.heappush(held, (arrived + delay, packet_id))
    for _, packet_id in sorted(held):  # let everything go at once: heal means no more delay
        queue.accept(packet_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.runtime.nfdelay", description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, required=True, help="milliseconds each packet is held")
    parser.add_argument("--jitter", type=float, default=0.0, help="± milliseconds, uniformly distributed")
    parser.add_argument("--queue", type=int, default=0, help="netfilter queue number (the NFQUEUE rule's --queue-num)")
    parser.add_argument("--watch", type=int, help="exit when this pid is gone (the container's init)")
    args = parser.parse_args(argv)
    queue = PacketQueue(args.queue)
    print(f"holding packets of queue {args.queue} for {args.latency:g} ± {args.jitter:g} ms", flush=True)
    try:
        run(queue, args.latency, args.jitter, args.watch)
    finally:
        queue.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
