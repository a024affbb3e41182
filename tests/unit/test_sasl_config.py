"""A SASL_SSL twin's configuration as data: SCRAM on the client listener, SASL/PLAIN between KRaft's
controllers and brokers, the standard authorizer with the twin's own super users, the principals' ACLs,
the job's login, and the diagnosis of what the authorizer denied. No broker runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType
from pydantic import ValidationError

from harness.backends.base import Deployment
from harness.backends.kafka_node import BrokerSasl, BrokerTls, KafkaNodePlan, local_listeners, scram_credential, server_properties
from harness.kafka.admin import acl_bindings
from harness.kafka.security import client_security
from harness.runtime.pki import RunAuthority
from harness.topology.loader import load_profile
from harness.topology.model import KafkaSecurity, Principal
from tests.unit.test_releases import plans, properties, zookeeper_topology

TLS = BrokerTls(Path("/pki/wn0-kafka.p12"), "k-secret", Path("/pki/truststore.p12"), "t-secret", client_auth=False)
SASL = BrokerSasl(broker_password="b-secret", controller_password="c-secret")
JOB = Principal(name="ticker-job", topics={"stockVals": ("read", "describe")}, groups={"spark-kafka-source-*": ("read",)})


def test_a_kraft_node_serves_scram_to_clients_and_plain_to_its_controllers_under_the_standard_authorizer() -> None:
    topology = load_profile("dev").with_security("sasl_ssl")
    node = topology.kafka_nodes[0]  # broker and controller at once
    plan = KafkaNodePlan(node=node, node_id=1, address="127.1.2.2", broker_port=9093, controller_port=9094, data_dir=Path("/d"),
                         log_dir=Path("/l"), tls=TLS, sasl=SASL)
    props = properties(server_properties(plan, topology, local_listeners(plan, [plan])))
    assert props["listeners"] == "SASL_SSL://127.1.2.2:9093,CONTROLLER://127.1.2.2:9094"
    assert props["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT"
    assert props["inter.broker.listener.name"] == "SASL_SSL" and props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert 'username="broker" password="b-secret"' in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert 'user_controller="c-secret"' in props["listener.name.controller.plain.sasl.jaas.config"]
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["super.users"] == "User:harness;User:broker;User:controller" and props["allow.everyone.if.no.acl.found"] == "false"
    assert props["ssl.keystore.password"] == "k-secret"  # SCRAM runs inside TLS


def test_a_controller_only_node_gets_the_controller_listener_and_the_authorizer_but_no_scram() -> None:
    topology = load_profile("hdinsight").with_release("current").with_security("sasl_ssl")
    all_plans = [replace(p, sasl=SASL) for p in plans(topology)]
    controller = next(p for p in all_plans if p.node.is_controller and not p.node.is_broker)
    props = properties(server_properties(controller, topology, local_listeners(controller, [p for p in all_plans if p.node.is_quorum])))
    assert props["listener.security.protocol.map"].endswith("CONTROLLER:SASL_PLAINTEXT")
    assert props["authorizer.class.name"].endswith("StandardAuthorizer") and "sasl.enabled.mechanisms" not in props


def test_a_broker_on_zookeeper_uses_kafka_3_2s_acl_authorizer_and_no_controller_listener() -> None:
    topology = zookeeper_topology().with_security("sasl_ssl")
    all_plans = plans(topology)
    broker = replace(next(p for p in all_plans if p.node.is_broker), broker_port=9093, tls=TLS, sasl=SASL)
    props = properties(server_properties(broker, topology, local_listeners(broker, [p for p in all_plans if p.node.is_quorum])))
    assert props["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL"
    assert props["authorizer.class.name"] == "kafka.security.authorizer.AclAuthorizer"
    assert props["super.users"] == "User:harness;User:broker" and "sasl.mechanism.controller.protocol" not in props


def test_the_job_logs_in_as_its_principal_and_no_setting_shown_holds_a_password(tmp_path: Path) -> None:
    authority = RunAuthority(tmp_path / "pki")
    job = client_security(authority, "sasl_ssl", "ticker-job")
    password = authority.password("scram-ticker-job")
    assert job.protocol == "SASL_SSL" and job.librdkafka["sasl.username"] == "ticker-job" and job.librdkafka["sasl.password"] == password
    jaas = job.spark_options()["kafka.sasl.jaas.config"]
    assert jaas.startswith("org.apache.kafka.common.security.scram.ScramLoginModule required") and password in jaas
    assert password not in job.masked(jaas) and "<scram-ticker-job>" in job.masked(jaas)
    assert client_security(authority, "sasl_ssl").librdkafka["sasl.username"] == "harness"
    assert scram_credential("harness", "pw") == "SCRAM-SHA-512=[name=harness,password=pw]"


def test_principals_are_validated_with_the_fix_named() -> None:
    with pytest.raises(ValidationError, match="job_principal 'reader' is not among principals"):
        KafkaSecurity(protocol="sasl_ssl", job_principal="reader")
    with pytest.raises(ValidationError, match="'broker' is the twin's own"):
        Principal(name="broker")
    with pytest.raises(ValidationError, match="literal_error|Input should be"):
        Principal(name="job", topics={"t": ("erase",)})  # type: ignore[arg-type]
    secured = load_profile("dev").with_security(KafkaSecurity(protocol="sasl_ssl", principals=(JOB,), job_principal="ticker-job"))
    assert secured.kafka.security.sasl and secured.kafka.security.job_principal == "ticker-job"
    assert secured.with_security("tls").kafka.security.principals == (JOB,)  # a protocol override keeps the principals


def test_acls_are_kafkas_bindings_with_prefixes_for_a_trailing_star() -> None:
    bindings = {(b.restype, b.name, b.resource_pattern_type, b.operation, b.principal) for b in acl_bindings([JOB])}
    assert bindings == {
        (ResourceType.TOPIC, "stockVals", ResourcePatternType.LITERAL, AclOperation.READ, "User:ticker-job"),
        (ResourceType.TOPIC, "stockVals", ResourcePatternType.LITERAL, AclOperation.DESCRIBE, "User:ticker-job"),
        (ResourceType.GROUP, "spark-kafka-source-", ResourcePatternType.PREFIXED, AclOperation.READ, "User:ticker-job"),
    }
    everything = acl_bindings([Principal(name="ops", topics={"*": ("all",)})])[0]
    assert everything.name == "*" and everything.resource_pattern_type == ResourcePatternType.LITERAL


def test_a_failed_job_is_told_what_the_authorizer_denied_to_whom_on_either_release(tmp_path: Path) -> None:
    kraft = ("[2026-12-05 02:02:10,100] INFO Principal = User:ticker-job is Denied operation = DESCRIBE from host = 127.0.0.1 on resource = "
             "Group:LITERAL:spark-kafka-source-396e-driver-{n} for request = FindCoordinator with resourceRefCount = 1 based on rule "
             "DefaultDeny (kafka.authorizer.logger)\n")
    zookeeper = ("[2026-12-05 02:02:11,100] INFO Principal = User:ticker-job is Denied Operation = Write from host = 127.0.0.1 on resource = "
                 "Topic:LITERAL:stockWindows for request = Produce with resourceRefCount = 1 (kafka.authorizer.logger)\n")
    log = tmp_path / "server.log"
    log.write_text("".join(kraft.format(n=n) for n in range(3)) + zookeeper)

    class Twin:
        def __init__(self, protocol: str) -> None:
            self.topology = load_profile("dev").with_security(protocol)

        def state(self) -> SimpleNamespace:
            return SimpleNamespace(nodes=[SimpleNamespace(hostname="wn0-kafka", log=str(log))])

        def is_broker(self, name: str) -> bool:
            return True

        _broker_logs = Deployment._broker_logs  # noqa: SLF001 - the fake reuses the real log reading
        broker_log_ends = Deployment.broker_log_ends
        broker_logs_since = Deployment.broker_logs_since
    why = Deployment.denied_operations(Twin("sasl_ssl"))  # type: ignore[arg-type]
    assert why is not None and why.startswith("the brokers' authorizer denied: User:ticker-job was denied DESCRIBE on 3 resources, "
                                              "the last Group:LITERAL:spark-kafka-source-396e-driver-2 (FindCoordinator)")
    assert "User:ticker-job was denied WRITE on Topic:LITERAL:stockWindows (Produce)" in why and "spark-kafka-source-*" in why
    assert Deployment.denied_operations(Twin("sasl_ssl"), since=Twin("sasl_ssl").broker_log_ends()) is None  # type: ignore[arg-type]
    assert Deployment.denied_operations(Twin("tls")) is None  # type: ignore[arg-type]
