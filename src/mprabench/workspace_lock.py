"""One DVC run per workspace at a time: a second `dvc exp run` / `dvc repro` stops at once.

DVC rewrites params.yaml for `dvc exp run -S ...` before it runs any stage and takes no lock
that would stop a second run in the same workspace, so two runs at once mix their settings.
Every stage run by DVC calls `claim_workspace` first: the first stage of a run records its
`dvc` process (pid and start time) and the SHA-256 of params.yaml in `.dvc/tmp/`; a stage of
another, still running `dvc` process stops with a message, and a later stage of the same run
stops if params.yaml changed under it. Queued and `--temp` runs execute in their own copies
(own `.dvc/tmp/`), so they are unaffected.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from mprabench.errors import BenchmarkError
from mprabench.files import write_json_atomic

LOCK_FILE = Path(".dvc") / "tmp" / "mprabench-run.json"


class WorkspaceBusy(BenchmarkError):
    """Another DVC run holds this workspace, or params.yaml changed during this run."""


@dataclass(frozen=True)
class DvcProcess:
    pid: int
    started: str  # the kernel's start time of the process (tells a reused pid apart)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields after the command name (which may hold spaces)


def process_start(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None  # field 22 of /proc/pid/stat


def dvc_ancestor(pid: int | None = None) -> DvcProcess | None:
    """The nearest ancestor process running DVC (a `dvc` executable or `python -m dvc`)."""
    pid = os.getppid() if pid is None else pid
    for _ in range(16):
        if pid <= 1:
            return None
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        words = [Path(a.decode(errors="replace")).name for a in argv[:3]]
        if "dvc" in words or (len(words) > 2 and words[1] == "-m" and words[2] == "dvc"):
            started = process_start(pid)
            return DvcProcess(pid, started) if started else None
        fields = _stat_fields(pid)
        if not fields:
            return None
        pid = int(fields[1])  # the parent
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def claim_workspace(workspace: Path, params: Path, environ: Mapping[str, str] | None = None) -> None:
    """Record this DVC run as the workspace's, or stop if another live run holds it."""
    environ = os.environ if environ is None else environ
    if "DVC_ROOT" not in environ:
        return  # not run by DVC: nothing else can rewrite params.yaml under us
    me = dvc_ancestor()
    if me is None:
        return
    lock = workspace / LOCK_FILE
    with _exclusive(lock.with_suffix(".lock")):
        holder = _read(lock)
        digest = _sha256(params)
        if holder is not None and holder.get("pid") != me.pid and _alive(holder):
            raise WorkspaceBusy(
                f"another DVC run (pid {holder['pid']}, `{holder.get('command', 'dvc')}`) is running in this "
                f"workspace ({workspace}); two runs at once would mix their settings. Wait for it to finish, or "
                "queue this one: `dvc exp run --queue ...` then `dvc queue start` (queued runs use their own copy)."
            )
        if holder is not None and holder.get("pid") == me.pid and holder.get("started") == me.started:
            if holder.get("params_sha256") != digest:
                raise WorkspaceBusy(
                    f"{params} changed while this run was running (another `dvc exp run` in this workspace?); "
                    "its stages would mix two settings. Rerun once no other run is going.")
            return
        write_json_atomic(lock, {"pid": me.pid, "started": me.started, "params_sha256": digest,
                                 "command": _command(me.pid)})


def _read(lock: Path) -> dict | None:
    try:
        data = json.loads(lock.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(holder: Mapping) -> bool:
    pid = holder.get("pid")
    return isinstance(pid, int) and process_start(pid) == holder.get("started")


def _command(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "dvc"
    words = [a.decode(errors="replace") for a in argv if a]
    start = next((i for i, w in enumerate(words) if Path(w).name == "dvc"), 0)
    return " ".join(words[start:])[:200]


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)
