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


def labelled_runs() -> set[str]:
    """Runs that still own a container, network or volume on the engine (none if no engine answers):
    the labels outlive a run directory someone deleted by hand."""
    if not engine_available():
        return set()
    client, selector = docker_client(), {"label": LABEL_RUN}
    found = [*client.containers.list(all=True, filters=selector), *client.networks.list(filters=selector), *client.volumes.list(filters=selector)]
    return {_labels(item)[LABEL_RUN] for item in found if LABEL_RUN in _labels(item)}


def _labels(item: object) -> dict[str, str]:
    attrs = getattr(item, "attrs", {})  # networks and volumes keep labels at the top, containers under Config
    return attrs.get("Labels") or (attrs.get("Config") or {}).get("Labels") or {}
