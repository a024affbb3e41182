"""A scenario file as validated data: topics, producers, perturbations, the job, expectations.

Everything is checked before anything starts, and every problem names the file, the field and the
fix (through `harness.topology.loader.load_model`).
"""

from __future__ import annotations

import re
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.scenarios.durations import parse_duration_ms
from harness.faults.schedule import FaultSpec, check_schedule
from harness.jobs.spec import JobSpec
from harness.verify.expectations import Expectations
from harness.topology.loader import load_model
from harness.topology.model import KafkaSecurity, SecurityProtocol

_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicSpec(_Strict):
    name: str
    partitions: int = Field(default=8, ge=1, le=10_000)
    replication_factor: int | None = Field(default=None, ge=1, description="default: the profile's topic default")
    configs: dict[str, str] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _TOPIC.match(value) or value in (".", ".."):
            raise ValueError(f"{value!r} is not a legal Kafka topic name; use letters, digits, '.', '_' and '-'")
        return value


class Disorder(_Strict):
    late_fraction: float = Field(ge=0, le=1, description="fraction of records sent later than their event time says")
    max_delay: int = Field(description="how far (in event time) a late record may trail the stream, e.g. '30s'")

    @field_validator("max_delay", mode="before")
    @classmethod
    def _delay(cls, value: object) -> int:
        delay = parse_duration_ms(value)  # type: ignore[arg-type]
        if delay < 1:
            raise ValueError("max_delay must be at least 1ms, e.g. '30s'")
        return delay


class ProducerSpec(_Strict):
    name: str = "producer"
    topic: str
    generator: Literal["stock-ticker"] = "stock-ticker"
    seed: int = 1
    batches: int | None = Field(default=None, ge=1, description="ticks of the generator (one record per symbol each)")
    duration: int | None = Field(default=None, description="event-time span instead of batches, e.g. '1h'")
    interval: int = Field(default=10_000, description="event time between ticks (the sample: 10s)")
    start_time_ms: int = Field(default=1_700_000_000_000, ge=0, description="event time of the first tick (epoch ms)")
    symbols: tuple[str, ...] | None = None
    skew: dict[str, int] = Field(default={}, description="symbol -> extra records per tick, for key skew")
    rate: float | None = Field(default=None, gt=0, description="records per second; none = as fast as possible")
    time_compression: float | None = Field(
        default=None, gt=0, description="replay event time this many times faster than real time (e.g. 360: 1 h in 10 s)"
    )
    acks: Literal["all", "1", "0"] = "all"
    idempotence: bool = True
    partitioner: Literal["murmur2_random", "murmur2", "consistent_random", "random"] = "murmur2_random"
    disorder: Disorder | None = None
    duplicates: float = Field(default=0.0, ge=0, le=1, description="fraction of records sent twice")
    malformed: float = Field(default=0.0, ge=0, le=1, description="fraction of extra records whose value is not valid")
    print_deliveries: bool = Field(default=False, description="print topic, partition, offset per record, as the sample does")

    @field_validator("duration", "interval", mode="before")
    @classmethod
    def _durations(cls, value: object) -> int | None:
        return None if value is None else parse_duration_ms(value)  # type: ignore[arg-type]

    @field_validator("acks", mode="before")
    @classmethod
    def _acks(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _size(self) -> ProducerSpec:
        if (self.batches is None) == (self.duration is None):
            raise ValueError("give exactly one of `batches` (number of ticks) or `duration` (event-time span, e.g. '1h')")
        if self.interval <= 0:
            raise ValueError("interval must be positive, e.g. '10s'")
        if self.idempotence and self.acks != "all":
            raise ValueError("idempotence needs acks: all; set `idempotence: false` to use acks 1 or 0")
        if self.rate is not None and self.time_compression is not None:
            raise ValueError("give at most one of `rate` and `time_compression`")
        return self

    @property
    def tick_count(self) -> int:
        return self.batches if self.batches is not None else max(1, (self.duration or 0) // self.interval)


class Scenario(_Strict):
    name: str
    description: str = ""
    profile: str = Field(default="dev", description="topology to start when no running twin is given")
    backend: Literal["local", "docker"] | None = Field(default=None, description="backend of that twin (default: the profile's)")
    security: SecurityProtocol | KafkaSecurity | None = Field(
        default=None, description="kafka.security.protocol of that twin, or a whole kafka.security with its principals "
                                  "(default: the profile's); a twin given to the run keeps its own")
    topics: tuple[TopicSpec, ...] = Field(min_length=1)
    producers: tuple[ProducerSpec, ...] = Field(min_length=1)
    job: JobSpec = JobSpec()
    faults: tuple[FaultSpec, ...] = Field(default=(), description="faults on the replay's timeline")
    expect: Expectations = Expectations()

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        names = [t.name for t in self.topics]
        if len(set(names)) != len(names):
            raise ValueError("two topics share a name")
        for producer in self.producers:
            if producer.topic not in names:
                raise ValueError(f"producer {producer.name} writes to topic {producer.topic!r}, which is not among topics {names}")
        if len({p.topic for p in self.producers}) != 1:
            raise ValueError("all producers of a scenario write to one topic, the one the job reads")
        problems = [p for p in check_schedule(self.faults, node_names=None)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def source_topic(self) -> TopicSpec:
        return next(t for t in self.topics if t.name == self.producers[0].topic)

    def with_job(self, overrides: Mapping[str, Any]) -> Scenario:
        """This scenario with its job's fields replaced by `overrides` (a test's or a gate's own job:
        `{"application": {...}, "output": {...}}`, or `{"watermark": "10s"}`). Naming an application or
        a notebook replaces the job's kind, and a Kafka output topic the scenario does not list is added,
        for the harness to create it fresh and read it back."""
        from harness.errors import ConfigError
        from harness.topology.loader import describe_validation_error

        base = self.job.model_dump(exclude_unset=True)
        if {"application", "notebook"} & set(overrides):
            base = {k: v for k, v in base.items() if k not in ("application", "notebook", "output", "name", "source_options")}
        merged = {**base, **overrides}
        try:
            job = JobSpec.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(f"scenario {self.name}: invalid job override", detail=describe_validation_error(exc, merged)) from None
        topics = self.topics
        if job.output is not None and job.output.kafka_topic and job.output.kafka_topic not in {t.name for t in topics}:
            topics = (*topics, TopicSpec(name=job.output.kafka_topic, partitions=4))
        return self.model_copy(update={"job": job, "topics": topics})


def load_scenario(path: str | Path) -> Scenario:
    from harness.errors import ConfigError

    candidate = Path(path)
    if not candidate.exists():
        shipped = Path(__file__).resolve().parents[2] / "scenarios" / f"{path}.yaml"
        if shipped.exists():
            candidate = shipped
        else:
            raise ConfigError(f"scenario file {path} does not exist", hint="pass a path such as scenarios/stock-ticker.yaml")
    return load_model(candidate, Scenario)
