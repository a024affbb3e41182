"""A secured twin's configuration as data: listeners and TLS properties per release, what clients are
told, and what is refused. Certificates are real (the run's CA in a temp directory); no broker runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.backends.kafka_node import BrokerTls, KafkaNodePlan, local_listeners, server_properties
from harness.kafka import security
from harness.kafka.clients import _base  # noqa: PLC2701 - the one place client settings are assembled
from harness.kafka.security import client_security
from harness.runtime.pki import RunAuthority
from harness.topology.loader import load_profile
from tests.unit.test_releases import plans, properties, zookeeper_topology

TLS = BrokerTls(Path("/pki/wn0-kafka.p12"), "k-secret", Path("/pki/truststore.p12"), "t-secret", client_auth=True)


def test_a_secured_broker_on_zookeeper_serves_tls_to_clients_and_peers_and_nothing_in_plaintext() -> None:
    topology = zookeeper_topology().with_security("mtls")
    all_plans = plans(topology)
    quorum = [p for p in all_plans if p.node.is_quorum]
    broker = replace(next(p for p in all_plans if p.node.is_broker), broker_port=9093, tls=TLS)
    props = properties(server_properties(broker, topology, local_listeners(broker, quorum)))
    assert props["listeners"] == props["advertised.listeners"] == "SSL://127.1.2.5:9093"
    assert props["listener.security.protocol.map"] == "SSL:SSL" and props["inter.broker.listener.name"] == "SSL"
    assert props["ssl.client.auth"] == "required" and props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PKCS12"
    assert props["ssl.key.password"] == props["ssl.keystore.password"] == "k-secret"
    assert props["ssl.endpoint.identification.algorithm"] == "https"


def test_a_kraft_broker_keeps_a_plaintext_listener_only_when_asked_and_its_controller_stays_apart() -> None:
    topology = load_profile("dev").with_security("tls")
    node = topology.kafka_nodes[0]  # broker and controller at once
    plan = KafkaNodePlan(node=node, node_id=1, address="127.1.2.2", broker_port=9093, controller_port=9094, data_dir=Path("/d"),
                         log_dir=Path("/l"), tls=replace(TLS, client_auth=False), plaintext_port=9092)
    props = properties(server_properties(plan, topology, local_listeners(plan, [plan])))
    assert props["listeners"] == "SSL://127.1.2.2:9093,PLAINTEXT://127.1.2.2:9092,CONTROLLER://127.1.2.2:9094"
    assert props["advertised.listeners"] == "SSL://127.1.2.2:9093,PLAINTEXT://127.1.2.2:9092"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "SSL" and props["ssl.client.auth"] == "none"
    plain = replace(plan, tls=None, plaintext_port=None, broker_port=9092)
    assert "ssl.keystore.location" not in properties(server_properties(plain, load_profile("dev"), local_listeners(plain, [plain])))


def test_clients_of_a_registered_twin_get_its_settings_and_no_repr_shows_a_password(tmp_path: Path) -> None:
    authority = RunAuthority(tmp_path / "pki")
    mtls = client_security(authority, "mtls")
    assert mtls.spark_options()["kafka.security.protocol"] == "SSL"
    assert mtls.spark_options()["kafka.ssl.keystore.location"].endswith("harness.p12")
    assert set(mtls.secrets) == {"truststore", "harness"} and not any(v in repr(mtls) for v in mtls.secrets.values())
    security.register(["127.9.9.2:9093", "127.9.9.3:9093"], mtls)
    settings = _base("127.9.9.3:9093")  # a subset of the twin's brokers, as the fault scheduler asks
    assert settings["security.protocol"] == "SSL" and settings["ssl.certificate.location"].endswith("harness.pem")
    assert "security.protocol" not in _base("127.9.9.9:9092")  # another twin, plaintext
    assert client_security(authority, "plaintext").spark_options() == {}


def test_an_unknown_security_protocol_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown security protocol 'ssl'; choose one of: plaintext, tls, mtls, sasl_ssl"):
        load_profile("dev").with_security("ssl")


def test_a_stalled_job_on_a_secured_twin_is_told_the_handshakes_the_brokers_refused(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from harness.backends.base import Deployment

    log = tmp_path / "server.log"
    log.write_text("[2026-12-04 04:02:53,100] INFO started (kafka.server.KafkaServer)\n"
                   + "[2026-12-04 04:02:54,932] INFO [SocketServer listenerType=BROKER, nodeId=1] Failed authentication with /127.0.0.1 "
                     "(channelId=127.1.2.2:9093-127.0.0.1:51090-1-4) (SSL handshake failed) (org.apache.kafka.common.network.Selector)\n" * 3)
    nodes = [SimpleNamespace(hostname="wn0-kafka", log=str(log)), SimpleNamespace(hostname="hn0-spark", log="")]

    class Twin:
        def __init__(self, protocol: str) -> None:
            self.topology = load_profile("dev").with_security(protocol)

        def state(self) -> SimpleNamespace:
            return SimpleNamespace(nodes=nodes)

        def is_broker(self, name: str) -> bool:
            return name.endswith("-kafka")

        _broker_logs = Deployment._broker_logs  # noqa: SLF001 - the fake reuses the real log reading
        broker_log_ends = Deployment.broker_log_ends
        broker_logs_since = Deployment.broker_logs_since
        refused_handshakes = Deployment.refused_handshakes

        def certificate_mismatch(self) -> None:
            return None

    def twin(protocol: str) -> Twin:
        return Twin(protocol)
    why = Deployment.refused_handshakes(twin("mtls"))  # type: ignore[arg-type]
    assert why is not None and why.startswith("the brokers refused 3 connection(s) at TLS or authentication")
    assert "wn0-kafka: Failed authentication with /127.0.0.1" in why and "no client certificate" in why and "{client_properties}" in why
    marks = twin("mtls").broker_log_ends()
    assert twin("mtls").refused_handshakes(since=marks) is None  # refusals from before a job are not its own
    with log.open("a") as more:
        more.write("[2026-12-04 04:03:00,000] INFO [SocketServer] Failed authentication with /127.0.0.9 (SSL handshake failed)\n")
    assert (twin("mtls").refused_handshakes(since=marks) or "").startswith("the brokers refused 1 connection(s) at TLS or authentication (last, wn0-kafka: "
                                                                           "Failed authentication with /127.0.0.9")
    assert Deployment.refused_handshakes(twin("plaintext")) is None  # type: ignore[arg-type]
    log.write_text("[2026-12-04 04:02:53,100] INFO started (kafka.server.KafkaServer)\n")
    assert Deployment.refused_handshakes(twin("tls")) is None  # type: ignore[arg-type]


def test_a_certificate_without_the_fqdn_the_job_connects_by_is_named_with_the_names_it_holds(tmp_path: Path) -> None:
    from harness.backends.base import Deployment

    topology = load_profile("dev").with_security(load_profile("dev").kafka.security.model_copy(update={"protocol": "tls",
                                                                                                   "certificate_names": "short_name"}))
    authority = RunAuthority(tmp_path / "pki")

    class Twin:
        def __init__(self) -> None:
            self.topology = topology

        def authority(self) -> RunAuthority:
            return authority

        def job_bootstrap(self) -> str:
            return ",".join(f"{n.fqdn}:9093" for n in topology.brokers)

        broker_tls = Deployment.broker_tls
    twin = Twin()
    for node in topology.brokers:
        twin.broker_tls(node, ["10.0.0.4"])  # type: ignore[attr-defined]
    why = Deployment.certificate_mismatch(twin)  # type: ignore[arg-type]
    first = topology.brokers[0]
    assert why is not None and why.startswith(f"hostname verification fails: the job connects by {first.fqdn}")
    assert f"{first.hostname}'s holds {first.hostname}, 10.0.0.4" in why and "certificate_names: fqdn" in why
    fixed = tmp_path / "fixed"
    authority = RunAuthority(fixed)
    topology = topology.with_security("tls").with_security(topology.kafka.security.model_copy(update={"certificate_names": "fqdn"}))
    twin = Twin()
    for node in topology.brokers:
        twin.broker_tls(node, ["10.0.0.4"])  # type: ignore[attr-defined]
    assert Deployment.certificate_mismatch(twin) is None  # type: ignore[arg-type]
