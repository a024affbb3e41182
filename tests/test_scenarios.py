"""Scenario files: validated before anything starts, with errors naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.scenarios.replay import events_for
from harness.scenarios.spec import load_scenario, parse_duration_ms
from tests.conftest import run_cli

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenarios_are_valid(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.producers and scenario.source_topic.partitions >= 1


def test_the_four_scenarios_are_shipped() -> None:
    assert {p.stem for p in SCENARIOS.glob("*.yaml")} >= {"stock-ticker", "late-and-out-of-order", "skewed-keys", "throughput"}


@pytest.mark.parametrize(("text", "ms"), [("10s", 10_000), ("250ms", 250), ("1.5m", 90_000), ("1h", 3_600_000), (42, 42)])
def test_durations(text: str | int, ms: int) -> None:
    assert parse_duration_ms(text) == ms


def test_stock_ticker_replay_is_seeded_and_faithful() -> None:
    producer = load_scenario(SCENARIOS / "stock-ticker.yaml").producers[0]
    first, second = events_for(producer), events_for(producer)
    assert first == second
    assert len(first) == 3600
    tick = first[:10]
    assert {e.key for e in tick} == {"MSFT", "BA", "JNJ", "F", "TSLA", "BAC", "GE", "MMM", "INTC", "WMT"}
    assert len({e.event_time_ms for e in tick}) == 1
    assert first[10].event_time_ms - first[0].event_time_ms == 10_000


def test_skew_multiplies_the_hot_key() -> None:
    producer = load_scenario(SCENARIOS / "skewed-keys.yaml").producers[0]
    keys = [e.key for e in events_for(producer)]
    assert keys.count("MSFT") == 10 * keys.count("BA")


BAD = """
name: broken
topics: [{name: stockVals, partitions: 8}]
producers:
  - {topic: stockVals, batches: 10}
job: {window: 4s}
"""


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (BAD.replace("batches: 10", "batches: 10, duration: 1h"), "producers[0]", "exactly one of `batches`"),
        (BAD.replace("topic: stockVals,", "topic: other,"), "(top level)", "not among topics"),
        (BAD.replace("{window: 4s}", "{window: 4 seconds}"), "job.window", "is not a duration"),
        (BAD.replace("{window: 4s}", "{window: 4s, watermark: null}"), "job", "append mode needs a watermark"),
        (BAD.replace("batches: 10", "batches: 10, acks: 1"), "producers[0]", "idempotence needs acks: all"),
        (BAD.replace("{window: 4s}", "{window: 4s, outptu_mode: update}"), "job.outptu_mode", "unknown field"),
        (BAD.replace("name: stockVals", "name: 'stock vals'"), "topics[0](stock vals).name", "not a legal Kafka topic name"),
    ],
)
def test_broken_scenarios_name_file_and_field(tmp_path: Path, text: str, field: str, words: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message and field in message and words in message, message


def test_cli_refuses_a_broken_scenario_before_starting_anything(tmp_path: Path, isolated_runs: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(BAD.replace("batches: 10", "batches: -1"))
    done = run_cli("run", str(path), "--name", "never")
    assert done.returncode == 2
    assert str(path) in done.stderr and "producers[0].batches" in done.stderr
    assert not isolated_runs.exists() or not any(isolated_runs.iterdir())
