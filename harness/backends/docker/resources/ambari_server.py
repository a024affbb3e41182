#!/usr/bin/env python3
"""A tiny stand-in for the part of Apache Ambari's REST API that HDInsight users call.

HDInsight scripts (and Microsoft's own tutorials) discover the Kafka brokers and ZooKeeper hosts of
a cluster by asking Ambari on the head node, e.g.::

    curl -sS -u admin:$PASSWORD -G \\
      "http://headnodehost:8080/api/v1/clusters/$CLUSTERNAME/services/KAFKA/components/KAFKA_BROKER" \\
      | jq -r '["\\(.host_components[].HostRoles.host_name):9092"] | join(",")'

The twin has no Ambari, so this script answers the same calls, shaped like Ambari's answers, with
the host names of the twin's topology. It runs inside a minimal container with nothing but
python3, so it uses the standard library only. Configuration comes from the environment:

    AMBARI_CLUSTER          cluster name
    AMBARI_BROKERS          comma-separated broker FQDNs
    AMBARI_ZOOKEEPERS       comma-separated ZooKeeper FQDNs (may be empty: no ZOOKEEPER service)
    AMBARI_USER             user name (default "admin")
    AMBARI_PASSWORD_SHA256  hex SHA-256 of the password; the plaintext never reaches the container
    AMBARI_PORT             port (default 8080)
    AMBARI_BIND             bind address (default 0.0.0.0)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

API_PREFIX = "/api/v1"
STACK_VERSION = "HDP-5.1"
# (service, component) -> which configured host list answers for it.
COMPONENTS = {("KAFKA", "KAFKA_BROKER"): "brokers", ("ZOOKEEPER", "ZOOKEEPER_SERVER"): "zookeepers"}


@dataclass(frozen=True)
class Config:
    cluster: str
    brokers: list[str]
    zookeepers: list[str]
    user: str
    password_sha256: str


def split_hosts(value: str) -> list[str]:
    """Comma-separated host names, blanks dropped, duplicates dropped, order kept."""
    return list(dict.fromkeys(h.strip() for h in value.split(",") if h.strip()))


def config_from_env(env: Mapping[str, str]) -> Config:
    """Read the configuration; raises ValueError naming what is missing or malformed."""
    cluster = env.get("AMBARI_CLUSTER", "").strip()
    digest = env.get("AMBARI_PASSWORD_SHA256", "").strip().lower()
    brokers = split_hosts(env.get("AMBARI_BROKERS", ""))
    if not cluster:
        raise ValueError("AMBARI_CLUSTER is not set")
    if not brokers:
        raise ValueError("AMBARI_BROKERS is not set")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("AMBARI_PASSWORD_SHA256 must be a hex SHA-256 digest")
    return Config(cluster, brokers, split_hosts(env.get("AMBARI_ZOOKEEPERS", "")),
                  env.get("AMBARI_USER", "admin") or "admin", digest)


def check_auth(header: str | None, user: str, password_sha256: str) -> bool:
    """True if `header` is HTTP Basic credentials for `user` with the password hashed as given."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    name, sep, password = decoded.partition(":")
    digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
    user_ok = hmac.compare_digest(name.encode("utf-8"), user.encode("utf-8"))
    password_ok = hmac.compare_digest(digest, password_sha256.strip().lower())
    return bool(sep) and user_ok and password_ok


def error(status: int, message: str) -> tuple[int, dict]:
    return status, {"status": status, "message": message}


def not_found(what: str) -> tuple[int, dict]:
    return error(404, f"The requested resource doesn't exist: {what}")


def path_parts(path: str) -> list[str]:
    """The path's segments, with the query string, empty segments and a trailing slash ignored."""
    return [unquote(p) for p in urlsplit(path).path.split("/") if p]


def clusters_list(base: str, cluster: str) -> dict:
    return {"href": base, "items": [{"href": f"{base}/{cluster}", "Clusters": {"cluster_name": cluster}}]}


def cluster_info(base: str, cluster: str) -> dict:
    return {"href": f"{base}/{cluster}", "Clusters": {"cluster_name": cluster, "version": STACK_VERSION}}


def hosts_list(base: str, cluster: str, hosts: list[str]) -> dict:
    href = f"{base}/{cluster}/hosts"
    items = [{"href": f"{href}/{h}", "Hosts": {"cluster_name": cluster, "host_name": h}}
             for h in sorted(set(hosts))]
    return {"href": href, "items": items}


def component(base: str, cluster: str, service: str, name: str, hosts: list[str]) -> dict:
    roles = [{"href": f"{base}/{cluster}/hosts/{h}/host_components/{name}",
              "HostRoles": {"cluster_name": cluster, "component_name": name, "host_name": h}}
             for h in hosts]
    info = {"cluster_name": cluster, "component_name": name, "service_name": service,
            "state": "STARTED", "total_count": len(hosts), "started_count": len(hosts)}
    return {"href": f"{base}/{cluster}/services/{service}/components/{name}",
            "ServiceComponentInfo": info, "host_components": roles}


def route(path: str, cluster: str, brokers: list[str], zookeepers: list[str], host: str) -> tuple[int, dict]:
    """Answer a GET of `path` as Ambari would: (HTTP status, JSON body)."""
    parts = path_parts(path)
    if parts[:3] != ["api", "v1", "clusters"]:
        return not_found(f"{urlsplit(path).path}")
    base = f"http://{host}{API_PREFIX}/clusters"
    rest = parts[3:]
    if not rest:
        return 200, clusters_list(base, cluster)
    if rest[0] != cluster:
        return not_found(f"Cluster not found, clusterName={rest[0]}")
    if len(rest) == 1:
        return 200, cluster_info(base, cluster)
    if rest[1:] == ["hosts"]:
        return 200, hosts_list(base, cluster, brokers + zookeepers)
    if len(rest) == 5 and rest[1] == "services" and rest[3] == "components":
        return component_route(base, cluster, rest[2], rest[4], {"brokers": brokers, "zookeepers": zookeepers})
    return not_found(urlsplit(path).path)


def component_route(base: str, cluster: str, service: str, name: str,
                    hosts_by_role: dict[str, list[str]]) -> tuple[int, dict]:
    role = COMPONENTS.get((service, name))
    hosts = hosts_by_role[role] if role else []
    if not hosts:  # Ambari has no such service (e.g. a KRaft cluster without ZooKeeper)
        return not_found(f"ServiceComponent not found, clusterName={cluster}, "
                         f"serviceName={service}, serviceComponentName={name}")
    return 200, component(base, cluster, service, name, hosts)


class AmbariServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], config: Config) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.config = config
        super().__init__(address, AmbariHandler)


class AmbariHandler(BaseHTTPRequestHandler):
    server: AmbariServer
    server_version = "Ambari-twin"

    def do_GET(self) -> None:
        self.answer(allowed=True)

    def do_HEAD(self) -> None:
        self.answer(allowed=False)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD

    def answer(self, allowed: bool) -> None:
        config = self.server.config
        needs_auth = urlsplit(self.path).path.startswith(API_PREFIX)
        if needs_auth and not check_auth(self.headers.get("Authorization"), config.user, config.password_sha256):
            self.send_json(*error(401, "Authentication required"), {"WWW-Authenticate": 'Basic realm="Ambari"'})
        elif not allowed:
            self.send_json(*error(405, f"Method {self.command} not allowed"), {"Allow": "GET"})
        else:
            host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
            self.send_json(*route(self.path, config.cluster, config.brokers, config.zookeepers, host))

    def send_json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, indent=2).encode("utf-8")
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The method and path only: never headers (Authorization) nor the query string.
        path = urlsplit(getattr(self, "path", "") or "").path or "-"
        self.log_message("%s %s %s", getattr(self, "command", None) or "-", path, code)


def make_server(bind: str, port: int, config: Config) -> AmbariServer:
    """A server bound to (bind, port), not yet serving; port 0 picks a free port."""
    return AmbariServer((bind, port), config)


def main() -> int:
    try:
        config = config_from_env(os.environ)
        port = int(os.environ.get("AMBARI_PORT", "8080") or 8080)
    except ValueError as exc:
        print(f"ambari_server: {exc}", file=sys.stderr)
        return 2
    server = make_server(os.environ.get("AMBARI_BIND", "0.0.0.0") or "0.0.0.0", port, config)

    def stop(signum: int, _frame: object) -> None:
        # shutdown() waits for serve_forever() to return, so it must run outside the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, bound_port = server.server_address[:2]
    print(f"ambari_server: cluster {config.cluster} on {host}:{bound_port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
