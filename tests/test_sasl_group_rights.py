"""The shipped SASL_SSL failure scenario on hdinsight-5.1 (Kafka 3.2 on ZooKeeper, Spark 3.3), local backend:
a job principal without group rights is stopped by the authorizer (Spark 3.3's Kafka source fetches offsets
with a consumer in a group named `spark-kafka-source-...`), and its fix passes on the same twin once the group
ACL is granted. A module of its own: it boots its own twin, and pytest-xdist places whole modules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.backends import new_deployment
from harness.errors import HarnessError
from harness.kafka.admin import create_acls
from harness.runner import run_scenario, running_twin
from harness.scenarios.spec import load_scenario
from harness.topology.model import KafkaSecurity
from tests.conftest import REPO
from tests.test_security import _assert_no_secret_in

GROUP_RIGHTS = load_scenario(REPO / "scenarios" / "sasl-group-rights.yaml")


def test_a_job_principal_without_group_rights_is_stopped_on_hdinsight_5_1_and_its_fix_passes(module_runs: Path) -> None:
    """scenarios/sasl-group-rights.yaml fails for the authorizer's reason, named with principal, operation and
    group; granting READ on the prefix spark-kafka-source- (scenarios/sasl-group-rights-fixed.yaml) makes it pass."""
    assert isinstance(GROUP_RIGHTS.security, KafkaSecurity)
    with running_twin(new_deployment(GROUP_RIGHTS.profile, f"sasl51-{os.getpid()}", "local", security=GROUP_RIGHTS.security)) as twin:
        assert twin.topology.stack.uses_zookeeper
        with pytest.raises(HarnessError) as failure:
            run_scenario(GROUP_RIGHTS, deployment=twin)
        told = f"{failure.value}\n{failure.value.detail}\n{failure.value.hint}"
        assert "GroupAuthorizationException" in told or "Not authorized to access group" in told, told
        assert "User:ticker-job was denied" in told and "Group:LITERAL:spark-kafka-source-" in told, told
        fixed = load_scenario(REPO / "scenarios" / "sasl-group-rights-fixed.yaml")
        assert isinstance(fixed.security, KafkaSecurity)
        create_acls(twin.bootstrap_servers, fixed.security.principals)
        report = run_scenario(fixed, deployment=twin)
        assert report.verdict == "pass", report.render()
        assert report.job["spark"]["version"].startswith("3.3")
        _assert_no_secret_in(twin, [json.dumps(report.to_json()), report.render(), told])
