"""Images built here from package registries alone, because no image registry may be reachable.

Each release has its own three images. The base is a minimal Debian (debootstrap) of the suite whose
Python fits the release's Spark (bookworm's 3.11 for Spark 4, bullseye's 3.9 for Spark 3.3, whose
Python workers fail on 3.11), with a Java 17 runtime and the network tools the fault injector drives
from outside (`tc`, `iptables` run from the host in the container's network namespace, so containers
need no extra capability). The Kafka image adds the release's Kafka jars (its ZooKeeper too, which is
in Kafka 3.2's closure); the Spark image adds the release's pyspark, the harness's Python
dependencies built for that Python, and the connector jars. Each image is labelled with a hash of
everything that went into it and is rebuilt only when that hash changes.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.backends.docker.engine import docker_client
from harness.backends.kafka_node import logging_config, logging_flag
from harness.dist.artifacts import connector_jars, kafka_jar_dir
from harness.dist.java import SHORT_LIVED_JVM_OPTIONS
from harness.dist.spark import spark_runtime
from harness.errors import ArtifactError
from harness.paths import cache_root
from harness.versions import DEFAULT_RELEASE, Release, release

Progress = Callable[[str], None]

REPOSITORY = "kafka-spark-harness"
HASH_LABEL = "io.kafka-spark-harness.input-hash"
HOST_SUITE = "bookworm"
"""The suite whose mirror apt here names; the same mirror serves every suite a release's image uses."""
BASE_PACKAGES = (  # curl and jq: HDInsight scripts call Ambari with them
    "openjdk-17-jre-headless", "ca-certificates", "python3", "iproute2", "iptables", "procps", "netbase",
    "dnsutils", "netcat-openbsd", "curl", "jq",
)
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk"
PYTHON_REQUIREMENTS = ("pydantic==2.14.4", "PyYAML==6.0.3", "psutil==7.2.2", "confluent-kafka==2.16.1")
PYTHON_39_REQUIREMENTS = ("pydantic==2.13.5", "eval_type_backport==0.4.0", "PyYAML==6.0.3", "psutil==7.2.2", "confluent-kafka==2.16.1")
"""Bullseye's Python 3.9: pydantic 2.14 needs 3.10, and pydantic reads `X | None` annotations on 3.9
only through eval_type_backport."""
RESOURCES = Path(__file__).with_name("resources")
SPARK_CLASS_ARCHIVE = "/opt/harness/spark.jsa"
"""The Spark image's class-data-sharing archive, trained at build time (resources/spark-class-training.py). Spark
puts its conf directory first on every JVM's class path and the JVM maps no archive over a non-empty directory
there, so the image keeps that directory empty: the admin defaults (C1, this archive) come from the environment."""
KAFKA_TOOLS = {
    "4.4.0": {
        "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
        "kafka-console-producer.sh": "org.apache.kafka.tools.ConsoleProducer",
        "kafka-console-consumer.sh": "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "kafka-consumer-groups.sh": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "kafka-metadata-quorum.sh": "org.apache.kafka.tools.MetadataQuorumCommand",
        "kafka-broker-api-versions.sh": "org.apache.kafka.tools.BrokerApiVersionsCommand",
        "kafka-producer-perf-test.sh": "org.apache.kafka.tools.ProducerPerformance",
        "kafka-storage.sh": "kafka.tools.StorageTool",
    },
    "3.2.3": {  # the tools moved to org.apache.kafka.tools in Kafka 3.5 to 3.7; 3.2 has no metadata-quorum tool (no KRaft here)
        "kafka-topics.sh": "kafka.admin.TopicCommand",
        "kafka-console-producer.sh": "kafka.tools.ConsoleProducer",
        "kafka-console-consumer.sh": "kafka.tools.ConsoleConsumer",
        "kafka-consumer-groups.sh": "kafka.admin.ConsumerGroupCommand",
        "kafka-broker-api-versions.sh": "kafka.admin.BrokerApiVersionsCommand",
        "kafka-producer-perf-test.sh": "org.apache.kafka.tools.ProducerPerformance",
        "kafka-storage.sh": "kafka.tools.StorageTool",
        "zookeeper-shell.sh": "org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka",
    },
}
"""The command-line tools of each Kafka, as the scripts HDInsight users call them (the Maven jars carry no bin/)."""


@dataclass(frozen=True)
class ImageSet:
    base: str
    kafka: str
    spark: str


def image_names(release_name: str = DEFAULT_RELEASE) -> ImageSet:
    """Stable tags per release (the compose files name them); the input hash lives in a label."""
    stack = release(release_name)
    return ImageSet(f"{REPOSITORY}/base:{stack.debian_suite}-jre17", f"{REPOSITORY}/kafka:{stack.kafka_version}",
                    f"{REPOSITORY}/spark:{stack.spark_version}")


def build_images(progress: Progress = lambda _: None, *, force: bool = False, release_name: str = DEFAULT_RELEASE) -> ImageSet:
    """Build what is missing or stale; cheap when everything is current (a few label look-ups)."""
    stack = release(release_name)
    names = image_names(release_name)
    base_hash = _digest(stack.debian_suite, *BASE_PACKAGES, _read(RESOURCES / "base-trim.sh"))
    _ensure(names.base, base_hash, lambda: _build_base(names.base, stack.debian_suite, base_hash, progress), progress, force)
    kafka_dir = kafka_jar_dir(release_name)
    logging = _logging_resource(stack)
    kafka_hash = _digest(base_hash, *_file_fingerprints(kafka_dir), _read(RESOURCES / "kafka-node.sh"),
                         _read(RESOURCES / "ambari_server.py"), _read(RESOURCES / logging), repr(KAFKA_TOOLS[stack.kafka_version]))
    _ensure(names.kafka, kafka_hash, lambda: _build_kafka(names, stack, kafka_hash, kafka_dir, progress), progress, force)
    jars = connector_jars(release_name)
    spark_hash = _digest(base_hash, *_python_requirements(stack), *_file_fingerprints(jars[0].parent), _read(RESOURCES / "spark-node.sh"),
                         _read(RESOURCES / "spark-class-training.py"))
    _ensure(names.spark, spark_hash, lambda: _build_spark(names, stack, spark_hash, progress), progress, force)
    return names


def _python_requirements(stack: Release) -> tuple[str, ...]:
    """The harness's own dependencies, for the image's Python; with today's pyspark, which pip serves as
    wheels (another release's pyspark is the runtime the harness installed, copied in by `_build_spark`)."""
    if stack.debian_suite == "bullseye":
        return PYTHON_39_REQUIREMENTS
    return (f"pyspark=={stack.spark_version}", *PYTHON_REQUIREMENTS)


def _logging_resource(stack: Release) -> str:
    return "log4j-console.properties" if stack.kafka_logging == "reload4j" else "log4j2-console.properties"


def current_hash(tag: str) -> str | None:
    import docker.errors

    try:
        return (docker_client().images.get(tag).labels or {}).get(HASH_LABEL)
    except docker.errors.ImageNotFound:
        return None


def _ensure(tag: str, wanted: str, build: Callable[[], None], progress: Progress, force: bool) -> None:
    if not force and current_hash(tag) == wanted:
        progress(f"image {tag} is current")
        return
    progress(f"building image {tag}")
    build()


# ----- base: debootstrap + docker import -----------------------------------------------------------


def _build_base(tag: str, suite: str, input_hash: str, progress: Progress) -> None:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise ArtifactError("building the base image needs `debootstrap`", hint="Debian/Ubuntu: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise ArtifactError("debootstrap needs root to build the base image", hint="run `harness images build` as root (or with sudo) once")
    mirror = debian_mirror()
    work = Path(tempfile.mkdtemp(prefix="base-", dir=_workdir()))
    root = work / "rootfs"
    try:
        progress(f"debootstrap {suite} (minbase + Java 17 runtime, Python, iproute2, iptables); about a minute")
        _run([debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", suite, str(root), mirror],
             what="debootstrap of the base image", timeout=1200)
        _run(["chroot", str(root), "/bin/sh", "-s"], what="trimming the base image", stdin=_read(RESOURCES / "base-trim.sh"))
        java_home = next((p for p in sorted((root / "usr/lib/jvm").glob("java-17-openjdk-*")) if p.is_dir()), None)
        if java_home is None:
            raise ArtifactError("the base image has no Java 17 runtime under /usr/lib/jvm", hint="check the debootstrap log above")
        os.symlink(java_home.name, root / "usr/lib/jvm/java-17-openjdk")
        progress("importing the base image")
        tarball = work / "rootfs.tar"
        _run(["tar", "-C", str(root), "-cf", str(tarball), "."], what="packing the base image")
        changes = [f"ENV JAVA_HOME={JAVA_HOME}", "ENV LANG=C.UTF-8", f"LABEL {HASH_LABEL}={input_hash}", 'CMD ["/bin/bash"]']
        docker_client().api.import_image_from_file(str(tarball), repository=tag.split(":")[0], tag=tag.split(":")[1], changes=changes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def debian_mirror() -> str:
    """The Debian mirror apt already uses on this machine (HARNESS_DEBIAN_MIRROR overrides it)."""
    explicit = os.environ.get("HARNESS_DEBIAN_MIRROR")
    if explicit:
        return explicit
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = path.read_text()
        except OSError:
            continue
        found = _mirror_in(text)
        if found:
            return found
    raise ArtifactError("no Debian mirror found in apt's sources to debootstrap the base image from",
                        hint="set HARNESS_DEBIAN_MIRROR to a Debian mirror URL")


def _mirror_in(text: str) -> str | None:
    """A URI serving the `bookworm` suite's main component, from one-line or deb822 sources (the
    same Debian mirror serves bullseye, for the images of a release whose Python needs it)."""
    for line in text.splitlines():
        parts = re.sub(r"\[[^\]]*\]", " ", line).split()  # drop `[signed-by=...]` options
        if len(parts) >= 4 and parts[0] == "deb" and parts[2] == HOST_SUITE:
            return parts[1]
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith("#"):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.split()
        enabled = fields.get("enabled", ["yes"])[0].lower() != "no"
        if enabled and "deb" in fields.get("types", ["deb"]) and HOST_SUITE in fields.get("suites", []) and fields.get("uris"):
            return fields["uris"][0]
    return None


# ----- derived images: docker build with a small context ---------------------------------------------


def _build_kafka(names: ImageSet, stack: Release, input_hash: str, jar_dir: Path, progress: Progress) -> None:
    config_name = logging_config(stack.kafka_logging)[0]  # log4j.properties (Kafka 3.2, ZooKeeper) or log4j2.properties
    server_log = PurePosixPath("/opt/kafka/config") / config_name
    tools_log = server_log.with_name(config_name.replace(".properties", "-tools.properties"))
    log_flag, tools_flag = logging_flag(stack.kafka_logging, server_log), logging_flag(stack.kafka_logging, tools_log)
    with tempfile.TemporaryDirectory(prefix="kafka-image-", dir=_workdir()) as ctx_name:
        ctx = Path(ctx_name)
        shutil.copytree(jar_dir, ctx / "libs", ignore=shutil.ignore_patterns(".*"))
        tools = ctx / "bin"
        tools.mkdir()
        for script, main in KAFKA_TOOLS[stack.kafka_version].items():
            (tools / script).write_text(f'#!/bin/sh\nexec java -Xmx512m {tools_flag} -cp "/opt/kafka/libs/*" {main} "$@"\n')
            (tools / script).chmod(0o755)
        logging = _logging_resource(stack)
        for resource in ("kafka-node.sh", "ambari_server.py", logging):
            shutil.copy(RESOURCES / resource, ctx / resource)
        (ctx / "Dockerfile").write_text(
            f"FROM {names.base}\n"
            "COPY libs/ /opt/kafka/libs/\n"
            "COPY bin/ /opt/kafka/bin/\n"
            f"COPY {logging} {server_log}\n"
            f"COPY {logging} {tools_log}\n"
            "COPY kafka-node.sh /opt/kafka/kafka-node\n"
            "COPY ambari_server.py /opt/harness/ambari_server.py\n"
            # the tools log warnings only, as Kafka's own tools-log4j files do
            f"RUN sed -i -e 's/rootLogger.level = INFO/rootLogger.level = WARN/' -e 's/rootLogger=INFO/rootLogger=WARN/' {tools_log}"
            " && chmod 755 /opt/kafka/kafka-node && mkdir -p /var/lib/kafka/data /etc/kafka\n"
            f'ENV KAFKA_LOG_OPTS="{log_flag}" KAFKA_TOOLS_LOG_OPTS="{tools_flag}" '
            "PATH=/opt/kafka/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
            'ENTRYPOINT ["/opt/kafka/kafka-node"]\n'
        )
        _docker_build(ctx, names.kafka, input_hash, progress)


def _build_spark(names: ImageSet, stack: Release, input_hash: str, progress: Progress) -> None:
    """The current release's pyspark comes from pip with the rest; another's is the runtime the harness
    installed for it (pyspark 3.3 is a source distribution, pure Python and jars), at the same place under
    the image's cache as on the host, so `spark_runtime` finds it there too."""
    requirements = _python_requirements(stack)
    with tempfile.TemporaryDirectory(prefix="spark-image-", dir=_workdir()) as ctx_name:
        ctx = Path(ctx_name)
        progress(f"installing {', '.join(requirements)} into the Spark image (from pip's cache when it has them)")
        _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(ctx / "py"), *_pip_platform(stack), *requirements],
             what="pip install for the Spark image", timeout=1800)
        connector = connector_jars(stack.name)[0].parent
        shutil.copytree(connector, ctx / "cache" / "jars" / connector.name)
        python_path, spark_home = "/opt/harness/src:/opt/harness/py", "/opt/harness/py/pyspark"
        runtime = spark_runtime(stack.name)
        if runtime.python_path is not None:
            inside = Path("spark") / runtime.python_path.name
            shutil.copytree(runtime.python_path, ctx / "cache" / inside)
            python_path = f"/opt/harness/src:/opt/harness/cache/{inside}:/opt/harness/py"
            spark_home = f"/opt/harness/cache/{inside}/pyspark"
        for resource in ("spark-node.sh", "spark-class-training.py"):
            shutil.copy(RESOURCES / resource, ctx / resource)
        jvm_options = " ".join([*SHORT_LIVED_JVM_OPTIONS, f"-XX:SharedArchiveFile={SPARK_CLASS_ARCHIVE}"])
        (ctx / "Dockerfile").write_text(
            f"FROM {names.base}\n"
            "COPY py/ /opt/harness/py/\n"
            "COPY cache/ /opt/harness/cache/\n"
            "COPY spark-node.sh /opt/harness/spark-node\n"
            "COPY spark-class-training.py /opt/harness/spark-class-training.py\n"
            f"RUN chmod 755 /opt/harness/spark-node {spark_home}/bin/* && mkdir -p /opt/harness/src /var/lib/spark\n"
            f"ENV PYTHONPATH={python_path} SPARK_HOME={spark_home} HARNESS_CACHE=/opt/harness/cache "
            "PYSPARK_PYTHON=python3 SPARK_NO_DAEMONIZE=1 PATH=/opt/harness/py/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
            # The JVM flags of a short-lived twin JVM, for the image's shell and Python steps (spark-node, the training).
            f'HARNESS_JVM_OPTIONS="{" ".join(SHORT_LIVED_JVM_OPTIONS)}"\n'
            f"RUN python3 /opt/harness/spark-class-training.py {SPARK_CLASS_ARCHIVE}\n"
            # Every driver (spark-submit, pyspark, spark-shell, Livy's batches) reads SPARK_SUBMIT_OPTS, also under
            # `docker exec`; its executors get the same through the spark.executor.defaultJavaOptions it carries.
            f'ENV SPARK_CLASS_ARCHIVE={SPARK_CLASS_ARCHIVE} SPARK_SUBMIT_OPTS="{jvm_options} '
            f'-Dspark.executor.defaultJavaOptions=\\"{jvm_options}\\""\n'
            'ENTRYPOINT ["/opt/harness/spark-node"]\n'
        )
        _docker_build(ctx, names.spark, input_hash, progress)


def _pip_platform(stack: Release) -> list[str]:
    """pip's options for wheels of the image's Python rather than the harness's (bullseye: CPython 3.9, glibc 2.31)."""
    if stack.debian_suite != "bullseye":
        return []
    machine = platform.machine()
    return ["--only-binary=:all:", "--python-version", "3.9", "--implementation", "cp", "--abi", "cp39", "--abi", "abi3", "--abi", "none",
            *(arg for tag in ("manylinux2014", "manylinux_2_17", "manylinux_2_28", "manylinux2010", "manylinux_2_12")
              for arg in ("--platform", f"{tag}_{machine}"))]


def _docker_build(ctx: Path, tag: str, input_hash: str, progress: Progress) -> None:
    """The legacy builder (no BuildKit needed); every step's output goes to progress."""
    client = docker_client()
    error = None
    for chunk in client.api.build(path=str(ctx), tag=tag, labels={HASH_LABEL: input_hash}, rm=True, forcerm=True, decode=True):
        line = (chunk.get("stream") or "").strip()
        if line.startswith("Step "):
            progress(f"{tag}: {line}")
        if "error" in chunk:
            error = chunk["error"]
    if error:
        raise ArtifactError(f"docker build of {tag} failed", detail=str(error), hint=f"the build context was {ctx}")


# ----- helpers -----------------------------------------------------------------------------------------


def _workdir() -> Path:
    path = cache_root() / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(argv: list[str], *, what: str, timeout: float = 600, stdin: str | None = None) -> None:
    out = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-20:])
        raise ArtifactError(f"{what} failed (exit {out.returncode})", detail=tail)


def _read(path: Path) -> str:
    return path.read_text()


def _file_fingerprints(directory: Path) -> list[str]:
    return [f"{p.name}:{p.stat().st_size}" for p in sorted(directory.iterdir()) if p.is_file() and not p.name.startswith(".")]


def _digest(*parts: str) -> str:
    digest = hashlib.sha256(platform.machine().encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:16]
