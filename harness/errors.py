"""Errors a user can act on: each says what went wrong, where, and what to do."""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose; the CLI prints these without a traceback."""

    def __init__(self, message: str, *, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.detail = detail

    def __str__(self) -> str:
        parts = [self.args[0]]
        if self.detail:
            parts.append(self.detail.rstrip())
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class ConfigError(HarnessError):
    """A profile or scenario file is wrong; the message names the file and the field."""


class ArtifactError(HarnessError):
    """Java, Maven or a jar could not be found or resolved."""


class NotReadyError(HarnessError):
    """A node or the cluster did not become ready; the detail carries the tail of the log."""


class RunStateError(HarnessError):
    """A run directory is missing, busy or inconsistent."""
