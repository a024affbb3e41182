"""A job's `source_options`: more connector options for a `name` job's source, never the twin's own."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.jobs.spec import JobSpec
from harness.scenarios.spec import load_scenario


def test_source_options_are_kept_as_strings() -> None:
    spec = JobSpec(source_options={"kafka.fetch.max.wait.ms": 20, "includeHeaders": True})
    assert spec.source_options == {"kafka.fetch.max.wait.ms": "20", "includeHeaders": "true"}


@pytest.mark.parametrize("option", ["kafka.bootstrap.servers", "subscribe", "startingOffsets", "kafka.security.protocol",
                                    "kafka.ssl.truststore.location", "kafka.sasl.jaas.config"])
def test_the_twins_address_topic_and_security_stay_the_harnesss(option: str) -> None:
    with pytest.raises(ValidationError, match="the harness sets the source's address, topic, start and security"):
        JobSpec(source_options={option: "x"})


def test_options_with_a_field_of_their_own_name_the_field() -> None:
    with pytest.raises(ValidationError, match="write it as the job's `max_offsets_per_trigger`"):
        JobSpec(source_options={"maxOffsetsPerTrigger": "100"})


def test_an_application_sets_its_own_source() -> None:
    with pytest.raises(ValidationError, match="an application sets its own source's options"):
        JobSpec(application={"file": "app.py"}, output={"kafka_topic": "out"}, source_options={"kafka.fetch.max.wait.ms": "20"})


def test_the_stock_ticker_keeps_its_low_rate_fetches_short() -> None:
    assert load_scenario("stock-ticker").job.source_options == {"kafka.fetch.max.wait.ms": "20"}
