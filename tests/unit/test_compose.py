"""The checked-in compose files: current with the exporter, faithful to the topology, and valid to docker-compose."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.backends.docker.compose import (
    AMBARI_HOST_PORT, FIRST_BROKER_HOST_PORT, SPARK_UI_HOST_PORT, export_compose, fixed_cluster_id,
)
from harness.topology.loader import builtin_profiles, load_profile
from harness.topology.model import Topology

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose"
PROFILES = ("dev", "hdinsight", "peered", "single")


def parsed(profile: str) -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / f"{profile}.yaml").read_text())


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_every_builtin_profile_has_a_compose_file() -> None:
    assert sorted(PROFILES) == builtin_profiles(), (
        "add the new profile to PROFILES and write its file with `harness compose export --profile P -o compose/P.yaml`")


@pytest.mark.parametrize("profile", PROFILES)
def test_checked_in_file_is_current(profile: str) -> None:
    expected = export_compose(load_profile(profile), profile=profile)
    path = COMPOSE / f"{profile}.yaml"
    assert path.exists() and path.read_text() == expected, (
        f"{path.relative_to(REPO)} is out of date with the exporter; regenerate it with "
        f"`harness compose export --profile {profile} -o compose/{profile}.yaml`"
    )


def test_hdinsight_nodes_keep_their_names_and_addresses() -> None:
    topology, doc = load_profile("hdinsight"), parsed("hdinsight")
    vnet = topology.vnets[0]
    assert set(doc["services"]) == {n.hostname for n in topology.nodes}
    for node in topology.nodes:
        service = doc["services"][node.hostname]
        assert f"{service['hostname']}.{service['domainname']}" == node.fqdn
        (network, endpoint), = service["networks"].items()
        assert doc["networks"][network]["ipam"]["config"] == [{"subnet": str(vnet.subnet), "gateway": str(vnet.subnet.network_address + 1)}]
        assert IPv4Address(endpoint["ipv4_address"]) in vnet.subnet
        assert {node.fqdn, node.hostname} <= set(endpoint["aliases"])
        assert service["init"] is True
        assert "container_name" not in service


def test_hdinsight_brokers_advertise_the_fqdn_and_their_published_host_port() -> None:
    topology, doc = load_profile("hdinsight"), parsed("hdinsight")
    for number, broker in enumerate(topology.brokers):
        service = doc["services"][broker.hostname]
        host_port = FIRST_BROKER_HOST_PORT + number
        assert service["ports"] == [f"127.0.0.1:{host_port}:19092"]
        props = properties(service["environment"]["KAFKA_SERVER_PROPERTIES"])
        assert props["advertised.listeners"] == f"INTERNAL://{broker.fqdn}:9092,HOST://127.0.0.1:{host_port}"
        assert sorted(service["depends_on"]) == sorted(n.hostname for n in topology.kafka_nodes if n.is_quorum)
    published = [p for s in doc["services"].values() for p in s.get("ports", [])]
    assert published and all(p.startswith("127.0.0.1:") for p in published)
    assert f"127.0.0.1:{AMBARI_HOST_PORT}:8080" in doc["services"]["hn0-kafka"]["ports"]
    assert f"127.0.0.1:{SPARK_UI_HOST_PORT}:8080" in doc["services"]["hn0-spark"]["ports"]
    assert all(doc["services"][w.hostname]["depends_on"] == ["hn0-spark"] for w in topology.spark_workers)


def test_ambari_password_has_a_documented_overridable_default() -> None:
    text = (COMPOSE / "hdinsight.yaml").read_text()
    env = parsed("hdinsight")["services"]["hn0-kafka"]["environment"]
    assert env["AMBARI_PASSWORD_SHA256"].startswith("${AMBARI_PASSWORD_SHA256:-")
    assert "admin / harness-admin" in text.split("\nversion:")[0]


def test_cluster_id_never_looks_like_an_option() -> None:
    ids = {fixed_cluster_id(f"topology-{n}") for n in range(2000)}
    assert len(ids) == 2000 and not any(i.startswith("-") for i in ids) and all(len(i) == 22 for i in ids)


def _peered_with_dollar() -> Topology:
    data = load_profile("hdinsight").model_dump(mode="json")
    data["vnets"] = [
        {**data["vnets"][0], "name": "kafka-vnet", "peered_with": ["spark-vnet"]},
        {"name": "spark-vnet", "address_space": "10.1.0.0/16", "subnet": "10.1.0.0/24",
         "dns_suffix": "other0000000000000000000000.cx.internal.cloudapp.net", "peered_with": ["kafka-vnet"]},
    ]
    data["clusters"][0]["vnet"], data["clusters"][1]["vnet"] = "kafka-vnet", "spark-vnet"
    data["kafka"]["server_properties"] = {"sasl.jaas.note": "cost$5"}
    return Topology.model_validate(data)


def test_peerings_are_named_and_dollars_escaped() -> None:
    text = export_compose(_peered_with_dollar(), profile="peered")
    header = text.split("\nversion:")[0]
    assert "kafka-vnet (10.0.0.0/24) <-> spark-vnet (10.1.0.0/24)" in header and "`harness up` adds them" in header
    assert "sasl.jaas.note=cost$$5" in text


docker_compose = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")


@docker_compose
@pytest.mark.parametrize("profile", PROFILES)
def test_docker_compose_accepts_the_file(profile: str) -> None:
    result = subprocess.run(["docker-compose", "-f", f"compose/{profile}.yaml", "config", "-q"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


@docker_compose
def test_docker_compose_passes_values_through_verbatim(tmp_path: Path) -> None:
    topology = _peered_with_dollar()
    path = tmp_path / "peered.yaml"
    path.write_text(export_compose(topology, profile="peered"))
    result = subprocess.run(["docker-compose", "-f", str(path), "config"], capture_output=True, text=True, timeout=60, check=False,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    broker = services[topology.brokers[0].hostname]["environment"]
    # `config` prints a compose file again, with `$` re-escaped (docker-compose 1.x); unescaped, `$5` would not survive
    assert properties(broker["KAFKA_SERVER_PROPERTIES"])["sasl.jaas.note"].replace("$$", "$") == "cost$5"
    head = services["hn0-kafka"]["environment"]
    assert head["AMBARI_PASSWORD_SHA256"] == "05550e41645a6811cf0289c34e556992496de10649594c8b532f26f908a8efb6"
