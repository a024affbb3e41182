"""pytest plugin (entry point `pytest11`): a real Kafka twin and a Spark session as fixtures.

Installing kafka-spark-harness is enough; a test asks for `kafka_bootstrap`, `kafka_topic` or
`spark`. One twin serves the whole session (booting brokers is the slow part). Point the plugin at
a twin you keep running with `harness up` and `--harness-run default` for the fastest loop.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from harness.backends import Deployment, attach, new_deployment
from harness.runtime.processes import sigterm_as_interrupt
from harness.topology.model import SECURITY_PROTOCOLS
from harness.versions import RELEASES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


_SIGNALS = pytest.StashKey[contextlib.ExitStack]()


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a stopped CI job, `make test`'s lanes stopping) unwinds the session like Ctrl-C, so the teardown of
    every fixture and `with` block stops the twins it started. Without it, pytest died at once and left a test
    module's containers and an xdist worker's brokers running."""
    signals = contextlib.ExitStack()
    signals.enter_context(sigterm_as_interrupt())
    config.stash[_SIGNALS] = signals


def pytest_unconfigure(config: pytest.Config) -> None:
    signals = config.stash.get(_SIGNALS, None)
    if signals is not None:
        signals.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kafka-spark-harness")
    group.addoption("--harness-profile", default=os.environ.get("HARNESS_PROFILE", "dev"),
                    help="profile of the session's twin: a built-in name (dev, hdinsight, single) or a YAML file")
    group.addoption("--harness-spark", default=os.environ.get("HARNESS_SPARK"), choices=(None, "local", "standalone"),
                    help="override the profile's spark.mode: a local[N] session or a standalone master and workers")
    group.addoption("--harness-backend", default=os.environ.get("HARNESS_BACKEND"), choices=(None, "local", "docker"),
                    help="override the profile's backend: local JVMs on loopback addresses, or a container per node (Docker)")
    group.addoption("--harness-release", default=os.environ.get("HARNESS_RELEASE"), choices=(None, *RELEASES),
                    help="override the profile's release: current (today's Kafka and Spark) or hdinsight-5.1 (Kafka 3.2 on ZooKeeper, Spark 3.3)")
    group.addoption("--harness-security", default=os.environ.get("HARNESS_SECURITY"), choices=(None, *SECURITY_PROTOCOLS),
                    help="override the profile's kafka.security.protocol: plaintext, tls or mtls (the run's own CA)")
    group.addoption("--harness-run", default=None,
                    help="use an already running twin (started by `harness up --name NAME`) instead of starting one")


@pytest.fixture(scope="session")
def harness_deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """The session's running twin; started here and stopped at the end, unless `--harness-run` names one."""
    existing = request.config.getoption("--harness-run")
    if existing:
        yield attach(existing)
        return
    deployment = new_deployment(request.config.getoption("--harness-profile"), f"pytest-{os.getpid()}",
                                request.config.getoption("--harness-backend"), spark=request.config.getoption("--harness-spark"),
                                release=request.config.getoption("--harness-release"), security=request.config.getoption("--harness-security"))
    if deployment.backend == "docker":
        from harness.backends.docker.engine import engine_available

        if not engine_available():
            pytest.skip("the docker backend was asked for, but no Docker engine answers")
    from harness.runner import running_twin

    with sigterm_as_interrupt(), running_twin(deployment) as twin:
        yield twin


@pytest.fixture(scope="session")
def kafka_bootstrap(harness_deployment: Deployment) -> str:
    return harness_deployment.bootstrap_servers


@pytest.fixture(scope="session")
def kafka_options(harness_deployment: Deployment) -> dict[str, str]:
    """The connector's `kafka.`-prefixed options that reach this twin, for `spark.read.format("kafka").options(**kafka_options)`:
    empty on a plaintext twin; on a secured one the protocol and the run's truststore (under mTLS the client keystore, under
    SASL the SCRAM login of the profile's `job_principal`)."""
    return harness_deployment.job_security.spark_options()


_topic_numbers = itertools.count()


@pytest.fixture
def kafka_topic(harness_deployment: Deployment, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Factory: `kafka_topic(partitions=4)` creates a fresh, fully replicated topic and returns its name."""
    from harness.kafka.admin import create_topic

    defaults = harness_deployment.topology.kafka.topic_defaults

    def make(name: str | None = None, *, partitions: int | None = None, replication_factor: int | None = None,
             configs: dict[str, str] | None = None) -> str:
        topic = name or f"t-{request.node.name[:40].strip('[]').replace('[', '-')}-{next(_topic_numbers)}"
        topic = "".join(c if c.isalnum() or c in "._-" else "-" for c in topic)
        create_topic(
            harness_deployment.bootstrap_servers, topic,
            partitions=partitions or defaults.partitions,
            replication_factor=replication_factor or defaults.replication_factor,
            configs=configs,
        )
        return topic

    return make


@pytest.fixture(scope="session")
def spark(harness_deployment: Deployment) -> Iterator[SparkSession]:
    """A SparkSession in this process with the spark-sql-kafka connector, its JVM stopped at the end: local[N],
    or the twin's standalone master on the local backend. (On the docker backend scenarios run their job
    inside the VNet; this session is local[N] reading through the host listeners.) On a release whose Spark
    is not the harness's own pyspark (hdinsight-5.1), a test that needs this session is skipped with the reason:
    that release's jobs run in processes of its own Spark."""
    from harness.runner import own_spark_runs, spark_for

    if not own_spark_runs(harness_deployment):
        stack = harness_deployment.topology.stack
        pytest.skip(f"needs a Spark session in this process, and release {stack.name}'s Spark {stack.spark_version} runs only in processes of its own")
    with spark_for(harness_deployment) as session:
        yield session


@pytest.fixture
def run_scenario(harness_deployment: Deployment, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run a scenario (a path or a `Scenario`) on the session's twin and Spark; returns the RunReport.

    `job={...}` replaces the scenario's job by your own, of any kind the scenario file takes, e.g.
    `run_scenario("scenarios/stock-ticker.yaml", job={"application": {"file": "app.py", "args": [...]},
    "output": {"kafka_topic": "out"}})`; keyword arguments override single fields, e.g. `watermark=1000`.
    """
    from pathlib import Path

    from harness.runner import run_scenario as run
    from harness.scenarios.spec import Scenario, load_scenario

    def go(scenario: str | Path | Scenario, job: Mapping[str, Any] | None = None, **job_overrides: Any) -> Any:
        loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        if job or job_overrides:
            loaded = loaded.with_job({**(job or {}), **job_overrides})
        return run(loaded, deployment=harness_deployment, spark=_shared_session(harness_deployment, request))

    return go


def _shared_session(twin: Deployment, request: pytest.FixtureRequest) -> SparkSession | None:
    """The session-wide `spark` fixture where this process can run the release's Spark; else none (the runner
    starts a driver process of that Spark)."""
    from harness.runner import own_spark_runs

    return request.getfixturevalue("spark") if own_spark_runs(twin) else None


@pytest.fixture
def fault(harness_deployment: Deployment) -> Iterator[Callable[..., list[str]]]:
    """`fault("kill", "leader(stockVals/0)")` breaks nodes of the session's twin; the test's end heals it.
    Network faults (docker backend) take the scenario schema's parameters:
    `fault("partition", "wn0-kafka", peers=["wn1-kafka"])`, `fault("loss", "wn1-kafka", percent=20)`."""
    from harness.faults.inject import inject
    from harness.faults.schedule import fault_from

    def break_it(action: str, target: str, **params: Any) -> list[str]:
        return inject(harness_deployment, fault_from(action, target, **params))

    try:
        yield break_it
    finally:
        harness_deployment.heal()
