"""Generated event streams through the real Spark job, each checked against the oracle.

Hypothesis draws the stream's shape (length, disorder, lateness, duplicates, key skew, malformed
values) and the job's semantics (window, slide, watermark, output mode); a bounded number of
examples runs on the session's one twin. The oracle's own properties are in tests/unit/.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.runner import RunReport
from harness.jobs.spec import JobSpec
from harness.scenarios.spec import Disorder, ProducerSpec, Scenario, TopicSpec

pytestmark = pytest.mark.slow


@st.composite
def producers(draw: st.DrawFn) -> ProducerSpec:
    late = draw(st.sampled_from([0.0, 0.1, 0.3]))
    return ProducerSpec(
        topic="generated",
        seed=draw(st.integers(0, 10_000)),
        batches=draw(st.integers(5, 60)),
        interval=draw(st.sampled_from([1_000, 5_000, 10_000])),
        symbols=tuple(draw(st.lists(st.sampled_from(["MSFT", "BA", "F", "TSLA", "GE"]), min_size=1, max_size=5, unique=True))),
        skew=draw(st.sampled_from([{}, {"MSFT": 4}])),
        disorder=Disorder(late_fraction=late, max_delay=draw(st.sampled_from([5_000, 30_000, 90_000]))) if late else None,
        duplicates=draw(st.sampled_from([0.0, 0.05])),
        malformed=draw(st.sampled_from([0.0, 0.03])),
    )


@st.composite
def jobs(draw: st.DrawFn) -> JobSpec:
    window = draw(st.sampled_from([2_000, 4_000, 10_000]))
    mode = draw(st.sampled_from(["append", "update", "complete"]))
    watermark = draw(st.sampled_from([0, 5_000, 30_000])) if mode == "append" else draw(st.sampled_from([None, 5_000]))
    return JobSpec(
        window=window, slide=draw(st.sampled_from([None, window // 2])), watermark=watermark, output_mode=mode,
        trigger=200, max_offsets_per_trigger=draw(st.sampled_from([None, 40])),
    )


@settings(max_examples=4, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(producer=producers(), job=jobs())
def test_generated_streams_match_the_oracle(run_scenario: Callable[..., RunReport], producer: ProducerSpec, job: JobSpec) -> None:
    scenario = Scenario(name="generated", topics=(TopicSpec(name="generated", partitions=4),), producers=(producer,), job=job)
    report = run_scenario(scenario)
    failing = [c for c in report.checks if not c.ok]
    assert not failing, report.render()
