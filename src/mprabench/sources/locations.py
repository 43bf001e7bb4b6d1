"""Where a configured source is: a remote http(s) URL, or a local path / `file://` URL.

A relative local path is relative to the repository root, not to the working directory:
queued and `--temp` experiments run in a copy under `.dvc/tmp/exps/`, and DVC points
DVC_ROOT at the real repository for them, so `../shared/data/X` means the same folder
on every route.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse


def is_remote(location: str) -> bool:
    return urlparse(location).scheme in ("http", "https")


def repository_root() -> Path:
    """DVC_ROOT (set by DVC for every stage, the real repository for experiment copies), else the cwd."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd())


def local_path(location: str) -> Path:
    """A `file://` URL (percent-decoded) or a plain path, as a Path; relative ones against the repository root."""
    parsed = urlparse(location)
    path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(location).expanduser()
    return path if path.is_absolute() else repository_root() / path
