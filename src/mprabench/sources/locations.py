"""Where a configured source is: a remote http(s) URL, or a local path / `file://` URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse


def is_remote(location: str) -> bool:
    return urlparse(location).scheme in ("http", "https")


def local_path(location: str) -> Path:
    """A `file://` URL (percent-decoded) or a plain path, as a Path."""
    parsed = urlparse(location)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(location)
