"""Client configurations in one place, so every producer, consumer and admin talks to the twin alike."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from harness.kafka import security

_LOG = logging.getLogger("harness.kafka.client")
# Without a handler, Python's last-resort handler would print librdkafka's retry warnings to stderr.
_LOG.addHandler(logging.NullHandler())


def _base(bootstrap: str) -> dict[str, Any]:
    # librdkafka logs "connection refused" to stderr while a broker restarts; route it to logging.
    # A secured twin registered how to reach it (CA, client certificate): every client here uses that.
    return {"bootstrap.servers": bootstrap, "logger": _LOG, "client.id": "kafka-spark-harness", **security.for_bootstrap(bootstrap).librdkafka}


def admin(bootstrap: str) -> AdminClient:
    return AdminClient(_base(bootstrap))


def producer(bootstrap: str, *, acks: str = "all", idempotent: bool = True, **extra: Any) -> Producer:
    """Idempotent, acks=all by default: an acknowledged record is then durable on min.insync.replicas.

    `partitioner=murmur2_random` hashes keys as the Java client (and kafka-python) do, so keyed
    records land on the partitions the HDInsight sample's own producer would choose.
    """
    config = {
        **_base(bootstrap),
        "acks": acks,
        "enable.idempotence": idempotent,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
    }
    config.update(extra)
    return Producer(config)


def consumer(bootstrap: str, group: str, **extra: Any) -> Consumer:
    config = {
        **_base(bootstrap),
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    }
    config.update(extra)
    return Consumer(config)
