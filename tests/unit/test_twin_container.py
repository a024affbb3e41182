"""harness.containers without booting a twin: the testcontainers defaults it sets, what it refuses
before anything starts, and the error without a Docker engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

from harness.containers import KafkaSparkTwin
from harness.errors import HarnessError

REPO = Path(__file__).resolve().parents[2]


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TESTCONTAINERS_")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO, env={**clean, **env})


def test_importing_it_sets_the_testcontainers_defaults_before_testcontainers_reads_them_and_a_users_value_wins() -> None:
    code = ("import harness.containers\n"
            "from testcontainers.core.config import testcontainers_config as c\n"
            "print(c.ryuk_disabled, c.connection_mode_override.value)")
    assert _python(code).stdout.split() == ["True", "docker_host"]
    chosen = _python(code, TESTCONTAINERS_RYUK_DISABLED="false", TESTCONTAINERS_CONNECTION_MODE="bridge_ip")
    assert chosen.stdout.split() == ["False", "bridge_ip"], chosen.stderr


def test_wait_strategies_are_checked_before_anything_starts() -> None:
    twin = KafkaSparkTwin(profile="single", backend="docker")
    with pytest.raises(HarnessError, match="no node 'wn9-kafka'.*wn0-kafka"):
        twin.waiting_for({"wn9-kafka": LogMessageWaitStrategy("started")})
    with pytest.raises(HarnessError, match="not a testcontainers WaitStrategy"):
        twin.waiting_for({"wn0-kafka": "Kafka Server started"})  # type: ignore[dict-item]
    assert twin.waiting_for({"wn0-kafka": LogMessageWaitStrategy("started")}) is twin
    with pytest.raises(HarnessError, match="local backend runs nodes as processes"):
        KafkaSparkTwin(profile="single", backend="local").waiting_for({"wn0-kafka": LogMessageWaitStrategy("started")})


def test_a_twin_that_is_not_started_says_so_and_stop_is_harmless() -> None:
    twin = KafkaSparkTwin(profile="single", backend="local", name="never-started")
    for getter in (twin.get_bootstrap_server, twin.get_spark_master, lambda: twin.get_container("wn0-kafka")):
        with pytest.raises(HarnessError, match="twin never-started is not started"):
            getter()
    twin.stop()
    twin.stop()


def test_without_a_docker_engine_start_fails_with_how_to_get_one_and_creates_nothing(tmp_path: Path) -> None:
    code = ("from harness.containers import KafkaSparkTwin\n"
            "from harness.errors import HarnessError\n"
            "try:\n"
            "    KafkaSparkTwin(profile='single', backend='docker', name='no-engine').start()\n"
            "except HarnessError as exc:\n"
            "    print(type(exc).__name__); print(exc)\n")
    done = _python(code, DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock", HARNESS_RUNS=str(tmp_path / "runs"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("DockerUnavailable\nno Docker engine answers"), done.stdout
    assert "hint: install and start one" in done.stdout
    assert not (tmp_path / "runs" / "no-engine").exists()
