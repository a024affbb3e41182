"""Topic administration that waits until the whole cluster agrees, not just the controller."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException
from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic, ResourcePatternType, ResourceType

from harness.runtime.readiness import wait_for
from harness.errors import HarnessError
from harness.kafka.clients import admin

if TYPE_CHECKING:
    from harness.topology.model import Principal


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def in_sync(self) -> bool:
        return self.leader >= 0 and set(self.replicas) == set(self.isr)


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: tuple[PartitionInfo, ...]

    @property
    def replication_factor(self) -> int:
        return len(self.partitions[0].replicas) if self.partitions else 0

    @property
    def fully_in_sync(self) -> bool:
        return all(p.in_sync for p in self.partitions)


def brokers(bootstrap: str, timeout: float = 5.0) -> dict[int, str]:
    metadata = admin(bootstrap).list_topics(timeout=timeout)
    return {b.id: f"{b.host}:{b.port}" for b in metadata.brokers.values()}


def cluster_view(bootstrap: str, timeout: float = 5.0) -> tuple[int, int]:
    """(brokers registered, controller id or -1) as the broker that answers sees them: ask one endpoint to
    learn what that broker knows."""
    metadata = admin(bootstrap).list_topics(timeout=timeout)
    controller = metadata.controller_id
    return len(metadata.brokers), -1 if controller is None else int(controller)


def controller_id(bootstrap: str, timeout: float = 5.0) -> int:
    """The broker id the cluster names as its controller. On ZooKeeper clusters that is the broker that
    won the `/controller` election; KRaft clusters answer with an arbitrary broker, so ask their quorum.
    A metadata request, not DescribeCluster: metadata goes to a bootstrap broker, while the client may
    send DescribeCluster to any broker it knows, a paused one included, and wait out the time-out."""
    _, controller = cluster_view(bootstrap, timeout)
    if controller < 0:
        raise HarnessError("the cluster names no controller yet")
    return controller


def list_topics(bootstrap: str, *, include_internal: bool = False, timeout: float = 10.0) -> list[str]:
    names = admin(bootstrap).list_topics(timeout=timeout).topics
    return sorted(n for n in names if include_internal or not n.startswith("__"))


def describe(bootstrap: str, topic: str, timeout: float = 10.0) -> TopicInfo:
    metadata = admin(bootstrap).list_topics(topic=topic, timeout=timeout)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        raise HarnessError(f"topic {topic!r} does not exist", hint="create it with `harness topics create`")
    parts = tuple(
        PartitionInfo(p.id, p.leader, tuple(p.replicas), tuple(p.isrs))
        for p in sorted(found.partitions.values(), key=lambda p: p.id)
    )
    return TopicInfo(topic, parts)


def create_topic(
    bootstrap: str,
    name: str,
    *,
    partitions: int,
    replication_factor: int,
    configs: dict[str, str] | None = None,
    timeout: float = 30.0,
    exist_ok: bool = False,
) -> TopicInfo:
    """Create a topic and return once every bootstrap broker, asked on its own, lists every partition with a
    leader and a full ISR.

    Producing or describing right after CreateTopics succeeds can still reach a broker that has not seen the
    new metadata: one broker's answer says nothing of another's (CI saw a describe right after a create answer
    "does not exist" on a loaded machine). Waiting for each endpoint removes that race from every caller.
    """
    client = admin(bootstrap)  # keep a reference: a collected client cancels its futures
    future = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=configs or {})],
        operation_timeout=timeout,
    )[name]
    try:
        future.result(timeout=timeout)
    except KafkaException as exc:
        error = exc.args[0]
        if not (exist_ok and error.name() == "TOPIC_ALREADY_EXISTS"):
            raise HarnessError(f"could not create topic {name!r}: {error.str()}") from None

    def ready() -> TopicInfo | None:
        views = [describe(endpoint, name, timeout=5.0) for endpoint in _endpoints(bootstrap)]
        return views[0] if all(len(v.partitions) >= partitions and v.fully_in_sync for v in views) else None

    return wait_for(ready, what=f"topic {name} to be fully replicated", timeout=timeout)


def _endpoints(bootstrap: str) -> list[str]:
    """Each endpoint of a bootstrap list: a new client with one endpoint asks that broker its metadata."""
    return [e.strip() for e in bootstrap.split(",") if e.strip()]


def delete_topic(bootstrap: str, name: str, timeout: float = 60.0) -> None:
    """Delete a topic and wait until no broker lists it and the cluster would create it anew (a topic re-created
    too early would find the old one; on ZooKeeper the controller deletes after the brokers stop listing it,
    and a create meanwhile fails with "marked for deletion")."""
    client = admin(bootstrap)
    future = client.delete_topics([name], operation_timeout=timeout)[name]
    future.result(timeout=timeout)
    wait_for(lambda: name not in list_topics(bootstrap, include_internal=True) and _creatable(client, name), what=f"topic {name} to be deleted",
             timeout=timeout, interval=0.2)


def _creatable(client: AdminClient, name: str) -> bool:
    """Whether CreateTopics would accept the name now: asked with validate_only, so nothing is created."""
    try:
        client.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)], validate_only=True)[name].result(timeout=10)
        return True
    except KafkaException as exc:
        if exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
            return False
        raise


def acl_bindings(principals: Sequence[Principal]) -> list[AclBinding]:
    """Allow-bindings for each principal's topics and groups, from any host: `name*` is a prefix, `*` every resource."""
    bindings = []
    for principal in principals:
        for kind, grants in ((ResourceType.TOPIC, principal.topics), (ResourceType.GROUP, principal.groups)):
            for name, operations in grants.items():
                prefixed = name.endswith("*") and name != "*"
                pattern = ResourcePatternType.PREFIXED if prefixed else ResourcePatternType.LITERAL
                for operation in operations:
                    bindings.append(AclBinding(kind, name.removesuffix("*") if prefixed else name, pattern, f"User:{principal.name}", "*",
                                               AclOperation[operation.upper()], AclPermissionType.ALLOW))
    return bindings


def create_acls(bootstrap: str, principals: Sequence[Principal], timeout: float = 30.0) -> None:
    """Create the principals' ACLs (as the harness's super user); Kafka keeps a binding that exists already."""
    bindings = acl_bindings(principals)
    if not bindings:
        return
    client = admin(bootstrap)  # held until every future resolves: a client collected early fails them all
    for binding, future in client.create_acls(bindings, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            raise HarnessError(f"could not create the ACL {binding}: {exc.args[0].str()}",
                               hint="check the principals' topics and groups in kafka.security of the profile") from None
