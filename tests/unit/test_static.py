"""Static checks of profiles and jobs: each must fail on the case it exists for, and pass otherwise."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.topology import load_profile
from harness.topology.model import Topology
from harness.verify.report import GateCheck, GateReport
from harness.verify.static import JobDeclaration, TopicPlan, run_static_checks


def checks(topology: Topology, topics: list[TopicPlan], job: JobDeclaration | None = None) -> dict[str, object]:
    return {c.name: c for c in run_static_checks(topology, topics, job or JobDeclaration())}


def test_the_sample_passes_every_check() -> None:
    result = checks(load_profile("hdinsight").with_release("hdinsight-5.1"), [TopicPlan("stockVals", 8, 3)],
                    JobDeclaration(spark_version="3.3.4", connector="org.apache.spark:spark-sql-kafka-0-10_2.12:3.3.4"))
    assert all(c.ok for c in result.values()), [c for c in result.values() if not c.ok]


def test_replication_factor_above_brokers() -> None:
    check = checks(load_profile("dev"), [TopicPlan("t", 8, 4)])["replication factor of t fits the brokers"]
    assert not check.ok and "at most 3" in check.fix


def test_min_insync_equal_to_replication_factor() -> None:
    check = checks(load_profile("dev"), [TopicPlan("t", 8, 3, min_insync_replicas=3)])["min.insync.replicas of t is below its replication factor"]
    assert not check.ok and "set min.insync.replicas to 2" in check.fix


def test_partitions_per_broker_limit() -> None:
    check = checks(load_profile("dev"), [TopicPlan("huge", 2100, 3)])["partition replicas per broker within HDInsight's limit"]
    assert not check.ok and "2100 per broker" in check.detail


def test_connector_must_match_spark() -> None:
    job = JobDeclaration(spark_version="3.3.1", connector="org.apache.spark:spark-sql-kafka-0-10_2.12:3.1.3")
    check = checks(load_profile("dev"), [], job)["connector version matches Spark"]
    assert not check.ok and "spark-sql-kafka-0-10_2.12:3.3.1" in check.fix


def test_dynamic_allocation_on_a_streaming_job() -> None:
    job = JobDeclaration(spark_conf={"spark.dynamicAllocation.enabled": "true"})
    check = checks(load_profile("dev"), [], job)["dynamic allocation off for a streaming job"]
    assert not check.ok and "false" in check.fix


def _peered(custom_dns: bool) -> Topology:
    data = load_profile("hdinsight").model_dump(mode="json")
    data["vnets"] = [
        {**data["vnets"][0], "name": "kafka-vnet", "peered_with": ["spark-vnet"], "custom_dns": custom_dns},
        {"name": "spark-vnet", "address_space": "10.1.0.0/16", "subnet": "10.1.0.0/24", "dns_suffix": "other0000000000000000000000.cx.internal.cloudapp.net", "peered_with": ["kafka-vnet"], "custom_dns": custom_dns},
    ]
    data["clusters"][0]["vnet"], data["clusters"][1]["vnet"] = "kafka-vnet", "spark-vnet"
    return Topology.model_validate(data)


FQDNS = "wn0-kafka.eahjefxxp1netdbyklgqj5y1ud.cx.internal.cloudapp.net:9092,wn1-kafka.eahjefxxp1netdbyklgqj5y1ud.cx.internal.cloudapp.net:9092"


@pytest.mark.parametrize(("custom_dns", "bootstrap", "ok"), [(False, FQDNS, False), (True, FQDNS, True), (False, "10.0.0.5:9092,10.0.0.6:9092", True)])
def test_broker_names_across_peered_vnets(custom_dns: bool, bootstrap: str, ok: bool) -> None:
    """The seed's warning, and both documented fixes: custom DNS, or Kafka advertising IP addresses."""
    check = checks(_peered(custom_dns), [], JobDeclaration(bootstrap_servers=bootstrap))["job names brokers it can resolve"]
    assert check.ok is ok
    if not ok:
        assert "custom DNS" in check.fix and "advertised.listeners=PLAINTEXT://<ip>:9092" in check.fix


def test_gate_report_outputs(tmp_path: Path) -> None:
    report = GateReport("g", checks=[GateCheck("static", "a", True, "fine"), GateCheck("scenario x", "rows", False, "3 missing", "fix the job"),
                                     GateCheck("scenario y", "not run", True, "skipped", skipped=True)],
                        benchmarks=[{"scenario": "x", "metric": "job.throughput_rows_per_s", "old": 100.0, "new": 50.0, "ratio": 0.5}])
    report.write_junit(tmp_path / "junit.xml")
    root = ET.parse(tmp_path / "junit.xml").getroot()
    failures = [case.get("name") for case in root.iter("testcase") if case.find("failure") is not None]
    assert failures == ["rows"]
    assert [case.get("name") for case in root.iter("testcase") if case.find("skipped") is not None] == ["not run"]
    assert "**FAIL**" in report.markdown() and "| x | job.throughput_rows_per_s | 100.0 | 50.0 | 0.50 |" in report.markdown()
    report.write_html(tmp_path / "gate.html")
    page = (tmp_path / "gate.html").read_text()
    assert "data:image/png;base64," in page and "FAIL" in page


def test_a_job_built_for_spark_33_fails_the_current_releases_checks_and_passes_hdinsight_51s() -> None:
    job = JobDeclaration(spark_version="3.3.4", connector="org.apache.spark:spark-sql-kafka-0-10_2.12:3.3.4")
    on_current = checks(load_profile("hdinsight").with_release("current"), [TopicPlan("stockVals", 8, 3)], job)
    spark, connector = on_current["job's Spark is release current's"], on_current["connector is release current's"]
    assert not spark.ok and "Spark 4.2.0" in spark.detail
    assert not connector.ok and "a Scala 2.12 connector does not load there" in connector.detail
    assert connector.fix == "use org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0"
    on_51 = checks(load_profile("hdinsight").with_release("hdinsight-5.1"), [TopicPlan("stockVals", 8, 3)], job)
    assert on_51["job's Spark is release hdinsight-5.1's"].ok and on_51["connector is release hdinsight-5.1's"].ok


def test_a_gate_names_only_known_releases_and_verdicts_for_releases_it_runs(tmp_path: Path) -> None:
    from harness.errors import ConfigError
    from harness.gate import load_gate

    def gate(body: str) -> Path:
        path = tmp_path / "gate.yaml"
        path.write_text(body)
        return path

    with pytest.raises(ConfigError, match="unknown release 'hdinsight-4.0'"):
        load_gate(gate("releases: [hdinsight-4.0]\nscenarios: [a.yaml]\n"))
    with pytest.raises(ConfigError, match="expect_verdict names hdinsight-5.1, which this gate does not run"):
        load_gate(gate("releases: [current]\nscenarios: [{path: a.yaml, expect_verdict: {hdinsight-5.1: pass}}]\n"))
    loaded = load_gate(gate("releases: [hdinsight-5.1, current]\nscenarios: [{path: a.yaml, expect_verdict: {current: fail}}]\n"))
    assert loaded.releases == ("hdinsight-5.1", "current")


def test_a_client_setting_newer_than_the_releases_connector_client_is_named() -> None:
    job = JobDeclaration(kafka_options={"kafka.enable.metrics.push": "false", "kafka.max.poll.records": "500", "fetch.min.bytes": "1"})
    on_51 = checks(load_profile("hdinsight").with_release("hdinsight-5.1"), [TopicPlan("stockVals", 8, 3)], job)
    known = on_51["Kafka client settings known to release hdinsight-5.1's connector"]
    assert not known.ok and "kafka-clients 2.8.1" in known.detail and "enable.metrics.push" in known.detail  # a 3.7 client setting
    assert "max.poll.records" not in known.detail
    on_current = checks(load_profile("hdinsight").with_release("current"), [TopicPlan("stockVals", 8, 3)], job)
    assert on_current["Kafka client settings known to release current's connector"].ok  # kafka-clients 3.9.2 knows it


def test_consumer_settings_the_spark_source_refuses_are_named_with_the_source_option_to_use() -> None:
    job = JobDeclaration(kafka_options={"kafka.auto.offset.reset": "earliest"})
    refused = checks(load_profile("dev"), [TopicPlan("stockVals", 8, 3)], job)["Kafka settings the Spark source takes"]
    assert not refused.ok and "startingOffsets" in refused.detail


SECURITY_CHECK = "job's security options match the brokers' listeners"


@pytest.mark.parametrize(("protocol", "options", "ok", "says"), [
    ("tls", {"kafka.security.protocol": "PLAINTEXT"}, False, "the job uses PLAINTEXT, and the brokers of profile dev serve SSL only"),
    ("tls", {"kafka.bootstrap.servers": "wn0-kafka:9093"}, False, "uses PLAINTEXT"),  # no protocol said: the client's default
    ("tls", {"kafka.security.protocol": "SSL"}, False, "sets no kafka.ssl.truststore.location"),
    ("tls", {"kafka.security.protocol": "SSL", "kafka.ssl.truststore.location": "/etc/kafka/truststore.p12"}, True, "uses SSL"),
    ("mtls", {"kafka.security.protocol": "SSL", "kafka.ssl.truststore.location": "/t.p12"}, False, "demand a client certificate"),
    ("plaintext", {"kafka.security.protocol": "SSL", "kafka.ssl.truststore.location": "/t.p12"}, False, "serve PLAINTEXT only"),
    ("plaintext", {"kafka.security.protocol": "PLAINTEXT"}, True, "uses PLAINTEXT"),
    ("sasl_ssl", {"kafka.security.protocol": "SSL", "kafka.ssl.truststore.location": "/t.p12"}, False, "serve SASL_SSL only"),
    ("sasl_ssl", {"kafka.security.protocol": "SASL_SSL", "kafka.ssl.truststore.location": "/t.p12"}, False,
     "sets no kafka.sasl.mechanism, kafka.sasl.jaas.config: it has no SCRAM login"),
    ("sasl_ssl", {"kafka.security.protocol": "SASL_SSL", "kafka.ssl.truststore.location": "/t.p12", "kafka.sasl.mechanism": "SCRAM-SHA-512",
                  "kafka.sasl.jaas.config": "${file:/etc/kafka/jaas.properties:job}"}, True, "uses SASL_SSL"),
])
def test_a_jobs_security_protocol_must_be_one_the_brokers_serve(protocol: str, options: dict[str, str], ok: bool, says: str) -> None:
    check = checks(load_profile("dev").with_security(protocol), [], JobDeclaration(kafka_options=options))[SECURITY_CHECK]
    assert check.ok is ok and says in check.detail, check.detail


def test_a_plaintext_listener_reopened_beside_tls_fails_and_one_the_profile_keeps_is_named() -> None:
    secured = load_profile("dev").with_security("tls")
    reopened = secured.model_copy(update={"kafka": secured.kafka.model_copy(update={"server_properties": {"listeners": "SSL://:9093,PLAINTEXT://:9092"}})})
    check = checks(reopened, [])["no plaintext listener beside TLS"]
    assert not check.ok and "remove the PLAINTEXT listener" in check.fix
    kept = secured.model_copy(update={"kafka": secured.kafka.model_copy(update={"security": secured.kafka.security.model_copy(update={"plaintext_listener": True})})})
    check = checks(kept, [])["no plaintext listener beside TLS"]
    assert check.ok and "needs no certificate" in check.detail
    assert checks(secured, [])["no plaintext listener beside TLS"].ok


def test_a_password_in_clear_in_the_job_or_a_scenario_file_is_named_and_placeholders_pass() -> None:
    scenario = {"job": {"application": {"file": "app.py", "conf": {"spark.kafka.ssl.truststore.password": "hunter2"},
                                        "args": ["--conf", "kafka.ssl.key.password=s3cret", "--truststore-password=${file:/etc/kafka/pw.properties:truststore}"]}}}
    job = JobDeclaration(kafka_options={"kafka.ssl.keystore.password": "${env:KEYSTORE_PASSWORD}", "kafka.sasl.jaas.config": "org... password=\"x\";"})
    check = run_static_checks(load_profile("dev"), [], job, {"scenarios/app.yaml": scenario})[-1]
    assert check.name == "no secret written in clear in the job or its scenarios" and not check.ok
    assert check.detail.split("; ") == ["the gate's job: kafka.sasl.jaas.config", "scenarios/app.yaml: job.application.conf.spark.kafka.ssl.truststore.password",
                                        "scenarios/app.yaml: job.application.args[1]"]
    assert "hunter2" not in check.detail and "s3cret" not in check.detail  # the check names where, never what
    clean = run_static_checks(load_profile("dev"), [], JobDeclaration(), {"scenarios/stock-ticker.yaml": {"job": {"name": "stock-windows"}}})[-1]
    assert clean.ok
