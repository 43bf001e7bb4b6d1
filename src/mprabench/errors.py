"""Errors a user can act on: stage entry points print these without a traceback."""

from __future__ import annotations


class BenchmarkError(Exception):
    """A failure whose message says what went wrong and what to do about it."""


class ConfigError(BenchmarkError):
    """params.yaml (or an override) is missing a value, has an unknown key or a wrong type."""


class InputDataError(BenchmarkError):
    """An input file or record does not meet the protocol (names the file, line or record)."""


class DownloadError(BenchmarkError):
    """A download failed permanently (names the file and URL)."""


class OutputError(BenchmarkError):
    """An output cannot be written (names the path); the stage stops before any output is replaced."""
