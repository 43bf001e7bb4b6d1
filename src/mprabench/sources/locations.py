"""Where a configured source is: a remote http(s) URL, or a local path / `file://` URL.

A relative local path is relative to the repository root, not to the working directory:
queued and `--temp` experiments run in a copy under `.dvc/tmp/exps/`, and DVC points
DVC_ROOT at the real repository for them, so `../shared/data/X` means the same folder
on every route.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse


def is_remote(location: str) -> bool:
    return urlparse(location).scheme in ("http", "https")


# gRPC target prefixes that name a resolver (`dns:///host:port`, `ipv4:1.2.3.4:5`, `ipv6:[::1]:5`)
_GRPC_RESOLVER = re.compile(r"^(dns:(//[^/]*)?/|ipv4:|ipv6:)", re.IGNORECASE)


def is_loopback(address: str | None) -> bool:
    """True when a host:port or gRPC target names this machine (127.x, ::1, localhost, a unix socket)."""
    if not address:
        return False
    target = _GRPC_RESOLVER.sub("", str(address).strip())
    if target.lower().startswith("unix:"):
        return True
    if "://" in target:
        target = target.split("://", 1)[1]
    if target.startswith("["):
        host = target[1:].split("]", 1)[0]
    elif target.count(":") == 1:
        host = target.split(":", 1)[0]
    else:
        host = target
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def repository_root() -> Path:
    """DVC_ROOT (set by DVC for every stage, the real repository for experiment copies), else the cwd."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd())


def local_path(location: str) -> Path:
    """A `file://` URL (percent-decoded) or a plain path, as a Path; relative ones against the repository root."""
    parsed = urlparse(location)
    path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(location).expanduser()
    return path if path.is_absolute() else repository_root() / path


def main_worktree(start: Path) -> Path:
    """The main git worktree of the repository holding `start` (a linked worktree's main one)."""
    result = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
        cwd=start, capture_output=True, text=True,
    )
    if result.returncode != 0:
        return start.resolve()  # not a git checkout: the folder itself
    common = Path(result.stdout.strip())
    return common.parent if common.name == ".git" else common  # a bare repository has no worktree


def dotenv_candidates(given: Path, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where a relative .env is looked for: the working directory, the repository (DVC_ROOT: the
    user's repository also for `--temp`/`--queue` runs in copies under .dvc/tmp/exps), then the
    main worktree of a linked one. An absolute path is itself."""
    if given.is_absolute():
        return [given]
    environ = os.environ if environ is None else environ
    repository = Path(environ.get("DVC_ROOT") or Path.cwd())
    found: list[Path] = []
    for base in (Path.cwd(), repository, main_worktree(repository)):
        candidate = (base / given).absolute()
        if candidate not in found:
            found.append(candidate)
    return found


def find_dotenv(given: Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The first existing of `dotenv_candidates`, else the repository's (named in messages)."""
    if given is None:
        return None
    candidates = dotenv_candidates(given, environ)
    return next((c for c in candidates if c.is_file()), candidates[min(1, len(candidates) - 1)])
