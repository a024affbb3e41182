"""The Ambari stand-in answers the discovery calls HDInsight scripts make, and only with credentials."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "harness/backends/docker/resources/ambari_server.py"
CLUSTER = "kafka-mslearn-stock"
BROKERS = ["wn0-kafka.example.internal", "wn1-kafka.example.internal", "wn2-kafka.example.internal"]
ZOOKEEPERS = ["zk0-kafka.example.internal", "zk1-kafka.example.internal", "wn0-kafka.example.internal"]
PASSWORD = "Secr3t:pass"
DIGEST = hashlib.sha256(PASSWORD.encode()).hexdigest()
HOST = "headnodehost:8080"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ambari_server", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ambari = load()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def get(path: str, zookeepers: list[str] = ZOOKEEPERS) -> tuple[int, dict]:
    return ambari.route(path, CLUSTER, BROKERS, zookeepers, HOST)


def test_kafka_brokers() -> None:
    status, body = get(f"/api/v1/clusters/{CLUSTER}/services/KAFKA/components/KAFKA_BROKER")
    assert status == 200
    assert [c["HostRoles"]["host_name"] for c in body["host_components"]] == BROKERS
    assert body["ServiceComponentInfo"]["total_count"] == body["ServiceComponentInfo"]["started_count"] == 3
    assert body["ServiceComponentInfo"]["component_name"] == "KAFKA_BROKER"
    assert body["href"] == f"http://{HOST}/api/v1/clusters/{CLUSTER}/services/KAFKA/components/KAFKA_BROKER"


def test_zookeepers_with_query_and_trailing_slash() -> None:
    status, body = get(f"/api/v1/clusters/{CLUSTER}/services/ZOOKEEPER/components/ZOOKEEPER_SERVER/?fields=x")
    assert status == 200
    assert [c["HostRoles"]["host_name"] for c in body["host_components"]] == ZOOKEEPERS
    assert body["ServiceComponentInfo"]["service_name"] == "ZOOKEEPER"


def test_no_zookeepers_means_no_zookeeper_service() -> None:
    status, body = get(f"/api/v1/clusters/{CLUSTER}/services/ZOOKEEPER/components/ZOOKEEPER_SERVER", [])
    assert status == 404 and body["status"] == 404


def test_clusters_and_cluster() -> None:
    status, body = get("/api/v1/clusters")
    assert status == 200 and [i["Clusters"]["cluster_name"] for i in body["items"]] == [CLUSTER]
    status, body = get(f"/api/v1/clusters/{CLUSTER}/")
    assert status == 200 and body["Clusters"] == {"cluster_name": CLUSTER, "version": "HDP-5.1"}


def test_hosts_are_deduplicated_and_sorted() -> None:
    status, body = get(f"/api/v1/clusters/{CLUSTER}/hosts")
    assert status == 200
    assert [i["Hosts"]["host_name"] for i in body["items"]] == sorted(set(BROKERS + ZOOKEEPERS))


@pytest.mark.parametrize("path", [
    "/api/v1/clusters/other/services/KAFKA/components/KAFKA_BROKER",
    "/api/v1/clusters/other",
    f"/api/v1/clusters/{CLUSTER}/services/HDFS/components/NAMENODE",
    "/api/v2/clusters",
])
def test_unknown_is_404(path: str) -> None:
    status, body = get(path)
    assert status == 404 and body["status"] == 404 and body["message"]


def test_auth() -> None:
    assert ambari.check_auth(basic("admin", PASSWORD), "admin", DIGEST)
    assert ambari.check_auth(basic("admin", PASSWORD), "admin", DIGEST.upper())
    assert not ambari.check_auth(basic("admin", "wrong"), "admin", DIGEST)
    assert not ambari.check_auth(basic("root", PASSWORD), "admin", DIGEST)
    assert not ambari.check_auth(None, "admin", DIGEST)
    assert not ambari.check_auth("Bearer abc", "admin", DIGEST)
    assert not ambari.check_auth("Basic !!!not-base64", "admin", DIGEST)


def test_config_from_env_requires_a_digest() -> None:
    with pytest.raises(ValueError, match="AMBARI_PASSWORD_SHA256"):
        ambari.config_from_env({"AMBARI_CLUSTER": CLUSTER, "AMBARI_BROKERS": "a,b"})
    config = ambari.config_from_env({"AMBARI_CLUSTER": CLUSTER, "AMBARI_BROKERS": " a, b,,a ",
                                     "AMBARI_PASSWORD_SHA256": DIGEST})
    assert config.brokers == ["a", "b"] and config.zookeepers == [] and config.user == "admin"


@pytest.fixture
def server_url() -> Iterator[str]:
    config = ambari.Config(CLUSTER, BROKERS, ZOOKEEPERS, "admin", DIGEST)
    server = ambari.make_server("127.0.0.1", 0, config)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_over_http(server_url: str) -> None:
    url = f"{server_url}/api/v1/clusters/{CLUSTER}/services/KAFKA/components/KAFKA_BROKER"
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(url, timeout=5)
    assert denied.value.code == 401
    assert denied.value.headers["WWW-Authenticate"] == 'Basic realm="Ambari"'
    assert json.loads(denied.value.read())["status"] == 401

    request = urllib.request.Request(url, headers={"Authorization": basic("admin", PASSWORD)})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        body = json.loads(response.read())
    assert [c["HostRoles"]["host_name"] for c in body["host_components"]] == BROKERS
    assert body["href"].startswith(server_url)

    post = urllib.request.Request(url, data=b"{}", method="POST", headers={"Authorization": basic("admin", PASSWORD)})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(post, timeout=5)
    assert refused.value.code == 405
