"""Backends realise a topology. `open_deployment` is the one way the entry points get one."""

from __future__ import annotations

from harness.backends.base import Deployment, NodeStatus, Progress
from harness.backends.local import LocalDeployment
from harness.backends.rundir import RunDir, all_runs
from harness.errors import HarnessError
from harness.topology.loader import load_profile

BACKENDS = ("local",)


def new_deployment(profile: str, run_name: str, backend: str = "local", *, spark: str | None = None) -> Deployment:
    """`spark` overrides the profile's spark.mode ("local" or "standalone")."""
    if backend not in BACKENDS:
        raise HarnessError(f"unknown backend {backend!r}", hint=f"choose one of {', '.join(BACKENDS)}")
    topology = load_profile(profile)
    if spark is not None:
        topology = topology.model_copy(update={"spark": topology.spark.model_copy(update={"mode": spark})})
    return LocalDeployment(topology, RunDir(run_name), profile=str(profile))


def attach(run_name: str) -> Deployment:
    return LocalDeployment.attach(RunDir(run_name))


__all__ = ["BACKENDS", "Deployment", "NodeStatus", "Progress", "RunDir", "all_runs", "attach", "new_deployment"]
