"""Backends realise a topology. `new_deployment`, `attach` and `stop_run` are the one way the entry
points get (or get rid of) one."""

from __future__ import annotations

from harness.backends.base import Deployment, NodeStatus
from harness.backends.local import LocalDeployment
from harness.backends.rundir import RunDir, all_runs
from harness.errors import HarnessError, RunStateError
from harness.topology.loader import load_profile
from harness.topology.model import KafkaSecurity

BACKENDS = ("local", "docker")


def new_deployment(profile: str, run_name: str, backend: str | None = None, *, spark: str | None = None,
                   release: str | None = None, security: str | KafkaSecurity | None = None) -> Deployment:
    """`backend` overrides the profile's `backend` (default local); `spark` its spark.mode; `release` its
    release; `security` its kafka.security.protocol (or the whole kafka.security)."""
    topology = load_profile(profile)
    if release is not None and release != topology.release:
        try:
            topology = topology.with_release(release)
        except ValueError as exc:
            raise HarnessError(f"profile {profile} cannot run on release {release}: {exc}") from None
    backend = backend or topology.backend
    if backend not in BACKENDS:
        raise HarnessError(f"unknown backend {backend!r}", hint=f"choose one of {', '.join(BACKENDS)}")
    if spark is not None:
        topology = topology.model_copy(update={"spark": topology.spark.model_copy(update={"mode": spark})})
    if security is not None:
        topology = topology.with_security(security)
    if backend == "docker":
        from harness.backends.docker.deployment import DockerDeployment

        return DockerDeployment(topology, RunDir(run_name), profile=str(profile))
    return LocalDeployment(topology, RunDir(run_name), profile=str(profile))


def attach(run_name: str, *, running: bool = True) -> Deployment:
    """The deployment of a recorded run; with `running`, refuse one that `down` stopped, whose
    brokers could only answer with transport errors."""
    run = RunDir(run_name)
    state = run.load()
    if running and state.status == "stopped":
        raise RunStateError(f"run {run_name!r} is stopped (by `harness down`, or at the end of a `harness run` that started it)",
                            hint=f"start it again with `harness up --name {run_name}`; `harness run` without --attach starts a twin of its own")
    if state.backend == "docker":
        from harness.backends.docker.deployment import DockerDeployment

        return DockerDeployment.attach(run)
    if state.backend == "external":
        from harness.backends.external import ExternalDeployment

        return ExternalDeployment.attach(run)
    return LocalDeployment.attach(run)


def stop_run(run: RunDir) -> int:
    """Stop what a run started, from its state file (processes) or its labels (containers, also when
    the run directory is gone)."""
    if run.exists() and run.load().backend != "docker":
        return run.stop_all()
    from harness.backends.docker.deployment import stop_run as remove_containers

    stopped = remove_containers(run.name)
    run.mark_stopped()
    return stopped


def orphaned_runs() -> list[str]:
    """Docker runs that still own containers, networks or volumes but have no run directory here."""
    from harness.backends.docker.engine import labelled_runs

    recorded = {run.name for run in all_runs()}
    return sorted(labelled_runs() - recorded)


__all__ = ["BACKENDS", "Deployment", "NodeStatus", "RunDir", "all_runs", "attach", "new_deployment", "orphaned_runs", "stop_run"]
