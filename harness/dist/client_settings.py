"""The Kafka client settings a release's Spark job can use: the names its connector's kafka-clients knows.

The connector brings its own kafka-clients (2.8.1 with Spark 3.3.4, 3.9.2 with Spark 4.2.0), and an
unknown `kafka.*` option is only logged as unused at run time, so a setting from a newer client silently
does nothing on the older release. The names are read from that jar's config classes (their string
constants), not kept by hand, so they are exactly the client's.
"""

from __future__ import annotations

import functools
import re
import struct
import zipfile

from harness.dist.artifacts import connector_jars

CONFIG_CLASSES = (
    "org/apache/kafka/clients/CommonClientConfigs.class",
    "org/apache/kafka/clients/consumer/ConsumerConfig.class",
    "org/apache/kafka/clients/producer/ProducerConfig.class",
    "org/apache/kafka/common/config/SslConfigs.class",
    "org/apache/kafka/common/config/SaslConfigs.class",
)
_SETTING = re.compile(r"[a-z][a-z0-9]*(\.[a-z0-9-]+)+")
_CONSTANT_SIZES = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2, 17: 4, 18: 4, 19: 2, 20: 2}
"""Bytes after the tag of each non-UTF8 constant-pool entry (JVM spec, table 4.4-B)."""


def class_strings(data: bytes) -> list[str]:
    """The UTF8 constants of a class file's constant pool."""
    count = struct.unpack(">H", data[8:10])[0]
    strings, offset, index = [], 10, 1
    while index < count:
        tag = data[offset]
        if tag == 1:
            length = struct.unpack(">H", data[offset + 1:offset + 3])[0]
            strings.append(data[offset + 3:offset + 3 + length].decode("utf-8", "replace"))
            offset += 3 + length
        else:
            offset += 1 + _CONSTANT_SIZES[tag]
            index += 1 if tag in (5, 6) else 0  # a long or a double takes two slots
        index += 1
    return strings


@functools.cache
def known_client_settings(release_name: str) -> tuple[str, frozenset[str]]:
    """(the kafka-clients version, the setting names it defines) of the release's connector."""
    jar = next(p for p in connector_jars(release_name) if p.name.startswith("kafka-clients-"))
    names: set[str] = set()
    with zipfile.ZipFile(jar) as archive:
        for entry in CONFIG_CLASSES:
            names.update(s for s in class_strings(archive.read(entry)) if _SETTING.fullmatch(s))
    return jar.name.removeprefix("kafka-clients-").removesuffix(".jar"), frozenset(names)
