"""Errors a user can act on: each names the file (or object) and the problem in one line."""

from __future__ import annotations

from pathlib import Path


class TussFxError(Exception):
    """Base of every runtime failure the CLI reports as `error: <file>: <problem>`."""

    def __init__(self, where: str | Path, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem


class CheckpointError(TussFxError):
    """A checkpoint that is missing, unreadable, or does not match its configuration."""


class AudioReadError(TussFxError):
    """An input that is missing, empty, truncated, not audio, or holds NaN/inf samples."""


class AudioWriteError(TussFxError):
    """An output that exists already (without overwrite) or cannot be written."""


class PromptError(TussFxError):
    """A prompt name the model does not know."""
