"""SASL_SSL twins end to end: SCRAM-SHA-512 users inside TLS, Kafka's standard authorizer, and the
principals' ACLs as the brokers enforce them.

A dev twin on today's stack (local backend) whose job principal may read `stockVals` and nothing else:
clients without a login (or with a wrong one) are turned away, the principal is held to its ACLs, and the
stock ticker passes as that principal (Spark 4 fetches offsets with an admin client and needs no group).
The same principal on hdinsight-5.1 is in tests/test_sasl_group_rights.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from harness.backends import Deployment, new_deployment
from harness.kafka.admin import create_topic
from harness.runner import run_scenario, running_twin
from harness.scenarios.spec import load_scenario
from harness.topology.model import KafkaSecurity, Principal
from tests.conftest import REPO
from tests.test_cluster import produce
from tests.test_security import _assert_no_secret_in, _secrets, assert_turned_away

TICKER = REPO / "scenarios" / "stock-ticker.yaml"
READER = KafkaSecurity(protocol="sasl_ssl", job_principal="ticker-job",
                       principals=(Principal(name="ticker-job", topics={"stockVals": ("read", "describe")}),))


@pytest.fixture(scope="module")
def sasl_twin(module_runs: Path) -> Iterator[Deployment]:
    with running_twin(new_deployment("dev", f"sasl-{os.getpid()}", "local", security=READER)) as twin:
        yield twin


def _login(twin: Deployment, **settings: object) -> dict[str, object]:
    """A client's settings made by hand from the twin's TLS settings, without the harness's registered login."""
    tls = {k: v for k, v in twin.client_security.librdkafka.items() if not k.startswith("sasl.")}
    return {"bootstrap.servers": twin.bootstrap_servers, "client.id": "by-hand", "socket.timeout.ms": 5000, **tls, **settings}


def _produce_fails(settings: dict[str, object], topic: str) -> KafkaError:
    errors: list[KafkaError] = []
    producer = Producer({**settings, "message.timeout.ms": 8000})
    producer.produce(topic, b"intruder", on_delivery=lambda error, _msg: errors.append(error))
    producer.flush(30)
    producer.close()  # not left to retry against the twin the next tests share
    assert errors and errors[0] is not None, f"a record was accepted from {settings.get('sasl.username', 'a client without a login')}"
    return errors[0]


def test_a_client_without_a_login_or_with_a_wrong_password_can_neither_produce_nor_consume(sasl_twin: Deployment) -> None:
    topic = "guarded"
    create_topic(sasl_twin.bootstrap_servers, topic, partitions=1, replication_factor=3)
    produce(sasl_twin.bootstrap_servers, topic, 5, "ok")  # the harness's own client has the broker login
    password = sasl_twin.job_security.librdkafka["sasl.password"]
    for who, settings in (("TLS without a SCRAM login", _login(sasl_twin, **{"security.protocol": "SSL"})),
                          ("a wrong password", _login(sasl_twin, **{"security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
                                                                     "sasl.username": "ticker-job", "sasl.password": password[::-1]}))):
        assert_turned_away(sasl_twin, settings, topic, who)


def test_a_principal_may_do_what_its_acls_grant_and_nothing_else(sasl_twin: Deployment) -> None:
    create_topic(sasl_twin.bootstrap_servers, "stockVals", partitions=2, replication_factor=3, exist_ok=True)
    job = _login(sasl_twin, **sasl_twin.job_security.librdkafka)
    assert job["sasl.username"] == "ticker-job"
    metadata = Consumer({**job, "group.id": "unused"}).list_topics("stockVals", timeout=10)  # DESCRIBE granted
    assert metadata.topics["stockVals"].error is None and len(metadata.topics["stockVals"].partitions) == 2
    assert _produce_fails(job, "stockVals").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED  # READ, not WRITE
    consumer = Consumer({**job, "group.id": "not-granted", "auto.offset.reset": "earliest"})
    errors: list[KafkaError] = []
    try:
        consumer.subscribe(["stockVals"], on_assign=lambda *_: None)
        for _ in range(20):
            message = consumer.poll(1.0)
            if message is not None and message.error() is not None:
                errors.append(message.error())
                break
    finally:
        consumer.close()
    assert errors and errors[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED, errors
    why = sasl_twin.denied_operations()
    assert why is not None and "User:ticker-job was denied WRITE on Topic:LITERAL:stockVals" in why
    assert "User:ticker-job was denied DESCRIBE on" in why and "Group:LITERAL:" in why  # the group coordinator was not even named to it


def test_the_stock_ticker_passes_over_sasl_ssl_as_a_principal_without_group_rights_on_spark_4(sasl_twin: Deployment,
                                                                                              spark: object) -> None:
    marks = sasl_twin.broker_log_ends()
    report = run_scenario(load_scenario(TICKER), deployment=sasl_twin, spark=spark)  # type: ignore[arg-type]
    assert report.verdict == "pass", report.render()
    assert report.security == "sasl_ssl" and "over SASL_SSL" in report.render()
    assert sasl_twin.denied_operations(since=marks) is None
    _assert_no_secret_in(sasl_twin, [json.dumps(report.to_json()), report.render(), "\n".join(sasl_twin.access_notes())])
    assert any(name.startswith("scram-") for name in json.loads((sasl_twin.authority().directory / "passwords.json").read_text()))
    assert len(_secrets(sasl_twin)) >= 6  # the SCRAM passwords are among what no log may hold


def test_nothing_of_a_sasl_twin_listens_beyond_loopback(sasl_twin: Deployment) -> None:
    pids = {str(pid) for pid in sasl_twin.node_pids()}
    listening = [line.split() for line in subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()]
    owned = [fields for fields in listening if any(f"pid={pid}," in fields[-1] for pid in pids)]
    assert owned
    for fields in owned:
        address = ip_address(fields[3].rsplit(":", 1)[0].strip("[]").split("%")[0])
        assert (getattr(address, "ipv4_mapped", None) or address).is_loopback, " ".join(fields)
