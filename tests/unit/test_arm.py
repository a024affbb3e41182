"""ARM import: HDInsight Kafka + Spark templates become twin topologies, and what cannot be read is said."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.topology.arm import (
    TemplateResolver, Unresolved, derived_dns_suffix, release_for_cluster_version, resolve_value, topology_from_arm,
)
from harness.topology.loader import load_profile

ARM = Path(__file__).resolve().parent.parent / "data" / "arm"
LEARN, LEARN_PARAMS = ARM / "kafka-spark-learn.json", ARM / "kafka-spark-learn.parameters.json"
D4, D4_PARAMS = ARM / "kafka-spark-d4.json", ARM / "kafka-spark-d4.parameters.json"
VNET, VNET_PARAMS, VNET_40 = ARM / "kafka-spark-vnet.json", ARM / "kafka-spark-vnet.parameters.json", ARM / "kafka-spark-vnet-4.0.parameters.json"
GROUP_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/harness-twin"
HDINSIGHT_51 = "hdinsight-5.1 (Kafka 3.2.3 on ZooKeeper 3.6.3, Spark 3.3.4 on Scala 2.12)"
SUFFIX = re.compile(r"^[a-z0-9]{26}\.cx\.internal\.cloudapp\.net$")


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def d4_document() -> dict[str, Any]:
    return json.loads(D4.read_text())


def kafka_role(doc: dict[str, Any], role: str) -> dict[str, Any]:
    """A role of the variant template's Kafka cluster (resources[1]), for targeted edits."""
    return next(r for r in doc["resources"][1]["properties"]["computeProfile"]["roles"] if r["name"] == role)


# ------------------------------------------------------------------------------ the Learn sample


def test_learn_sample_imports_to_the_builtin_hdinsight_profile() -> None:
    """The sample is HDInsight 4.0, so it comes in on hdinsight-5.1: the built-in profile on that release."""
    builtin = load_profile("hdinsight").with_release("hdinsight-5.1")
    imported = topology_from_arm(LEARN, LEARN_PARAMS, dns_suffix=builtin.vnets[0].dns_suffix)
    assert imported.topology.release == "hdinsight-5.1"
    assert imported.topology.clusters == builtin.clusters
    assert imported.topology.vnets == builtin.vnets
    assert imported.topology.kafka.topic_defaults == builtin.kafka.topic_defaults


def test_learn_sample_nodes_roles_and_names() -> None:
    imported = topology_from_arm(LEARN, LEARN_PARAMS)
    topo = imported.topology
    assert [n.hostname for n in topo.brokers] == ["wn0-kafka", "wn1-kafka", "wn2-kafka"]
    assert [n.hostname for n in topo.zookeepers] == ["zk0-kafka", "zk1-kafka", "zk2-kafka"]
    assert topo.controllers == ()
    assert {n.vm_size for n in topo.zookeepers} == {"Standard_A2_v2"}  # template writes Standard_A2_V2
    assert [(n.vm_size, n.disks) for n in topo.brokers] == [("Standard_D13_v2", 2)] * 3
    assert len({n.rack for n in topo.brokers}) == 3
    spark_workers = [n for n in topo.nodes if n.kind == "spark" and n.role == "worker"]
    assert [n.hostname for n in spark_workers] == ["wn0-spark", "wn1-spark", "wn2-spark", "wn3-spark"]
    heads = [n for n in topo.nodes if n.role == "head"]
    assert {(n.cluster, n.vm_size) for n in heads} == {("kafka-mslearn-stock", "Standard_D12_v2"), ("spark-mslearn-stock", "Standard_D12_v2")}
    assert (str(topo.vnets[0].address_space), str(topo.vnets[0].subnet)) == ("10.0.0.0/16", "10.0.0.0/24")
    assert imported.unresolved == ()  # storage keys, location: present but never read
    assert [w.split(":")[0] for w in imported.warnings] == ["Kafka cluster 'kafka-mslearn-stock'", "Spark cluster 'spark-mslearn-stock'"]
    assert all("HDInsight 4.0 has been retired since 31 March 2025" in w for w in imported.warnings)
    assert dict(imported.versions) == {"kafka-mslearn-stock": "HDInsight 4.0, Kafka 2.1", "spark-mslearn-stock": "HDInsight 4.0, Spark 2.4"}


def test_learn_sample_deployment_profile() -> None:
    deployment = topology_from_arm(LEARN, LEARN_PARAMS).deployment
    assert deployment is not None
    assert (deployment.brokers, deployment.disks_per_broker, deployment.replication_factor) == (3, 2, 3)
    assert deployment.broker_disk_mb_s == pytest.approx(120.0)
    assert deployment.spark_cores == 32


def test_dns_suffix_is_derived_from_the_vnet_name_and_stable() -> None:
    first = topology_from_arm(LEARN, LEARN_PARAMS).topology.vnets[0].dns_suffix
    again = topology_from_arm(LEARN, LEARN_PARAMS).topology.vnets[0].dns_suffix
    other = topology_from_arm(D4).topology.vnets[0].dns_suffix
    assert SUFFIX.match(first) and SUFFIX.match(other)
    assert first == again == derived_dns_suffix("kafka-spark-vnet")
    assert first != other


def test_given_dns_suffix_is_used_in_fqdns() -> None:
    topo = topology_from_arm(LEARN, LEARN_PARAMS, dns_suffix="abc123.cx.internal.cloudapp.net").topology
    assert topo.node("wn0-kafka").fqdn == "wn0-kafka.abc123.cx.internal.cloudapp.net"


def test_missing_required_parameter_says_which_and_how_to_give_it() -> None:
    with pytest.raises(ConfigError) as caught:
        topology_from_arm(LEARN)
    text = str(caught.value)
    assert "kafka-spark-learn.json" in text and "clusterName" in text and "parameters file" in text


# ----------------------------------------------------------------------- the parameterised variant


def test_variant_defaults_four_d4_brokers_with_eight_disks() -> None:
    imported = topology_from_arm(D4)
    topo = imported.topology
    assert [c.name for c in topo.clusters] == ["kafka-stock", "spark-stock"]
    assert [(n.vm_size, n.disks) for n in topo.brokers] == [("Standard_D4_v2", 8)] * 4
    assert [n.rack for n in topo.brokers] == ["FD0UD0", "FD1UD1", "FD2UD2", "FD0UD3"]
    assert str(topo.vnets[0].subnet) == "10.0.0.0/20" and topo.vnets[0].name == "stock-vnet"
    assert imported.deployment is not None and imported.deployment.broker_disk_mb_s == pytest.approx(480.0)
    assert "Kafka 2.4" in dict(imported.versions)["kafka-stock"]


def test_parameters_file_overrides_defaults() -> None:
    imported = topology_from_arm(D4, D4_PARAMS)
    topo = imported.topology
    assert [c.name for c in topo.clusters] == ["kafka-trades", "spark-trades"]  # toLower('Trades')
    assert [(n.vm_size, n.disks) for n in topo.brokers] == [("Standard_DS4_v2", 4)] * 6
    assert len({n.rack for n in topo.brokers}) == 6
    assert sum(1 for n in topo.nodes if n.kind == "spark" and n.role == "worker") == 8
    assert imported.deployment is not None
    assert imported.deployment.broker_disk_mb_s == pytest.approx(384.0)  # 4 x P30 = 800, DS4_v2 caps at 384
    assert imported.unresolved == ()


def test_parameters_file_value_for_undeclared_parameter_warns(tmp_path: Path) -> None:
    params = write(tmp_path / "p.json", {"parameters": {"baseClusterName": {"value": "x1"}, "typo": {"value": 1}}})
    imported = topology_from_arm(D4, params)
    assert imported.topology.clusters[0].name == "kafka-x1"
    assert any("'typo'" in w for w in imported.warnings)


@pytest.mark.parametrize(("workers", "rf", "isr"), [(1, 1, 1), (2, 2, 2), (5, 3, 2)])
def test_topic_defaults_follow_the_broker_count(tmp_path: Path, workers: int, rf: int, isr: int) -> None:
    params = write(tmp_path / "p.json", {"parameters": {"kafkaWorkerNodeCount": {"value": workers}}})
    imported = topology_from_arm(D4, params)
    defaults = imported.topology.kafka.topic_defaults
    assert (defaults.replication_factor, defaults.min_insync_replicas) == (rf, isr)
    assert any(f"{workers} worker node" in w for w in imported.warnings) == (workers < 3)


def test_template_without_zookeeper_nodes_on_a_zookeeper_release_gets_three(tmp_path: Path) -> None:
    """HDInsight gives every cluster three ZooKeeper nodes; hdinsight-5.1 cannot run its quorum on the brokers."""
    doc = d4_document()
    roles = doc["resources"][1]["properties"]["computeProfile"]["roles"]
    roles.remove(kafka_role(doc, "zookeepernode"))
    imported = topology_from_arm(write(tmp_path / "t.json", doc))
    topo = imported.topology
    assert topo.release == "hdinsight-5.1"
    assert [(n.hostname, n.vm_size) for n in topo.zookeepers] == [(f"zk{i}-kafka", "Standard_A2_v2") for i in range(3)]
    assert [n.kafka for n in topo.brokers] == [("broker",)] * 4
    assert any("no zookeepernode" in w and "assumes 3 x Standard_A2_v2" in w for w in imported.warnings)


def test_template_without_zookeeper_nodes_or_version_makes_brokers_controllers(tmp_path: Path) -> None:
    doc = d4_document()
    roles = doc["resources"][1]["properties"]["computeProfile"]["roles"]
    roles.remove(kafka_role(doc, "zookeepernode"))
    del doc["resources"][1]["properties"]["clusterVersion"]
    imported = topology_from_arm(write(tmp_path / "t.json", doc))
    assert imported.topology.release == "current"
    assert [n.hostname for n in imported.topology.controllers] == [f"wn{i}-kafka" for i in range(4)]
    assert any("no zookeepernode" in w and "KRaft controllers" in w for w in imported.warnings)


# -------------------------------------------------- the VNet sample: uniqueString names, the release


def test_vnet_named_with_unique_string_resolves_to_its_declared_prefixes() -> None:
    imported = topology_from_arm(VNET, VNET_PARAMS)
    vnet = imported.topology.vnets[0]
    assert vnet.name == "vnet-" + resolve_value("[uniqueString(resourceGroup().id)]")
    assert (str(vnet.address_space), str(vnet.subnet)) == ("10.0.0.0/16", "10.0.0.0/20")
    assert {c.vnet for c in imported.topology.clusters} == {vnet.name}
    assert SUFFIX.match(vnet.dns_suffix) and vnet.dns_suffix == derived_dns_suffix(vnet.name)
    assert imported.unresolved == () and imported.warnings == ()  # no "not created by this template": it is


def test_vnet_sample_on_5_1_runs_hdinsight_5_1_with_zookeeper_servers(tmp_path: Path) -> None:
    imported = topology_from_arm(VNET, VNET_PARAMS)
    topo = imported.topology
    assert topo.release == "hdinsight-5.1" and topo.stack.uses_zookeeper
    assert [n.hostname for n in topo.zookeepers] == ["zk0-kafka", "zk1-kafka", "zk2-kafka"]
    assert topo.controllers == ()
    assert [(n.hostname, n.vm_size, n.disks) for n in topo.brokers] == [(f"wn{i}-kafka", "Standard_DS3_v2", 4) for i in range(4)]
    assert [c.name for c in topo.clusters] == ["kafka-orders", "spark-orders"] and len(topo.spark_workers) == 3
    text = imported.to_yaml()
    assert "\nrelease: hdinsight-5.1\n" in text
    assert "# release hdinsight-5.1: chosen by the Kafka cluster's clusterVersion 5.1" in text
    assert "kafka: [zookeeper]" in text and "kafka: [controller]" not in text
    assert load_profile(write(tmp_path / "p.yaml", text)).release == "hdinsight-5.1"


def test_retired_version_runs_the_nearest_supported_release_and_says_so() -> None:
    imported = topology_from_arm(VNET, VNET_40)
    assert imported.topology.release == "hdinsight-5.1"
    assert [n.hostname for n in imported.topology.zookeepers] == ["zk0-kafka", "zk1-kafka", "zk2-kafka"]
    kafka, spark = imported.warnings
    assert kafka == (
        "Kafka cluster 'kafka-orders': HDInsight 4.0 has been retired since 31 March 2025; its componentVersion Kafka 2.4 "
        f"is not the twin's Kafka 3.2.3; the twin runs the nearest supported release, {HDINSIGHT_51}"
    )
    assert spark.startswith("Spark cluster 'spark-orders': HDInsight 4.0 has been retired since 31 March 2025")
    assert "Spark 2.4 is not the twin's Spark 3.3.4" in spark
    assert "nearest supported release to the Kafka cluster's retired clusterVersion 4.0" in imported.to_yaml()


def test_supported_version_with_another_component_line_is_mentioned(tmp_path: Path) -> None:
    params = write(tmp_path / "p.json", {"parameters": {"clusterName": {"value": "orders"}, "kafkaVersion": {"value": "2.4"}}})
    imported = topology_from_arm(VNET, params)
    assert imported.topology.release == "hdinsight-5.1"
    assert imported.warnings == (
        "Kafka cluster 'kafka-orders': its componentVersion Kafka 2.4 is not the twin's Kafka 3.2.3; "
        f"the twin runs the Kafka cluster's release, {HDINSIGHT_51}",
    )


@pytest.mark.parametrize(
    ("version", "note"),
    [(None, "clusterVersion is missing or unresolved"), ("[if(true(), '5.1', '5.0')]", "clusterVersion is missing or unresolved"),
     ("6.0", "clusterVersion 6.0 is not one the importer maps to a release (it knows 5.1 and the retired 4.0, 5.0)")],
    ids=["missing", "unresolved", "unknown"],
)
def test_no_mappable_version_keeps_the_default_release_and_notes_it(tmp_path: Path, version: str | None, note: str) -> None:
    doc = d4_document()
    properties = doc["resources"][1]["properties"]
    if version is None:
        del properties["clusterVersion"]
    else:
        properties["clusterVersion"] = version
    imported = topology_from_arm(write(tmp_path / "t.json", doc))
    topo = imported.topology
    assert topo.release == "current"
    assert [n.hostname for n in topo.controllers] == ["zk0-kafka", "zk1-kafka", "zk2-kafka"] and topo.zookeepers == ()
    assert any(w.startswith(f"Kafka cluster 'kafka-stock': {note}") and "the twin runs the default release, current (" in w for w in imported.warnings)
    assert any("the default, as the Kafka cluster's clusterVersion maps to no release" in line for line in imported.to_yaml().splitlines())
    assert ("clusterVersion" in " ".join(imported.unresolved)) == (version is not None and version.startswith("["))


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("5.1", ("hdinsight-5.1", None)),
        ("5.1.3000.0.2308052231", ("hdinsight-5.1", None)),
        (" 5.1 ", ("hdinsight-5.1", None)),
        ("5.0", ("hdinsight-5.1", "retired since 31 March 2025")),
        ("4.0", ("hdinsight-5.1", "retired since 31 March 2025")),
        ("3.6", ("hdinsight-5.1", "retired")),
        ("5.10", (None, None)),
        ("6.0", (None, None)),
        ("latest", (None, None)),
    ],
)
def test_cluster_versions_map_to_releases(version: str, expected: tuple[str | None, str | None]) -> None:
    assert release_for_cluster_version(version) == expected


def test_unique_string_is_a_stable_thirteen_character_stand_in() -> None:
    first = resolve_value("[uniqueString(resourceGroup().id)]")
    assert isinstance(first, str) and re.fullmatch(r"[a-z2-7]{13}", first)
    assert resolve_value("[uniqueString(resourceGroup().id)]") == first
    assert resolve_value(f"[uniqueString('{GROUP_ID}')]") == first
    others = {resolve_value(e) for e in ("[uniqueString('a')]", "[uniqueString('b')]", "[uniqueString('ab', 'c')]", "[uniqueString('a', 'bc')]")}
    assert len(others | {first}) == 5


def test_resource_group_location_follows_a_plain_location_in_the_parameters_file() -> None:
    template = {"parameters": {"location": {"type": "string", "defaultValue": "[resourceGroup().location]"}}}
    assert TemplateResolver(template, {"location": "westeurope"}).resolve("[parameters('location')]", "$") == "westeurope"
    assert TemplateResolver(template, {"location": "westeurope"}).resolve("[resourceGroup().location]", "$") == "westeurope"
    assert TemplateResolver(template).resolve("[parameters('location')]", "$") == "eastus"


# ---------------------------------------------------------------------------- what cannot be read


def test_unsupported_function_is_reported_with_its_path_and_a_fallback(tmp_path: Path) -> None:
    doc = d4_document()
    kafka_role(doc, "workernode")["hardwareProfile"]["vmSize"] = "[if(equals(parameters('location'), 'westeurope'), 'Standard_D14_v2', 'Standard_D13_v2')]"
    imported = topology_from_arm(write(tmp_path / "t.json", doc))
    assert len(imported.unresolved) == 1
    entry = imported.unresolved[0]
    assert entry.startswith("resources[1].properties.computeProfile.roles[1].hardwareProfile.vmSize: [if(")
    assert "if() is not supported" in entry
    assert {n.vm_size for n in imported.topology.brokers} == {"Standard_D13_v2"}
    assert any("vmSize" in w and "assumed Standard_D13_v2" in w for w in imported.warnings)


def test_unresolved_variable_is_traced_to_where_it_failed(tmp_path: Path) -> None:
    doc = d4_document()
    doc["variables"]["vnetName"] = "[concat(reference('network').outputs.vnetName.value, '-vnet')]"
    imported = topology_from_arm(write(tmp_path / "t.json", doc))
    assert any("(at variables.vnetName:" in e and "reference() is not supported" in e for e in imported.unresolved)
    assert imported.topology.vnets[0].name == "kafka-stock-vnet"  # the stated fallback
    assert any("no virtualNetworkProfile" in w for w in imported.warnings)


def test_unresolved_count_falls_back_and_says_so(tmp_path: Path) -> None:
    doc = d4_document()
    kafka_role(doc, "workernode")["targetInstanceCount"] = "[add(parameters('kafkaWorkerNodeCount'), 1)]"
    imported = topology_from_arm(write(tmp_path / "t.json", doc))
    assert any("targetInstanceCount" in e and "add()" in e for e in imported.unresolved)
    assert any("targetInstanceCount of workernode is unresolved; assumed 4" in w for w in imported.warnings)
    assert len(imported.topology.brokers) == 4


def test_unknown_vm_size_keeps_the_topology_but_no_deployment(tmp_path: Path) -> None:
    params = write(tmp_path / "p.json", {"parameters": {"kafkaWorkerNodeSize": {"value": "Standard_E8_v3"}}})
    imported = topology_from_arm(D4, params)
    assert {n.vm_size for n in imported.topology.brokers} == {"Standard_E8_v3"}
    assert imported.deployment is None
    assert any("Standard_E8_v3" in w and "Standard_D13_v2" in w for w in imported.warnings)


def test_kafka_only_template_has_no_deployment_profile(tmp_path: Path) -> None:
    doc = d4_document()
    del doc["resources"][2]
    imported = topology_from_arm(write(tmp_path / "t.json", doc))
    assert [c.kind for c in imported.topology.clusters] == ["kafka"]
    assert imported.deployment is None
    assert any("no Spark cluster" in w for w in imported.warnings)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[[concat('a')]", "[concat('a')]"),  # escaped: a literal, not an expression
        ("plain [text]", "plain [text]"),
        ("[toLower(concat('Kafka-', parameters('p'), '-X'))]", "kafka-base-x"),
        ("[concat('it''s', ' ', 'ok')]", "it's ok"),
        ("[variables('o').list[1].k]", "v"),
        ("[variables('O')['LIST'][0]]", 1),  # ARM names are case-insensitive
        ("[concat(variables('o').list, variables('o').list)]", [1, {"k": "v"}, 1, {"k": "v"}]),
        ("[resourceId('Microsoft.Network/virtualNetworks', 'v1')]", f"{GROUP_ID}/providers/Microsoft.Network/virtualNetworks/v1"),
        ("[resourceGroup().id]", GROUP_ID),
        ("[resourceGroup().name]", "harness-twin"),
        ("[resourceGroup().location]", "eastus"),
        ("[subscription().subscriptionId]", "00000000-0000-0000-0000-000000000000"),
        ("[concat(subscription().id, '/resourceGroups/', resourceGroup().name)]", GROUP_ID),
        ("[resourceId('s1', 'rg1', 'Microsoft.Network/virtualNetworks/subnets', 'v1', 'default')]", "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/v1/subnets/default"),
    ],
)
def test_expressions_that_resolve(expression: str, expected: Any) -> None:
    variables = {"o": {"list": [1, {"k": "v"}]}}
    assert resolve_value(expression, parameters={"p": {"defaultValue": "Base"}}, variables=variables) == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("[reference('vnet').id]", "reference() is not supported"),
        ("[uniqueString()]", "needs at least one argument"),
        ("[uniqueString(resourceGroup())]", "expects strings"),
        ("[resourceGroup('other-group').id]", "takes no arguments"),
        ("[parameters('nope')]", "declares no such parameter"),
        ("[parameters('secret')]", "no defaultValue"),
        ("[variables('a')]", "cycle"),
        ("[concat('a', variables('o'))]", "concat()"),
        ("[resourceId('Microsoft.Network/virtualNetworks')]", "needs 1 name"),
        ("[concat('a',, 'b')]", "cannot parse"),
        ("[variables('o').missing]", "no member 'missing'"),
    ],
)
def test_expressions_that_do_not_resolve_become_unresolved(expression: str, reason: str) -> None:
    result = resolve_value(
        expression, parameters={"secret": {"type": "securestring"}},
        variables={"a": "[variables('b')]", "b": "[variables('a')]", "o": {"k": 1}},
    )
    assert isinstance(result, Unresolved)
    assert reason in result.entry() and result.path == "$" and result.expression == expression


# ---------------------------------------------------------------------------------- round trip


@pytest.mark.parametrize(
    ("template", "params"),
    [(LEARN, LEARN_PARAMS), (D4, None), (D4, D4_PARAMS), (VNET, VNET_PARAMS), (VNET, VNET_40)],
    ids=["learn", "d4", "d4-params", "vnet-5.1", "vnet-4.0"],
)
def test_yaml_round_trip_loads_an_equal_topology(tmp_path: Path, template: Path, params: Path | None) -> None:
    imported = topology_from_arm(template, params)
    path = write(tmp_path / "imported.yaml", imported.to_yaml())
    assert load_profile(path) == imported.topology


def test_yaml_carries_unresolved_and_warnings_as_comments(tmp_path: Path) -> None:
    doc = d4_document()
    kafka_role(doc, "workernode")["hardwareProfile"]["vmSize"] = "[if(true(), 'a', 'b')]"
    imported = topology_from_arm(write(tmp_path / "t.json", doc))
    text = imported.to_yaml()
    assert "# unresolved: resources[1].properties.computeProfile.roles[1].hardwareProfile.vmSize" in text
    assert "# warning:" in text
    assert load_profile(write(tmp_path / "p.yaml", text)) == imported.topology


# ------------------------------------------------------------------------------- not a template


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{ not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ({"parameters": {"x": {"value": 1}}}, "no 'resources' array"),
        ({"resources": [{"type": "Microsoft.Storage/storageAccounts", "name": "s"}]}, "clusterDefinition.kind 'kafka'"),
    ],
    ids=["bad-json", "not-object", "parameters-file", "no-hdinsight"],
)
def test_files_that_are_not_hdinsight_templates(tmp_path: Path, content: Any, message: str) -> None:
    path = write(tmp_path / "notatemplate.json", content)
    with pytest.raises(ConfigError) as caught:
        topology_from_arm(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_spark_only_template_names_what_it_found(tmp_path: Path) -> None:
    doc = d4_document()
    del doc["resources"][1]
    with pytest.raises(ConfigError, match=r"no Microsoft.HDInsight/clusters resource with clusterDefinition.kind 'kafka' \(found: spark cluster 'spark-stock'\)"):
        topology_from_arm(write(tmp_path / "t.json", doc))


def test_clusters_sharing_their_first_six_characters_are_rejected(tmp_path: Path) -> None:
    doc = d4_document()
    doc["variables"]["sparkClusterName"] = "[toLower(concat('kafka-', parameters('baseClusterName'), '-spark'))]"
    with pytest.raises(ConfigError, match="share their first six characters"):
        topology_from_arm(write(tmp_path / "t.json", doc))


def test_parameters_file_of_the_wrong_shape(tmp_path: Path) -> None:
    params = write(tmp_path / "p.json", {"parameters": {"baseClusterName": "x"}})
    with pytest.raises(ConfigError, match="not an ARM parameters file"):
        topology_from_arm(D4, params)


def test_import_does_not_mutate_or_depend_on_order(tmp_path: Path) -> None:
    """Resources listed in another order give the same topology (dependsOn, not position, orders Azure)."""
    doc = d4_document()
    shuffled = copy.deepcopy(doc)
    shuffled["resources"].reverse()
    a = topology_from_arm(write(tmp_path / "a.json", doc)).topology
    b = topology_from_arm(write(tmp_path / "a.json", shuffled)).topology
    assert a == b
