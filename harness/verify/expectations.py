"""A scenario's `expect:` as validated data: the bounds the run's checkers hold the history to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Expectations(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    malformed: int | None = Field(default=None, ge=0, description="exact count of malformed records the job must report")
    min_windows: int | None = Field(default=None, ge=0, description="at least this many result rows")
    max_lost: int | None = Field(default=0, ge=0, description="acknowledged records that may be missing from Kafka (none: not checked)")
    max_duplicated: int | None = Field(default=0, ge=0, description="records Kafka may hold more often than they were acknowledged")
    max_late_records: int | None = Field(
        default=None, ge=0,
        description="at most this many records may be dropped by the watermark (0: a watermark too tight for the data fails the run)",
    )
