"""Secured twins end to end: brokers behind TLS with the run's own CA, the stock ticker over mTLS on
today's stack with the same checks as plaintext, clients without credentials turned away, nothing
listening beyond loopback, and no secret in any log or report.

One mTLS dev twin (local backend). TLS on hdinsight-5.1 (Kafka 3.2 on ZooKeeper, Spark 3.3) runs in
tests/test_sasl.py, whose SASL_SSL listener is that TLS listener with SCRAM inside it; the docker
backend's TLS runs in CI's docker line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from ipaddress import ip_address
from pathlib import Path

import psutil
import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer

from harness.backends import Deployment, new_deployment
from harness.kafka.admin import create_topic
from harness.kafka.readback import read_topic
from harness.runner import run_scenario, running_twin
from harness.runtime.readiness import wait_for
from harness.scenarios.spec import load_scenario
from tests.conftest import REPO
from tests.test_cluster import produce

TICKER = REPO / "scenarios" / "stock-ticker.yaml"


@pytest.fixture(scope="module")
def mtls_twin(module_runs: Path) -> Iterator[Deployment]:
    with running_twin(new_deployment("dev", f"mtls-{os.getpid()}", "local", security="mtls")) as twin:
        yield twin


def _unregistered(twin: Deployment, **settings: str) -> dict[str, object]:
    """A client's settings made by hand, bypassing the twin's registered security: what a team's client has."""
    return {"bootstrap.servers": twin.bootstrap_servers, "client.id": "no-credentials", "socket.timeout.ms": 5000, **settings}


# What librdkafka's error callback reports for a connection the brokers refuse. The client itself retries until a
# record's message.timeout.ms or a metadata call's timeout ends, so waiting on those waited out a timer (8 s each).
REFUSED = (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._SSL, KafkaError._AUTHENTICATION)


def assert_turned_away(twin: Deployment, settings: dict[str, object], topic: str, who: str) -> None:
    """A client with these settings can neither produce nor consume: its producer and its consumer are each refused,
    the consumer reads nothing of the records already there, and the topic holds afterwards exactly what it held before."""
    stored = read_topic(twin.bootstrap_servers, topic, 1)
    producer = _Watched(Producer, settings)
    try:
        producer.client.produce(topic, b"intruder")
        producer.wait_refused(f"{who}'s producer")
    finally:
        # Closed here, not by the garbage collector: a refused producer left alive kept reconnecting, and the brokers'
        # "Failed authentication" lines it caused made the next test's run, on the same twin, call its job refused.
        producer.client.purge()
        producer.client.close()
    consumer = _Watched(Consumer, {**settings, "group.id": "intruders", "auto.offset.reset": "earliest"})
    try:
        consumer.client.subscribe([topic])
        consumer.wait_refused(f"{who}'s consumer")
    finally:
        consumer.client.close()
    assert read_topic(twin.bootstrap_servers, topic, 1) == stored, f"{who}: a record was accepted"


class _Watched:
    """A client whose refusal is a fact it reports: a refused connection in its error callback, or, in its statistics
    every 100 ms, a bootstrap broker it disconnected from while it never learned the cluster's brokers (a consumer
    turned away during the SASL handshake reports no error at all). A client that is let in fails the wait at once."""

    def __init__(self, kind: type[Producer] | type[Consumer], settings: dict[str, object]) -> None:
        self.errors: list[KafkaError] = []
        self.came_up = False
        self.disconnected = False
        self.client = kind({**settings, "error_cb": self.errors.append, "stats_cb": self._stats, "statistics.interval.ms": 100})

    def _stats(self, text: str) -> None:
        brokers = list(json.loads(text).get("brokers", {}).values())
        # Let in: it learned the cluster's brokers from a metadata response. A connection may be UP and still refused
        # (a SASL listener answers ApiVersions before the handshake, then drops a client that asks for metadata).
        self.came_up = self.came_up or any(b.get("nodeid", -1) >= 0 for b in brokers)
        self.disconnected = self.disconnected or any(b.get("disconnects", 0) > 0 for b in brokers if b.get("nodeid", -1) == -1)  # bootstrap

    def wait_refused(self, who: str) -> object:
        def turned_away() -> object:
            message = self.client.poll(0.1)
            assert not (isinstance(message, Message) and message.error() is None), f"{who} read {message.value()!r}"
            assert not self.came_up, f"{who} was let in"
            return next((e for e in self.errors if e.code() in REFUSED), None) or (self.disconnected or None)

        return wait_for(turned_away, what=f"the brokers to refuse {who}", timeout=60, interval=0, fatal=(AssertionError,),
                        last_seen=lambda: f"errors so far: {[error.str() for error in self.errors]}")


def test_a_client_without_credentials_can_neither_produce_nor_consume(mtls_twin: Deployment) -> None:
    topic = "guarded"
    create_topic(mtls_twin.bootstrap_servers, topic, partitions=1, replication_factor=3)
    produce(mtls_twin.bootstrap_servers, topic, 5, "ok")  # the harness's own client holds the run's certificate
    ca = str(mtls_twin.authority().certificate)
    for who, settings in (("plaintext", {}), ("TLS without a client certificate", {"security.protocol": "SSL", "ssl.ca.location": ca})):
        assert_turned_away(mtls_twin, _unregistered(mtls_twin, **settings), topic, who)


def test_the_refusal_check_fails_for_a_client_the_brokers_let_in(mtls_twin: Deployment) -> None:
    """The check above ends on the client's own report, so it must not mistake a welcome client for a refused one."""
    create_topic(mtls_twin.bootstrap_servers, "open", partitions=1, replication_factor=3)
    produce(mtls_twin.bootstrap_servers, "open", 5, "ok")
    with pytest.raises(AssertionError, match="let in|read|accepted"):
        assert_turned_away(mtls_twin, _unregistered(mtls_twin, **mtls_twin.client_security.librdkafka), "open", "the harness's own client")


def test_the_stock_ticker_passes_over_mtls(mtls_twin: Deployment, spark: object) -> None:
    report = run_scenario(load_scenario(TICKER), deployment=mtls_twin, spark=spark)  # type: ignore[arg-type]
    assert report.verdict == "pass", report.render()
    assert report.security == "mtls" and "over MTLS" in report.render()
    _assert_no_secret_in(mtls_twin, [json.dumps(report.to_json()), report.render()])


def test_a_submitted_application_runs_unchanged_over_mtls_with_the_client_properties_it_is_given(mtls_twin: Deployment) -> None:
    """examples/apps/stock_windows_app.py, spark-submitted, reads and writes Kafka with the settings of
    `{client_properties}`; its event log and output hold no password."""
    report = run_scenario(load_scenario(REPO / "scenarios" / "stock-ticker-app.yaml"), deployment=mtls_twin)
    assert report.verdict == "pass", report.render()
    _assert_no_secret_in(mtls_twin, [json.dumps(report.to_json()), report.render()])


def test_the_pyspark_notebook_reads_the_twins_client_settings_and_passes_over_mtls(mtls_twin: Deployment,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/notebooks/stock-ticker-pyspark.ipynb takes the client settings as a file (`client_properties`, given
    `{client_properties}`), never as passwords in a cell: the same notebook runs in plaintext and over mTLS."""
    monkeypatch.chdir(REPO)
    report = run_scenario(load_scenario(REPO / "scenarios" / "stock-ticker-notebook-pyspark.yaml"), deployment=mtls_twin)
    assert report.verdict == "pass", report.render()
    assert report.security == "mtls" and report.verification["actual_rows"] > 0
    _assert_no_secret_in(mtls_twin, [json.dumps(report.to_json()), report.render()])


def test_a_plaintext_job_against_tls_fails_for_the_refused_handshakes_and_not_on_a_timer(mtls_twin: Deployment) -> None:
    """scenarios/tls-plaintext-job.yaml: the example application without --kafka-properties. Its wait ends
    on the brokers' refusals, before the job's first batch, not on the catch-up time-out."""
    report = run_scenario(load_scenario(REPO / "scenarios" / "tls-plaintext-job.yaml"), deployment=mtls_twin)
    assert report.verdict == "fail"
    finished = next(c for c in report.checks if c.name == "the job finished before it was stopped")
    assert not finished.ok and finished.detail.startswith("stalled:") and "the brokers refused" in finished.detail
    assert "spoke plaintext to the TLS listener" in finished.detail and "{client_properties}" in finished.detail


def test_nothing_of_a_secured_twin_listens_beyond_loopback(mtls_twin: Deployment) -> None:
    brokers = {str(pid) for pid in mtls_twin.node_pids()}
    spark = {str(p.pid) for p in psutil.Process().children(recursive=True) if "SparkSubmit" in " ".join(_cmdline(p))}  # this test's Spark JVM
    listening = [line.split() for line in subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()]

    def owned_by(pids: set[str]) -> list[list[str]]:
        return [fields for fields in listening if any(f"pid={pid}," in fields[-1] for pid in pids)]
    assert owned_by(brokers), "found no listening socket of the twin's brokers"
    for fields in owned_by(brokers | spark):
        address = ip_address(fields[3].rsplit(":", 1)[0].strip("[]").split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)  # Java binds IPv4 addresses as ::ffff:a.b.c.d
        assert (mapped or address).is_loopback, " ".join(fields)
    ports = {int(fields[3].rsplit(":", 1)[1]) for fields in owned_by(brokers)}
    assert 9093 in ports and 9092 not in ports, ports  # TLS on HDInsight's port, and no plaintext listener beside it


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:  # exited (or a zombie not yet reaped by its own parent) since it was listed
        return []


def test_harness_status_shows_the_client_settings_without_their_passwords(mtls_twin: Deployment) -> None:
    notes = "\n".join(mtls_twin.access_notes())
    assert "kafka.security.protocol=SSL" in notes and "kafka.ssl.keystore.location=" in notes and "ssl.ca.location=" in notes
    for secret in _secrets(mtls_twin):
        assert secret not in notes


# ----- secrets ---------------------------------------------------------------------------------------

CONFIGS = ("server.properties", "driver.json", "client.properties")  # where a node or driver must read its store passwords: 0600, not logs


def _secrets(twin: Deployment) -> list[str]:
    """Every store password of the run, and the body of every private key it made."""
    pki = twin.authority().directory
    passwords = list(json.loads((pki / "passwords.json").read_text()).values())
    keys = [re.sub(r"-----[A-Z ]+-----|\s", "", key.read_text()) for key in pki.glob("*.key")]
    return passwords + [body[:40] for body in keys]


def _files_under(top: Path) -> list[Path]:
    """Every file under `top`, while the brokers that write there keep deleting topic directories (os.walk
    skips a directory that vanished between listing and reading; rglob raises)."""
    return [Path(folder) / name for folder, _, names in os.walk(top) for name in names]


def _assert_no_secret_in(twin: Deployment, reports: list[str]) -> None:
    secrets = _secrets(twin)
    assert len(secrets) >= 4
    pki = twin.authority().directory
    scanned = 0
    for path in _files_under(twin.run.path):
        if pki in path.parents:
            continue
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:  # a running broker removes a deleted topic's directory while we read
            continue
        scanned += 1
        leaked = [s[:6] + "..." for s in secrets if s in text]
        if leaked and path.name in CONFIGS:
            assert path.stat().st_mode & 0o077 == 0, f"{path} holds passwords and others may read it"
            continue
        assert not leaked, f"{path} holds a secret of the run: {leaked}"
    for report in reports:
        assert not [s for s in secrets if s in report], "a report holds a secret of the run"
    assert scanned > 5  # the logs of every node were read
