"""The delayer holds packets for real: in a network namespace this test creates, loopback connects
slow down by twice the latency (SYN and SYN-ACK both leave through the queued hook) and recover
when it stops. The docker backend's `delay` fault runs the same program in a node's namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("iptables")),
    reason="needs root, unshare and iptables to make a network namespace",
)

PROBE = """
import socket, statistics, time
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(50)
samples = []
for _ in range(7):
    started = time.perf_counter()
    socket.create_connection(server.getsockname(), timeout=5).close()
    samples.append((time.perf_counter() - started) * 1000)
    server.accept()[0].close()
print(statistics.median(samples))
"""

SCRIPT = """
set -e
ip link set lo up
iptables -w -A OUTPUT -o lo -j NFQUEUE --queue-num 0 --queue-bypass
echo "bypass $("$PY" -c "$PROBE")"
"$PY" -m harness.runtime.nfdelay --latency 60 --jitter 10 > "$LOG" 2>&1 &
for _ in $(seq 50); do grep -q holding "$LOG" && break; sleep 0.1; done
echo "delayed $("$PY" -c "$PROBE")"
kill -TERM $!; wait $!
echo "exit $?"
echo "after $("$PY" -c "$PROBE")"
"""


def test_packets_wait_latency_and_pass_again_after_the_delayer_stops(tmp_path) -> None:  # noqa: ANN001
    env = {**os.environ, "PY": sys.executable, "PROBE": PROBE, "LOG": str(tmp_path / "nfdelay.log")}
    out = subprocess.run(["unshare", "-n", "bash", "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr + out.stdout
    result = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert float(result["bypass"]) < 20  # the rule alone, no delayer bound: packets pass, none dropped
    assert 2 * (60 - 10) <= float(result["delayed"]) <= 2 * (60 + 10) + 80
    assert result["exit"] == "0"
    assert float(result["after"]) < 20
