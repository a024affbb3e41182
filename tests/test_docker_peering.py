"""Peered VNets for real (docker backend): Kafka in one VNet, Spark in another.

As deployed (`peered` profile), addresses route across the peering but names do not resolve, so the
streaming job, which names the brokers' FQDNs, fails, and the harness says why and how to fix it.
Both fixes Microsoft documents are then shown working: custom DNS for the Spark VNet, and brokers
that advertise IP addresses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.backends import new_deployment
from harness.backends.docker.deployment import DockerDeployment
from harness.errors import HarnessError
from harness.runner import run_scenario
from harness.scenarios.spec import load_scenario
from harness.topology.loader import load_profile
from tests.conftest import REPO, docker_leftovers

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _scenario():  # noqa: ANN202
    """The stock ticker, shortened to ten minutes of event time (600 records)."""
    scenario = load_scenario(REPO / "scenarios" / "stock-ticker.yaml")
    producer = scenario.producers[0].model_copy(update={"duration": 600_000})
    topic = scenario.topics[0].model_copy(update={"partitions": 4})
    return scenario.model_copy(update={"producers": (producer,), "topics": (topic,), "expect": scenario.expect.model_copy(update={"min_windows": 500})})


@pytest.fixture
def peered_twin(docker_engine: None, module_runs: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[DockerDeployment]:
    """The `peered` profile with the test's changes (`fix` parameter) applied."""
    data = load_profile("peered").model_dump(mode="json", exclude_defaults=False)
    fix = getattr(request, "param", None)
    if fix == "custom-dns":
        next(v for v in data["vnets"] if v["name"] == "spark-vnet")["custom_dns"] = True
    elif fix == "advertise-ip":
        data["kafka"]["advertise"] = "ip"
    profile = tmp_path / "peered.yaml"
    profile.write_text(yaml.safe_dump(data))
    deployment = new_deployment(str(profile), f"peer-{fix or 'none'}-{os.getpid()}")
    assert isinstance(deployment, DockerDeployment)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
        assert docker_leftovers(deployment.run.name) == {"containers": 0, "networks": 0, "volumes": 0, "firewall rules": 0}


def test_without_a_fix_the_job_fails_and_the_harness_says_why(peered_twin: DockerDeployment) -> None:
    broker = peered_twin.topology.node("wn0-kafka")
    address = peered_twin.plan.container("wn0-kafka").address
    # The peering routes: the Spark head node reaches the broker's address...
    assert peered_twin.run_on("hn0-spark", ["nc", "-z", "-w", "3", address, "9092"]).returncode == 0
    # ...but cannot resolve its name, in either form.
    assert peered_twin.run_on("hn0-spark", ["getent", "hosts", broker.fqdn]).returncode != 0
    assert peered_twin.run_on("hn0-spark", ["getent", "hosts", broker.hostname]).returncode != 0
    with pytest.raises(HarnessError) as failure:
        run_scenario(_scenario(), deployment=peered_twin)
    hint = failure.value.hint or ""
    assert broker.fqdn in hint and "spark-vnet" in hint and "kafka-vnet" in hint, hint
    assert "custom_dns: true" in hint and "advertise: ip" in hint, hint
    assert "resolv" in (failure.value.detail or "").lower(), failure.value.detail  # Spark's own error says it too


@pytest.mark.parametrize("peered_twin", ["custom-dns", "advertise-ip"], indirect=True)
def test_each_documented_fix_makes_the_job_pass(peered_twin: DockerDeployment) -> None:
    report = run_scenario(_scenario(), deployment=peered_twin)
    assert report.verdict == "pass", report.render()
    assert report.verification["expected_rows"] == report.verification["actual_rows"] > 500
