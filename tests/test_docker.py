"""The docker backend end to end on the `hdinsight` profile: names, addresses, exec, Ambari, the
stock-ticker job inside the VNet, a broker partition, network faults, and a clean `down`.

One twin serves the module (14 containers on hdinsight-5.1, ready in about 20-30 s on 2 cores).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import docker.errors
import pytest
from docker.models.containers import Container

from harness.backends.docker.deployment import DockerDeployment
from harness.backends import new_deployment
from harness.errors import HarnessError
from harness.faults.inject import inject
from harness.faults.schedule import fault_from
from harness.runner import run_scenario, running_twin
from harness.scenarios.spec import load_scenario
from harness.topology.model import KafkaSecurity
from tests.conftest import REPO, docker_leftovers, run_cli
from tests.test_cluster import produce

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SUBNET = IPv4Network("10.0.0.0/24")
BROKERS = ("wn0-kafka", "wn1-kafka", "wn2-kafka")


@pytest.fixture(scope="module")
def twin(docker_engine: None, module_runs: Path) -> Iterator[DockerDeployment]:
    deployment = new_deployment("hdinsight", f"dk-{os.getpid()}", "docker")
    assert isinstance(deployment, DockerDeployment)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


def _exec(twin: DockerDeployment, node: str, *argv: str) -> str:
    result = run_cli("exec", "--name", twin.run.name, node, "--", *argv, timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def test_status_shows_every_node_with_its_fqdn_and_an_address_in_the_subnet(twin: DockerDeployment) -> None:
    result = run_cli("status", "--name", twin.run.name, "--json")
    assert result.returncode == 0, result.stderr
    nodes = json.loads(result.stdout)["nodes"]
    assert {n["hostname"] for n in nodes} == {n.hostname for n in twin.topology.nodes}
    for node in nodes:
        assert node["fqdn"] == f"{node['hostname']}.{twin.topology.vnets[0].dns_suffix}"
        assert IPv4Address(node["endpoint"].split(":")[0]) in SUBNET, node
        assert node["state"] == "running", node
    listed = run_cli("status", "--all")  # every recorded run, whatever its backend
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert f"run {twin.run.name!r}: profile hdinsight, ready, backend docker" in listed.stdout


def test_a_spark_worker_resolves_and_reaches_every_broker_by_fqdn(twin: DockerDeployment) -> None:
    fqdns = [twin.topology.node(b).fqdn for b in BROKERS]
    script = (
        "import socket, sys\n"
        "for name in sys.argv[1:]:\n"
        "    address = socket.gethostbyname(name)\n"
        "    socket.create_connection((name, 9092), timeout=5).close()\n"
        "    print(name, address)\n"
    )
    out = _exec(twin, "wn3-spark", "python3", "-c", script, *fqdns)
    resolved = dict(line.split() for line in out.splitlines())
    assert resolved == {twin.topology.node(b).fqdn: twin.plan.container(b).address for b in BROKERS}
    assert _exec(twin, "wn3-spark", "hostname", "-f").strip() == twin.topology.node("wn3-spark").fqdn


def test_every_spark_worker_registered_with_the_master_at_its_first_attempt(twin: DockerDeployment) -> None:
    """The workers start once the master answers: started with it, they found none and retried about 10 s later."""
    from harness.backends.docker.engine import docker_client
    from harness.runtime.readiness import wait_for

    for worker in twin.topology.spark_workers:
        container = docker_client().containers.get(twin.plan.container(worker.hostname).name)

        # The master lists a worker ALIVE before the worker has logged its side of the registration.
        def registered(container=container) -> str | None:  # noqa: ANN001
            text = container.logs().decode("utf-8", "replace")
            return text if "Successfully registered with master" in text else None

        log = wait_for(registered, what=f"{worker.hostname} to log its registration", timeout=60)
        assert "Retrying connection to master" not in log, (worker.hostname, log[-2000:])


_MAPS_ARCHIVE = "any(m.path == os.environ['SPARK_CLASS_ARCHIVE'] for m in psutil.Process(pid).memory_maps())"
_DAEMONS_MAP_ARCHIVE = (
    "import os, sys, psutil\n"
    "daemons = [p.pid for p in psutil.process_iter(['name', 'cmdline']) if p.info['name'] == 'java' and sys.argv[1] in p.info['cmdline']]\n"
    f"print(sorted({{{_MAPS_ARCHIVE} for pid in daemons}}) if daemons else 'none')\n"
)
_JOB_MAPS_ARCHIVE = (
    "import json, os, socket, psutil\n"
    "from pyspark.sql import SparkSession\n"
    "s = SparkSession.builder.master(f'spark://{socket.getfqdn()}:7077').config('spark.executor.memory', '512m').getOrCreate()\n"
    "def in_executor(_):\n"
    "    import os, psutil\n"
    "    pid = next(p.pid for p in psutil.Process().parents() if 'CoarseGrainedExecutorBackend' in ' '.join(p.cmdline()))\n"
    f"    yield (pid, {_MAPS_ARCHIVE})\n"
    "executors = dict(s.sparkContext.parallelize(range(8), 8).mapPartitions(in_executor).collect())\n"
    "pid = s._jvm.java.lang.ProcessHandle.current().pid()\n"
    f"print(json.dumps({{'driver': {_MAPS_ARCHIVE}, 'executors': sorted(executors.values())}}))\n"
    "s.stop()\n"
)


def test_the_spark_jvms_in_the_vnet_map_the_images_class_archive(twin: DockerDeployment) -> None:
    """The Spark image trains a class-data-sharing archive when it is built (a driver's start about halves): the
    master, every worker, a driver on the head node and its executors on the workers all map it."""
    assert _exec(twin, "hn0-spark", "python3", "-c", _DAEMONS_MAP_ARCHIVE, "org.apache.spark.deploy.master.Master").strip() == "[True]"
    for worker in twin.topology.spark_workers:
        assert _exec(twin, worker.hostname, "python3", "-c", _DAEMONS_MAP_ARCHIVE, "org.apache.spark.deploy.worker.Worker").strip() == "[True]", worker.hostname
    job = json.loads(_exec(twin, "hn0-spark", "python3", "-c", _JOB_MAPS_ARCHIVE).strip().splitlines()[-1])
    assert job == {"driver": True, "executors": [True] * len(job["executors"])} and job["executors"], job


def test_kafka_tools_run_on_a_node_against_broker_short_names(twin: DockerDeployment) -> None:
    from harness.kafka import admin

    admin.create_topic(twin.bootstrap_servers, "made-on-the-host", partitions=3, replication_factor=3)
    out = _exec(twin, "wn0-kafka", "kafka-topics.sh", "--bootstrap-server", "wn1-kafka:9092", "--describe", "--topic", "made-on-the-host")
    assert "PartitionCount: 3" in out and "ReplicationFactor: 3" in out


def test_ambari_lists_brokers_and_zookeepers_with_basic_auth(twin: DockerDeployment) -> None:
    password = twin.ambari_password_file.read_text().strip()
    cluster = twin.topology.cluster("kafka").name  # type: ignore[union-attr]
    script = (
        "import base64, json, sys, urllib.request, urllib.error\n"
        "url, auth = sys.argv[1], sys.argv[2]\n"
        "request = urllib.request.Request(url, headers={'Authorization': 'Basic ' + auth} if auth else {})\n"
        "try:\n"
        "    print(json.dumps([h['HostRoles']['host_name'] for h in json.load(urllib.request.urlopen(request))['host_components']]))\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)\n"
    )
    auth = base64.b64encode(f"admin:{password}".encode()).decode()
    base = f"http://hn0-kafka:8080/api/v1/clusters/{cluster}/services"
    brokers = json.loads(_exec(twin, "wn0-spark", "python3", "-c", script, f"{base}/KAFKA/components/KAFKA_BROKER", auth))
    assert brokers == [twin.topology.node(b).fqdn for b in BROKERS]
    zookeepers = json.loads(_exec(twin, "wn0-spark", "python3", "-c", script, f"{base}/ZOOKEEPER/components/ZOOKEEPER_SERVER", auth))
    assert zookeepers == [twin.topology.node(f"zk{i}-kafka").fqdn for i in range(3)]
    wrong = base64.b64encode(b"admin:wrong").decode()
    assert _exec(twin, "wn0-spark", "python3", "-c", script, f"{base}/KAFKA/components/KAFKA_BROKER", wrong).strip() == "401"
    assert twin.ambari_url.startswith("http://127.0.0.1:")  # published on loopback only


def test_stock_ticker_passes_with_the_job_inside_the_vnet(twin: DockerDeployment) -> None:
    report = run_scenario(load_scenario(REPO / "scenarios" / "stock-ticker.yaml"), deployment=twin)
    assert report.verdict == "pass", report.render()
    assert report.verification["expected_rows"] == report.verification["actual_rows"] > 0
    driver = json.loads(next(Path(report.manifest).parent.glob("driver.json")).read_text())
    assert driver["bootstrap"] == ",".join(f"{twin.topology.node(b).fqdn}:9092" for b in BROKERS)
    assert driver["master"] == f"spark://{twin.topology.node('hn0-spark').fqdn}:7077"
    ran_on = [w for w in ("wn0-spark", "wn1-spark", "wn2-spark", "wn3-spark") if _exec(twin, w, "ls", "/var/lib/spark").strip()]
    assert ran_on, "no executor ran on a Spark worker node"


def _spark_properties(event_log: Path) -> dict[str, str]:
    """The properties Spark itself recorded for an application (its environment event)."""
    for line in event_log.read_text().splitlines():
        event = json.loads(line)
        if event["Event"] == "SparkListenerEnvironmentUpdate":
            return event["Spark Properties"]
    raise AssertionError(f"no environment event in {event_log}")


def test_the_submitted_application_runs_on_the_head_node_and_passes(twin: DockerDeployment, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.backends.docker.deployment import literal_pattern

    monkeypatch.chdir(REPO)
    report = run_scenario(load_scenario(REPO / "scenarios" / "stock-ticker-app.yaml"), deployment=twin)
    assert report.verdict == "pass", report.render()
    assert report.verification["expected_rows"] == report.verification["actual_rows"] > 0  # every window, from its Kafka topic
    head = twin.plan.container("hn0-spark")
    assert report.job["spark"]["master"] == f"spark://{head.node.fqdn}:7077"
    workdir = Path(report.manifest).parent
    (event_log,) = (workdir / "eventlog").iterdir()
    assert event_log.name.startswith("app-")  # an application of the standalone master, closed by the graceful stop
    spark = _spark_properties(event_log)
    assert spark["spark.master"] == f"spark://{head.node.fqdn}:7077" and spark["spark.driver.host"] == head.address
    assert spark["spark.harness.kafka.bootstrap"] == ",".join(f"{twin.topology.node(b).fqdn}:9092" for b in BROKERS)
    assert twin.run_on("hn0-spark", ["pgrep", "-f", literal_pattern(str(workdir))]).returncode == 1, "the application outlived the run"


def test_the_scala_notebook_runs_in_spark_shell_on_the_head_node_and_passes(twin: DockerDeployment, monkeypatch: pytest.MonkeyPatch) -> None:
    """HDInsight runs a notebook's Spark session inside the cluster: here its driver is spark-shell on hn0-spark,
    the empty broker address gets the brokers' VNet names, and its memory table is dumped for the harness."""
    monkeypatch.chdir(REPO)
    report = run_scenario(load_scenario(REPO / "scenarios" / "stock-ticker-notebook-scala.yaml"), deployment=twin)
    assert report.verdict == "pass", report.render()
    assert report.verification["expected_rows"] == report.verification["actual_rows"] > 0
    assert report.job["spark"]["master"] == f"spark://{twin.plan.container('hn0-spark').node.fqdn}:7077"
    filled = next(n for n in report.verification["sink_notes"] if "kafkaBrokers" in n)
    assert twin.job_bootstrap().split(",")[0] in filled  # the VNet's names, not the host's listeners


def _livy(twin: DockerDeployment, method: str, path: str, body: dict[str, object] | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{twin.livy_url}{path}", data=json.dumps(body).encode() if body is not None else None, method=method,
                                     headers={"Content-Type": "application/json", "X-Requested-By": "ci"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the twin's port on loopback
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _upload(twin: DockerDeployment, source: Path) -> str:
    """As a pipeline uploads its artifact to the cluster's storage: the run directory every Spark node mounts."""
    target = twin.run.path / "uploads" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source.read_text())
    return str(target)


def test_a_livy_batch_posted_from_the_host_runs_on_the_head_node_to_success(twin: DockerDeployment) -> None:
    from harness.kafka import admin
    from harness.runtime.readiness import wait_for

    topic = f"livy-count-{os.getpid()}"
    admin.create_topic(twin.bootstrap_servers, topic, partitions=2, replication_factor=3)
    produce(twin.bootstrap_servers, topic, 7, "record")
    status = run_cli("status", "--name", twin.run.name)
    assert f"Livy batches: {twin.livy_url}/batches" in status.stdout and twin.livy_url.startswith("http://127.0.0.1:")

    app = _upload(twin, REPO / "tests" / "user_jobs" / "count_app.py")
    # the pipeline's body, unchanged: brokers by the short names the VNet resolves
    code, created = _livy(twin, "POST", "/batches", {"file": app,
                                                      "args": ["wn0-kafka:9092,wn1-kafka:9092", topic], "name": "count", "driverMemory": "768m"})
    assert code == 201 and created["state"] == "starting", created
    states: list[str] = []

    def finished() -> bool:
        state = _livy(twin, "GET", f"/batches/{created['id']}/state")[1]["state"]
        if not states or states[-1] != state:
            states.append(state)
        return state in ("success", "dead", "killed")

    wait_for(finished, what=f"Livy batch {created['id']} to finish", timeout=300, interval=0.5)
    assert states == ["starting", "running", "success"], states
    _, batch = _livy(twin, "GET", f"/batches/{created['id']}")
    assert batch["appId"].startswith("app-") and batch["name"] == "count"  # an application of the head node's standalone master
    _, log = _livy(twin, "GET", f"/batches/{created['id']}/log?from=0&size=1000")
    assert f"records in {topic}: 7; HARNESS_BOOTSTRAP={twin.job_bootstrap()}" in log["log"] and log["from"] == 0 and log["total"] == len(log["log"])
    _, listed = _livy(twin, "GET", "/batches")
    assert [s["id"] for s in listed["sessions"]] == [created["id"]] and listed["sessions"][0]["state"] == "success"

    code, refused = _livy(twin, "POST", "/batches", {"file": app, "driverMemry": "1g"})
    assert code == 400 and "unknown field 'driverMemry'" in refused["msg"], refused

    # the same path by hand: `harness submit` on a docker twin submits on the head node, with the VNet's names
    done = run_cli("submit", "--name", twin.run.name, "--topic", topic, "tests/user_jobs/count_app.py", "--", "{bootstrap}", "{topic}", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"records in {topic}: 7; HARNESS_BOOTSTRAP={twin.job_bootstrap()}" in done.stdout


def test_a_python_udf_runs_in_the_executors_on_the_releases_python(twin: DockerDeployment) -> None:
    """A job with a `udf` is refused by the local backend on hdinsight-5.1 (pyspark 3.3 cannot run Python
    workers on Python 3.11); on the docker backend the release's image runs them, in the worker nodes' executors."""
    import re

    from harness.kafka import admin

    stack = twin.topology.stack
    assert stack.python_workers_max is not None, f"release {stack.name} has no Python limit; this test is about one that has"
    topic = f"udf-{os.getpid()}"
    admin.create_topic(twin.bootstrap_servers, topic, partitions=3, replication_factor=3)
    produce(twin.bootstrap_servers, topic, 6, "tick")

    done = run_cli("submit", "--name", twin.run.name, "--topic", topic, "tests/user_jobs/udf_app.py", "--", "{bootstrap}", "{topic}", timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert f"spark {stack.spark_version}, driver python " in done.stdout
    rows = re.findall(r"^udf row: (TICK-\d) @ python (\d+)\.(\d+) on (\S+)$", done.stdout, re.MULTILINE)
    assert sorted(r[0] for r in rows) == [f"TICK-{n}" for n in range(6)], done.stdout[-3000:]
    assert all((int(major), int(minor)) <= stack.python_workers_max for _, major, minor, _ in rows), rows
    assert {host for *_, host in rows} <= {"wn0-spark", "wn1-spark", "wn2-spark", "wn3-spark"}, rows  # executors, not the driver


def test_deleting_a_running_livy_batch_kills_it_on_the_head_node(twin: DockerDeployment) -> None:
    from harness.backends.docker.deployment import literal_pattern
    from harness.runtime.readiness import wait_for

    streaming = _upload(twin, REPO / "examples" / "apps" / "stock_windows_app.py")  # runs until it is stopped
    code, created = _livy(twin, "POST", "/batches", {"file": streaming, "args": ["--bootstrap", "{bootstrap}", "--topic", "stockVals",
                                                                                 "--output-topic", "livy-windows", "--checkpoint", "{checkpoint}"]})
    assert code == 201, created
    path = f"/batches/{created['id']}"
    wait_for(lambda: _livy(twin, "GET", f"{path}/state")[1]["state"] == "running", what="the streaming batch to run", timeout=300, interval=0.5,
             guard=lambda: _refuse_final(_livy(twin, "GET", f"{path}/state")[1]["state"], twin, path))
    assert _livy(twin, "DELETE", path) == (200, {"msg": "deleted"})
    assert _livy(twin, "GET", f"{path}/state")[1]["state"] == "killed"
    workdir = twin.run.path / "livy" / f"batch-{created['id']}"  # the batch's own directory on the shared storage
    assert (workdir / "driver.log").exists()
    assert twin.run_on("hn0-spark", ["pgrep", "-f", literal_pattern(str(workdir))]).returncode == 1, "the killed batch still runs"


def _refuse_final(state: str, twin: DockerDeployment, path: str) -> None:
    if state in ("success", "dead", "killed"):
        raise AssertionError(f"the batch ended ({state}) before it was deleted: {_livy(twin, 'GET', f'{path}/log')[1]['log']}")


def test_a_partitioned_broker_leaves_the_isr_loses_nothing_and_rejoins(twin: DockerDeployment) -> None:
    report = run_scenario(load_scenario(REPO / "scenarios" / "broker-partition.yaml"), deployment=twin)
    assert report.verdict == "pass", report.render()
    assert report.delivery["lost"] == 0
    cut, heal = report.faults
    assert cut["action"] == "partition" and cut["error"] is None and cut["recovery"]["out_of_isr_s"] is not None, cut
    assert heal["action"] == "heal" and heal["recovery"]["isr_restored_s"] is not None, heal


def test_a_slow_leader_under_a_delay_schedule_loses_nothing(twin: DockerDeployment) -> None:
    report = run_scenario(load_scenario(REPO / "scenarios" / "slow-broker.yaml"), deployment=twin)
    assert report.verdict == "pass", report.render()
    slow, heal = report.faults
    assert slow["action"] == "delay" and slow["error"] is None and slow["nodes"], slow
    assert heal["action"] == "heal" and heal["error"] is None, heal
    assert report.replay["ack_latency_ms"]["count"] == report.replay["acked"] == 7200
    assert not list(twin.run.path.glob("nodes/*/delayer.json")), "heal left a delayer running"


def test_fault_cli_drops_and_heals_a_nodes_traffic(twin: DockerDeployment) -> None:
    probe = ["sh", "-c", "nc -z -w 2 wn1-kafka 9092 && echo reached || echo unreachable"]
    assert run_cli("fault", "--name", twin.run.name, "loss", "wn1-kafka", "--percent", "100").returncode == 0
    try:
        assert _exec(twin, "wn0-kafka", *probe).strip() == "unreachable"
    finally:
        assert run_cli("fault", "--name", twin.run.name, "heal", "wn1-kafka").returncode == 0
    assert _exec(twin, "wn0-kafka", *probe).strip() == "reached"
    assert run_cli("fault", "--name", twin.run.name, "partition", "wn1-kafka", "--peers", "wn0-kafka").returncode == 0
    try:
        assert _exec(twin, "wn0-kafka", *probe).strip() == "unreachable"
        assert _exec(twin, "wn2-kafka", *probe).strip() == "reached"  # only the named peer is cut off
    finally:
        twin.heal_network()


def test_a_broker_paused_by_signal_when_the_freezer_refuses_reads_paused_and_heal_brings_it_back(
        twin: DockerDeployment, monkeypatch: pytest.MonkeyPatch) -> None:
    """cgroup v1's freezer can refuse a busy JVM ("unable to freeze"); the pause then stops every process
    by signal, which Docker still calls running. CI once lost a broker for the rest of a lane so: status
    said running and heal, trusting Docker, never resumed it. The engine's refusal is simulated here, the
    rest is real."""
    def refuse(self: Container) -> None:
        raise docker.errors.APIError("OCI runtime pause failed: unable to freeze: unknown")

    monkeypatch.setattr(Container, "pause", refuse)
    assert inject(twin, fault_from("pause", "wn2-kafka")) == ["wn2-kafka"]
    try:
        assert {r.hostname: r.state for r in twin.status()}["wn2-kafka"] == "paused"
    finally:
        twin.heal()  # waits until every broker, asked on its own, lists all three
    assert {r.hostname: r.state for r in twin.status()}["wn2-kafka"] == "running"


CONNECT_MS = """
import socket, statistics, sys, time
samples = []
for _ in range(7):
    started = time.perf_counter()
    socket.create_connection((sys.argv[1], 9092), timeout=5).close()
    samples.append((time.perf_counter() - started) * 1000)
print(statistics.median(samples))
"""


def _connect_ms(twin: DockerDeployment, source: str, target: str) -> float:
    """Median TCP connect time: the SYN-ACK leaves the target, so its egress delay shows here once."""
    return float(_exec(twin, source, "python3", "-c", CONNECT_MS, target))


def test_delay_holds_a_nodes_packets_and_heal_lets_them_go(twin: DockerDeployment) -> None:
    result = run_cli("fault", "--name", twin.run.name, "delay", "wn1-kafka", "--latency", "150ms", "--jitter", "20ms")
    assert result.returncode == 0, result.stderr
    delayer = twin.run.node_dir("wn1-kafka") / "delayer.json"
    try:
        assert 120 <= _connect_ms(twin, "wn0-spark", "wn1-kafka") <= 400
        assert _connect_ms(twin, "wn0-spark", "wn2-kafka") < 60  # only the delayed node's links
        assert delayer.exists()
    finally:
        assert run_cli("fault", "--name", twin.run.name, "heal", "wn1-kafka").returncode == 0
    assert _connect_ms(twin, "wn0-spark", "wn1-kafka") < 60
    assert not delayer.exists()
    leftover = subprocess.run(["pgrep", "-f", f"harness.runtime.nfdelay.*--watch {twin._pid('wn1-kafka')}"], capture_output=True, text=True)
    assert leftover.stdout == "", "the delayer process outlived heal"


def test_down_removes_exactly_the_runs_containers_networks_volumes_and_rules(twin: DockerDeployment) -> None:
    from harness.backends.docker.engine import docker_client

    bystander = docker_client().volumes.create(name=f"not-the-harness-{os.getpid()}")
    try:
        assert docker_leftovers(twin.run.name)["containers"] == 14
        result = run_cli("down", "--name", twin.run.name)
        assert result.returncode == 0, result.stderr
        assert docker_leftovers(twin.run.name) == {"containers": 0, "networks": 0, "volumes": 0, "firewall rules": 0}
        assert docker_client().volumes.get(bystander.name) is not None
        listed = run_cli("status", "--all")  # a stopped docker run is still listed, its nodes as removed
        assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
        assert f"run {twin.run.name!r}: profile hdinsight, stopped, backend docker" in listed.stdout
    finally:
        bystander.remove()


def test_a_run_without_its_directory_is_listed_and_down_by_name_removes_it(docker_engine: None, module_runs: Path) -> None:
    """Labels outlive a run directory deleted by hand: `status --all` names the run, `down --name` clears it."""
    from harness.backends.docker.engine import LABEL_RUN, docker_client
    from harness.backends.docker.images import build_images

    client, run = docker_client(), f"orphan-{os.getpid()}"
    labels = {LABEL_RUN: run}
    client.networks.create(f"{run}-net", driver="bridge", labels=labels)
    client.volumes.create(f"{run}-data", labels=labels)
    client.containers.run(build_images().base, ["sleep", "600"], name=f"{run}-node", labels=labels, network=f"{run}-net", detach=True)
    try:
        assert docker_leftovers(run) == {"containers": 1, "networks": 1, "volumes": 1, "firewall rules": 0}
        listed = run_cli("status", "--all")
        assert listed.returncode == 0, listed.stderr
        assert f"harness down --name {run}" in listed.stdout
        removed = run_cli("down", "--name", run)
        assert removed.returncode == 0, removed.stderr
        assert "stopped 1 container(s)" in removed.stdout
        assert docker_leftovers(run) == {"containers": 0, "networks": 0, "volumes": 0, "firewall rules": 0}
        unknown = run_cli("down", "--name", f"{run}-never")
        assert unknown.returncode != 0 and "no run named" in unknown.stderr
    finally:
        for container in client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run}"}):
            container.remove(force=True)


def test_a_certificate_without_the_fqdn_fails_the_job_and_names_both_sides(docker_engine: None, module_runs: Path) -> None:
    """scenarios/tls-certificate-without-fqdn.yaml: brokers' certificates hold the short name, the job on the head node
    connects by FQDN. Its wait ends on the refused handshakes (read from the brokers' consoles), and the reason names
    the name the job used and the names the certificate holds. Its fix (FQDN certificates) is the docker line's TLS ticker."""
    scenario = load_scenario(REPO / "scenarios" / "tls-certificate-without-fqdn.yaml")
    report = run_scenario(scenario, run_name=f"nofqdn-{os.getpid()}")
    assert report.verdict == "fail" and report.security == "tls"
    finished = next(c for c in report.checks if c.name == "the job finished before it was stopped")
    assert not finished.ok and finished.detail.startswith("stalled:"), finished.detail
    assert "hostname verification fails: the job connects by wn0-kafka." in finished.detail
    assert "wn0-kafka's holds wn0-kafka, 10.0.0." in finished.detail and "certificate_names: fqdn" in finished.detail
    assert docker_leftovers(f"nofqdn-{os.getpid()}") == {"containers": 0, "networks": 0, "volumes": 0, "firewall rules": 0}


def test_a_truststore_on_the_head_node_only_fails_the_executors_and_its_fix_passes_over_mtls(docker_engine: None, module_runs: Path) -> None:
    """scenarios/tls-truststore-head-node-only.yaml: the driver on hn0-spark reaches the brokers, the executors on the
    workers cannot open the truststore path the job names; the run fails with Kafka's error and the nodes that lack the
    file. Fixed on the same twin (the job names the truststore on shared storage, the default), the stock ticker passes
    over mutual TLS with the job inside the VNet."""
    scenario = load_scenario(REPO / "scenarios" / "tls-truststore-head-node-only.yaml")
    assert isinstance(scenario.security, KafkaSecurity)
    with running_twin(new_deployment(scenario.profile, f"headstore-{os.getpid()}", "docker", security=scenario.security)) as twin:
        with pytest.raises(HarnessError) as failure:
            run_scenario(scenario, deployment=twin)
        assert "/etc/kafka-client/truststore.p12" in str(failure.value.detail), failure.value.detail
        assert failure.value.hint and failure.value.hint.startswith(
            "the job's truststore /etc/kafka-client/truststore.p12 is on hn0-spark but not on wn0-spark"), failure.value.hint
        twin.topology = twin.topology.with_security(scenario.security.model_copy(update={"client_truststore": "shared_storage"}))
        report = run_scenario(load_scenario(REPO / "scenarios" / "stock-ticker.yaml"), deployment=twin)
        assert report.verdict == "pass" and report.security == "mtls", report.render()
    assert docker_leftovers(twin.run.name) == {"containers": 0, "networks": 0, "volumes": 0, "firewall rules": 0}
