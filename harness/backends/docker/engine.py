"""The one connection to the Docker engine, with an error that says how to get one."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    import docker

LABEL_RUN = "io.kafka-spark-harness.run"
LABEL_NODE = "io.kafka-spark-harness.node"


class DockerUnavailable(HarnessError):
    pass


@functools.cache
def docker_client() -> docker.DockerClient:
    try:
        import docker
        import docker.errors
    except ImportError as exc:  # pragma: no cover - a pinned dependency
        raise DockerUnavailable("the `docker` Python package is missing", hint="pip install -e . (it is a dependency)") from exc
    try:
        client = docker.from_env(version="auto", timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerUnavailable(
            "no Docker engine answers, so the docker backend cannot start",
            detail=str(exc),
            hint="install and start one (Debian/Ubuntu: `apt-get install docker.io`, then `systemctl start docker` or, as root, "
                 "`dockerd &`); set DOCKER_HOST if it listens elsewhere. The local backend (--backend local) needs no Docker.",
        ) from None
    return client


def engine_available() -> bool:
    try:
        docker_client()
    except DockerUnavailable:
        docker_client.cache_clear()
        return False
    return True
