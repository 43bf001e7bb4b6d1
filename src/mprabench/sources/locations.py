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
