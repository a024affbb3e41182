from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.topology import builtin_profiles, load_profile
from tests.conftest import run_cli


def test_builtin_profiles_are_listed() -> None:
    assert {"dev", "hdinsight", "single"} <= set(builtin_profiles())


def test_hdinsight_profile_mirrors_the_sample() -> None:
    topology = load_profile("hdinsight")
    assert topology.release == "hdinsight-5.1"  # what HDInsight still deploys: Kafka 3.2 on ZooKeeper, Spark 3.3
    assert [n.hostname for n in topology.zookeepers] == ["zk0-kafka", "zk1-kafka", "zk2-kafka"] and not topology.controllers
    assert [n.hostname for n in topology.with_release("current").controllers] == ["zk0-kafka", "zk1-kafka", "zk2-kafka"]
    assert [n.hostname for n in topology.brokers] == ["wn0-kafka", "wn1-kafka", "wn2-kafka"]
    assert len({n.rack for n in topology.brokers}) == 3
    assert topology.kafka.topic_defaults.replication_factor == 3
    assert topology.kafka.topic_defaults.min_insync_replicas == 2
    spark = [n.hostname for n in topology.nodes if n.kind == "spark"]
    assert spark == ["hn0-spark", "hn1-spark", "wn0-spark", "wn1-spark", "wn2-spark", "wn3-spark"]
    assert topology.node("wn1-kafka").fqdn == "wn1-kafka.eahjefxxp1netdbyklgqj5y1ud.cx.internal.cloudapp.net"


def test_dev_profile_has_three_combined_nodes() -> None:
    topology = load_profile("dev")
    assert len(topology.brokers) == 3
    assert all(n.is_broker and n.is_controller for n in topology.kafka_nodes)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


BASE = """
name: broken
vnets: [{name: v, dns_suffix: abc.cx.internal.cloudapp.net}]
clusters:
  - name: kafka-x
    kind: kafka
    vnet: v
    nodes: [{role: worker, count: 2, kafka: [broker, controller]}]
"""


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        (BASE + "kafka: {topic_defaults: {replication_factor: 3, min_insync_replicas: 2}}\n", "(top level)", "only 2 brokers"),
        (BASE.replace("count: 2", "count: 2, racks: [a]"), "clusters[0](kafka-x).nodes[0]", "one rack per node"),
        (BASE.replace("count: 2", "cuont: 2"), "clusters[0](kafka-x).nodes[0].cuont", "unknown field"),
        (BASE.replace("vnet: v", "vnet: w"), "(top level)", "not among vnets"),
        (BASE + "kafka: {topic_defaults: {replication_factor: 1, min_insync_replicas: 2}}\n", "kafka.topic_defaults", "lower min_insync_replicas"),
        (BASE.replace("abc.cx", "ABC_.cx"), "vnets[0](v).dns_suffix", "not a DNS name"),
    ],
)
def test_broken_profile_names_file_and_field(tmp_path: Path, patch: str, field: str, words: str) -> None:
    path = _write(tmp_path, patch)
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert str(path) in message
    assert field in message
    assert words in message


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nvnets: [\n  - oops: : :\n")
    with pytest.raises(ConfigError, match=r"profile.yaml at line \d+"):
        load_profile(path)


def test_unknown_profile_lists_the_built_in_ones() -> None:
    with pytest.raises(ConfigError, match="dev, hdinsight"):
        load_profile("nope")


def test_cli_refuses_a_broken_profile_before_starting_anything(tmp_path: Path, isolated_runs: Path) -> None:
    path = _write(tmp_path, BASE.replace("count: 2", "count: 0"))
    done = run_cli("up", "--profile", str(path), "--name", "never")
    assert done.returncode == 2
    assert str(path) in done.stderr and "nodes[0].count" in done.stderr
    assert not (isolated_runs / "never").exists()
