"""Where a run's seconds go: phases add up, a phase the run did not pay for is absent, the report says both."""

from __future__ import annotations

import time

from harness.runner import PhaseClock
from harness.verify.report import render_timings


def test_a_phase_entered_twice_adds_up_and_an_uncounted_phase_is_absent() -> None:
    clock = PhaseClock()
    with clock.phase("job_start_s"):
        time.sleep(0.02)
    with clock.phase("twin_ready_s", counted=False):
        time.sleep(0.01)
    with clock.phase("job_start_s"):
        time.sleep(0.02)
    assert set(clock.phases) == {"job_start_s"}
    assert 0.04 <= clock.phases["job_start_s"] < clock.elapsed()


def test_a_phase_that_raises_is_still_timed() -> None:
    clock = PhaseClock()
    try:
        with clock.phase("replay_s"):
            raise RuntimeError("broker gone")
    except RuntimeError:
        pass
    assert "replay_s" in clock.phases


def test_the_time_line_names_each_phase_in_order_and_the_jobs_own_batch_time() -> None:
    line = render_timings({"run_s": 52.3, "replay_s": 5.2, "twin_ready_s": 13.0, "verify_s": 0.31}, 9.84)
    assert line == "52.3s in all: twin ready 13.0s, replay 5.2s, verification 0.3s; the job's own batches 9.8s"
