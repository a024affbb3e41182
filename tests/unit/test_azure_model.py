"""Azure catalog, deployment limits, USL fit and projection: arithmetic checked on known inputs."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.topology.azure import DeploymentProfile
from harness.topology.vm_sizes import PREMIUM_SSD_P30, STANDARD_HDD_S30, VM_SIZES, vm_size
from harness.bench.model import DISCLAIMER, Projection, fit_usl, partition_counts, project, recommend_partitions
from harness.errors import ConfigError, HarnessError
from harness.topology.loader import load_profile
from harness.topology.model import Topology

NS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


def usl(n: float, lam: float, sigma: float, kappa: float) -> float:
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def exact(lam: float, sigma: float, kappa: float, ns: tuple[int, ...] = NS) -> list[tuple[float, float]]:
    return [(n, usl(n, lam, sigma, kappa)) for n in ns]


def profile(vm: str = "Standard_D13_v2", disks: int = 2, brokers: int = 3, rf: int = 3, workers: int = 4) -> DeploymentProfile:
    return DeploymentProfile(
        brokers=brokers, broker_vm=vm_size(vm), disks_per_broker=disks,
        spark_workers=workers, spark_worker_vm=vm_size("Standard_D13_v2"), replication_factor=rf,
    )


# ------------------------------------------------------------------------------------- catalog


def test_catalog_matches_the_design_table() -> None:
    table = {
        "Standard_A2_v2": (2, 4, 500, None), "Standard_D3_v2": (4, 14, 3000, None), "Standard_D4_v2": (8, 28, 6000, None),
        "Standard_D12_v2": (4, 28, 3000, None), "Standard_D13_v2": (8, 56, 6000, None), "Standard_D14_v2": (16, 112, 12000, None),
        "Standard_DS3_v2": (4, 14, 3000, 192), "Standard_DS4_v2": (8, 28, 6000, 384),
    }
    assert {name: (s.vcpus, s.ram_gib, s.network_mbps, s.disk_mb_s) for name, s in VM_SIZES.items()} == table


def test_only_ds_sizes_get_premium_disks() -> None:
    assert {name for name, s in VM_SIZES.items() if s.disk_type == PREMIUM_SSD_P30} == {"Standard_DS3_v2", "Standard_DS4_v2"}
    assert (STANDARD_HDD_S30.iops, STANDARD_HDD_S30.mb_s, PREMIUM_SSD_P30.iops, PREMIUM_SSD_P30.mb_s) == (500, 60, 5000, 200)


def test_vm_lookup_is_case_insensitive_and_unknown_names_list_the_known() -> None:
    assert vm_size("standard_a2_V2").name == "Standard_A2_v2"
    with pytest.raises(ConfigError) as caught:
        vm_size("Standard_E8_v3")
    assert "Standard_E8_v3" in str(caught.value) and "Standard_DS4_v2" in str(caught.value)


# ---------------------------------------------------------------------------------- deployment


@pytest.mark.parametrize(
    ("vm", "disks", "per_broker"),
    [("Standard_D13_v2", 2, 120.0), ("Standard_D4_v2", 8, 480.0), ("Standard_DS3_v2", 1, 192.0), ("Standard_DS4_v2", 4, 384.0), ("Standard_DS4_v2", 1, 200.0)],
)
def test_broker_disk_throughput_is_disks_capped_by_the_vm(vm: str, disks: int, per_broker: float) -> None:
    assert profile(vm, disks).broker_disk_mb_s == pytest.approx(per_broker)


def test_cluster_write_and_network_read_capacity() -> None:
    p = profile()  # 3 x D13_v2, 2 x S30, RF 3
    assert p.cluster_write_capacity_mb_s == pytest.approx(120.0)  # 3 x 120 / 3
    assert p.network_read_capacity_mb_s(1) == pytest.approx(750.0)  # 3 x 750 / (3 + 1 - 1)
    assert p.network_read_capacity_mb_s(3) == pytest.approx(450.0)  # 3 x 750 / 5
    assert profile(rf=2).cluster_write_capacity_mb_s == pytest.approx(180.0)
    assert p.spark_cores == 32 and p.max_partitions == 2000


def test_from_topology_reads_the_builtin_hdinsight_profile() -> None:
    p = DeploymentProfile.from_topology(load_profile("hdinsight"))
    assert (p.brokers, p.broker_vm.name, p.disks_per_broker, p.spark_workers, p.spark_worker_vm.name, p.replication_factor) == (
        3, "Standard_D13_v2", 2, 4, "Standard_D13_v2", 3,
    )


def test_from_topology_unknown_vm_size_names_it_and_the_known_ones() -> None:
    data = load_profile("hdinsight").model_dump(mode="json")
    data["clusters"][0]["nodes"][1]["vm_size"] = "Standard_E8_v3"
    with pytest.raises(ConfigError) as caught:
        DeploymentProfile.from_topology(Topology.model_validate(data))
    assert "Standard_E8_v3" in str(caught.value) and "Standard_D13_v2" in str(caught.value)


@pytest.mark.parametrize(("kwargs", "message"), [({"disks": 0}, "managed data disks"), ({"rf": 4}, "replication_factor 4")])
def test_impossible_deployments_are_rejected(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        profile(**kwargs)


# ------------------------------------------------------------------------------------- USL fit


@pytest.mark.parametrize(("lam", "sigma", "kappa"), [(1000.0, 0.05, 0.002), (20000.0, 0.3, 1e-4), (50.0, 0.01, 0.0), (1e5, 0.0, 0.01)])
def test_fit_recovers_parameters_from_exact_points(lam: float, sigma: float, kappa: float) -> None:
    fit = fit_usl(exact(lam, sigma, kappa))
    assert fit.lam == pytest.approx(lam, rel=1e-6)
    assert fit.sigma == pytest.approx(sigma, abs=1e-7)
    assert fit.kappa == pytest.approx(kappa, abs=1e-8)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-9)
    assert max(abs(r) for r in fit.residuals) < 1e-6 * lam


@settings(max_examples=40, deadline=None)
@given(
    lam=st.floats(10, 1e6), sigma=st.floats(0, 0.5), kappa=st.one_of(st.just(0.0), st.floats(1e-5, 0.05)),
)
def test_fit_reproduces_any_exact_curve(lam: float, sigma: float, kappa: float) -> None:
    fit = fit_usl(exact(lam, sigma, kappa))
    for n, x in exact(lam, sigma, kappa):
        assert fit.predict(n) == pytest.approx(x, rel=1e-5)
    assert fit.sigma >= 0 and fit.kappa >= 0


def test_fit_recovers_parameters_from_noisy_points_within_tolerance() -> None:
    rng = random.Random(20240611)
    lam, sigma, kappa = 1000.0, 0.05, 0.002
    points = [(n, usl(n, lam, sigma, kappa) * (1 + rng.gauss(0, 0.03))) for n in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64) for _ in range(3)]
    fit = fit_usl(points)
    assert fit.lam == pytest.approx(lam, rel=0.10)
    assert fit.sigma == pytest.approx(sigma, abs=0.03)
    assert fit.kappa == pytest.approx(kappa, rel=0.25)
    assert fit.peak_n() == pytest.approx(math.sqrt((1 - sigma) / kappa), rel=0.15)
    assert 0.98 < fit.r_squared < 1.0 and len(fit.residuals) == 30
    truth_sse = sum((x - usl(n, lam, sigma, kappa)) ** 2 for n, x in points)
    assert sum(r * r for r in fit.residuals) <= truth_sse  # a least-squares optimum beats the true curve on its sample


def test_linear_data_fits_no_contention() -> None:
    fit = fit_usl([(n, 500.0 * n) for n in (1, 2, 4, 8, 16)])
    assert fit.lam == pytest.approx(500.0, rel=1e-9)
    assert fit.sigma == pytest.approx(0.0, abs=1e-9) and fit.kappa == pytest.approx(0.0, abs=1e-12)
    assert math.isinf(fit.peak_n()) and math.isinf(fit.peak_throughput())


def test_peak_is_sqrt_one_minus_sigma_over_kappa_and_is_the_maximum() -> None:
    fit = fit_usl(exact(1000.0, 0.05, 0.002))
    assert fit.peak_n() == pytest.approx(math.sqrt(0.95 / 0.002), rel=1e-6)
    peak = fit.peak_n()
    assert fit.predict(peak) > fit.predict(peak - 1) and fit.predict(peak) > fit.predict(peak + 1)
    assert fit.peak_throughput() == pytest.approx(usl(peak, 1000.0, 0.05, 0.002), rel=1e-6)


def test_contention_only_curve_has_no_peak_but_an_asymptote() -> None:
    fit = fit_usl(exact(100.0, 0.1, 0.0))
    assert math.isinf(fit.peak_n())
    assert fit.peak_throughput() == pytest.approx(1000.0, rel=1e-5)  # lambda / sigma


@pytest.mark.parametrize("points", [[(1, 10.0), (2, 19.0)], [(1, 10.0), (1, 11.0), (2, 19.0), (2, 20.0)], [(0, 1.0), (1, 2.0), (2, 3.0)], [(1, 1.0), (2, -1.0), (3, 1.0)]])
def test_fit_refuses_points_it_cannot_fit(points: list[tuple[float, float]]) -> None:
    with pytest.raises(HarnessError):
        fit_usl(points)


def test_fit_describe_says_model_and_quality() -> None:
    text = fit_usl(exact(1000.0, 0.05, 0.002)).describe()
    assert DISCLAIMER in text and "R²=1.0000" in text and "10 points (N=1..32)" in text


def test_three_points_fit_warns_that_r2_means_nothing() -> None:
    fit = fit_usl(exact(1000.0, 0.05, 0.002, ns=(1, 2, 4)))
    assert "R² says nothing" in fit.describe()


# ---------------------------------------------------------------------------------- projection


def test_partition_counts_are_powers_of_two_up_to_twice_the_cores() -> None:
    assert partition_counts(32) == (1, 2, 4, 8, 16, 32, 64)
    assert partition_counts(24) == (1, 2, 4, 8, 16, 24, 32, 48)


def test_projection_scales_local_fit_as_copies_of_the_local_machine() -> None:
    fit = fit_usl(exact(1000.0, 0.05, 0.002))
    proj = project(fit, profile(), record_bytes=100, local_cores=2)  # 32 Spark cores = 16 local machines
    assert proj.at(1).model_records_per_s == pytest.approx(1000.0, rel=1e-6)
    assert proj.at(16).model_records_per_s == pytest.approx(16 * 1000.0, rel=1e-6)  # one task per copy
    assert proj.at(32).model_records_per_s == pytest.approx(16 * usl(2, 1000.0, 0.05, 0.002), rel=1e-6)
    assert proj.at(64).model_records_per_s == pytest.approx(16 * usl(4, 1000.0, 0.05, 0.002), rel=1e-6)
    assert [r.partitions for r in proj.rows] == [1, 2, 4, 8, 16, 32, 64]
    assert proj.at(64).extrapolated is False and proj.at(32 * 16 * 2).extrapolated is True


def test_projection_is_capped_by_broker_disks() -> None:
    fit = fit_usl([(n, 50_000.0 * n) for n in (1, 2, 4)])
    proj = project(fit, profile(), record_bytes=1000, local_cores=2)  # disks: 120 MB/s = 120k records/s
    assert proj.write_cap_records_per_s == pytest.approx(120_000)
    assert [round(r.projected_records_per_s) for r in proj.rows[:3]] == [50_000, 100_000, 120_000]
    assert [r.bound_by for r in proj.rows] == ["Spark (USL fit)"] * 2 + ["broker disks"] * 5
    assert max(r.projected_records_per_s for r in proj.rows) == pytest.approx(120_000)


def test_projection_is_capped_by_broker_network_with_many_consumer_groups() -> None:
    fit = fit_usl([(n, 1e6 * n) for n in (1, 2, 4)])
    p = profile("Standard_DS4_v2", disks=4)  # disks 3 x 384 / 3 = 384 MB/s; network 3 x 750 / (3 + 4 - 1) = 375 MB/s
    proj = project(fit, p, record_bytes=1000, local_cores=2, consumers=4)
    assert proj.network_cap_records_per_s == pytest.approx(375_000)
    assert proj.rows[-1].bound_by == "broker network"
    assert proj.rows[-1].projected_records_per_s == pytest.approx(375_000)


def test_projection_describe_says_model_not_measurement() -> None:
    proj = project(fit_usl(exact(1000.0, 0.05, 0.002)), profile(), record_bytes=200, local_cores=2)
    text = proj.describe()
    assert text.startswith(DISCLAIMER) and "R²=" in text and "10 points" in text and "local[2]" in text
    assert len(text.splitlines()) == 5 + len(proj.rows)


# ------------------------------------------------------------------------------ recommendation


def linear_projection(per_partition: float = 10_000.0) -> Projection:
    fit = fit_usl([(n, per_partition * n) for n in (1, 2, 4, 8)])
    return project(fit, profile(), record_bytes=1000, local_cores=2)  # disks cap 120k records/s


def test_recommendation_is_the_smallest_partition_count_reaching_the_target() -> None:
    rec = recommend_partitions(linear_projection(), 50_000)
    assert rec.partitions == 5 and rec.reachable
    assert rec.projected_records_per_s == pytest.approx(50_000)
    assert rec.produce_rate_per_partition == pytest.approx(60_000)  # one S30 disk, 1000-byte records
    assert rec.consume_rate_per_partition == pytest.approx(10_000)
    assert rec.rule_minimum == 5


def test_recommendation_honours_the_per_partition_rule() -> None:
    rec = recommend_partitions(linear_projection(), 50_000, consume_rate_per_partition=4_000)
    assert rec.rule_minimum == 13 and rec.partitions == 13


def test_recommendation_says_which_limit_blocks_an_unreachable_target() -> None:
    rec = recommend_partitions(linear_projection(), 200_000)
    assert rec.partitions is None and not rec.reachable
    assert rec.limit is not None and rec.limit.startswith("broker disks")
    assert rec.projected_records_per_s == pytest.approx(120_000)
    assert "not reachable on this profile: limit broker disks" in rec.describe()


def test_recommendation_blocked_by_the_usl_peak_names_spark() -> None:
    proj = project(fit_usl(exact(1000.0, 0.3, 0.05)), profile(), record_bytes=100, local_cores=2)
    rec = recommend_partitions(proj, 1e6)
    assert rec.partitions is None and rec.limit is not None and rec.limit.startswith("Spark (USL fit peaks")


def test_recommendation_describe_says_model_and_quality() -> None:
    text = recommend_partitions(linear_projection(), 50_000).describe()
    assert text.startswith(DISCLAIMER) and "recommend 5 partitions" in text and "R²=" in text and "4 points" in text


def test_recommendation_reports_a_sizing_rule_the_model_cannot_meet() -> None:
    proj = project(fit_usl(exact(1000.0, 0.05, 0.002)), profile(), record_bytes=100, local_cores=32)  # 1 copy: peak near 22
    reachable = recommend_partitions(proj, 7_000)
    assert reachable.partitions is not None and reachable.partitions < 35
    rec = recommend_partitions(proj, 7_000, consume_rate_per_partition=200)  # the rule asks for 35, past the peak
    assert rec.rule_minimum == 35 and rec.partitions is None
    assert rec.limit is not None and rec.limit.startswith("sizing rule")


def test_recommendation_respects_the_partitions_per_broker_limit() -> None:
    proj = project(fit_usl([(n, 10_000.0 * n) for n in (1, 2, 4)]), profile(brokers=1, rf=1), record_bytes=1000, local_cores=2)
    rec = recommend_partitions(proj, 50_000, produce_rate_per_partition=10)  # rule: 5000 partitions on one broker
    assert rec.partitions is None and rec.limit is not None and rec.limit.startswith("partitions per broker")


def test_recommendation_rejects_non_positive_rates() -> None:
    with pytest.raises(ValueError):
        recommend_partitions(linear_projection(), 50_000, consume_rate_per_partition=0)
