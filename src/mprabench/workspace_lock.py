"""One DVC run per workspace at a time: a second `dvc exp run` / `dvc repro` stops at once.

DVC takes no lock that would stop a second `dvc exp run` in the same workspace: its repository
lock is released while a stage's command runs, and before running any stage the second run
stashes the workspace, composes its own params.yaml (Hydra) and checks its experiment out into
the workspace. So two runs at once mix their settings (issue 22: the first ran with the second's
seed). Three guards, each set up by `claim_workspace`, which every stage run by DVC calls first:

1. The first stage of a run records its `dvc` process (pid and start time) and the bytes of
   params.yaml it started with in `.dvc/tmp/mprabench-run.json`.
2. It also marks DVC's own experiments lock (`.dvc/tmp/exps/rwlock`, the one `dvc exp run` takes
   before it stashes the workspace) as read by that `dvc` process, so DVC itself refuses a second
   `dvc exp run` at once, before touching a file, naming the run that holds the workspace. The
   same refusal meets `dvc exp run --temp` / `--queue` while a workspace run lasts: submitting
   them stashes and resets the workspace too. A small watcher process removes the mark as soon
   as the `dvc` process has exited (DVC would otherwise drop it itself, with a warning).
3. A stage of another, still running `dvc` process (e.g. a second `dvc repro`, which takes no
   experiments lock) stops with a message, after putting params.yaml back to the bytes the
   running run started with if it changed; and a later stage of the running run stops if
   params.yaml differs from what it started with.

Queued and `--temp` runs execute in their own copies (own `.dvc/tmp/`), so their stages are
unaffected.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from mprabench.errors import BenchmarkError
from mprabench.files import atomic_path, write_json_atomic

LOCK_FILE = Path(".dvc") / "tmp" / "mprabench-run.json"
# DVC's experiments lock (dvc.repo.experiments.utils.get_exp_rwlock: `<repo>/.dvc/tmp/exps`) and the
# path in it that `dvc exp run` (workspace, --temp, --queue) write-locks before it stashes the workspace.
DVC_EXPERIMENTS_LOCK_DIR = Path(".dvc") / "tmp" / "exps"
DVC_WORKSPACE_PATH = "workspace"
WATCH_INTERVAL_S = 0.1
HOLDER_NOTE = ("[mprabench: one DVC run per workspace at a time; wait for it to finish, or run in another clone. "
               "`--queue`/`--temp` stash the workspace to submit, so they wait too]")

log = logging.getLogger(__name__)


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
        content = params.read_bytes() if params.is_file() else b""
        digest = hashlib.sha256(content).hexdigest()
        if holder is not None and holder.get("pid") != me.pid and _alive(holder):
            restored = _restore_params(params, holder, digest)
            raise WorkspaceBusy(
                f"another DVC run (pid {holder['pid']}, `{holder.get('command', 'dvc')}`) is running in this "
                f"workspace ({workspace}); two runs at once would mix their settings. "
                + (f"{params} was put back to that run's settings. " if restored else "")
                + "Wait for it to finish, then rerun this one; to run several at once, queue them "
                "(`dvc exp run --queue ...`, then `dvc queue start -j 2`): queued runs use their own copies."
            )
        if holder is not None and holder.get("pid") == me.pid and holder.get("started") == me.started:
            if holder.get("params_sha256") != digest:
                raise WorkspaceBusy(
                    f"{params} changed while this run was running (another `dvc exp run` in this workspace?); "
                    "its stages would mix two settings. Rerun once no other run is going.")
            return
        command = _command(me.pid)
        if _is_repository_root(workspace, environ):  # not a --temp / queued copy under .dvc/tmp/exps
            hold_dvc_workspace(workspace / DVC_EXPERIMENTS_LOCK_DIR, me, command)
        write_json_atomic(lock, {"pid": me.pid, "started": me.started, "params_sha256": digest,
                                 "params_base64": base64.b64encode(content).decode("ascii"), "command": command})


def _restore_params(params: Path, holder: Mapping, digest: str) -> bool:
    """Put params.yaml back to the bytes the holding run started with, if it changed; True if it did."""
    if digest == holder.get("params_sha256") or not isinstance(holder.get("params_base64"), str):
        return False
    content = base64.b64decode(holder["params_base64"])
    if hashlib.sha256(content).hexdigest() != holder.get("params_sha256"):
        return False  # a damaged record: never write bytes the holder did not start with
    with atomic_path(params) as temporary:
        temporary.write_bytes(content)
    return True


def _is_repository_root(workspace: Path, environ: Mapping[str, str]) -> bool:
    """True when the stage runs in the repository DVC_ROOT names (a workspace run or `dvc repro`);
    a `--temp` or queued run runs in a copy while DVC_ROOT names the repository it came from."""
    try:
        return Path(environ["DVC_ROOT"]).resolve() == workspace.resolve()
    except OSError:
        return False


def hold_dvc_workspace(lock_dir: Path, holder: DvcProcess, command: str) -> None:
    """Mark DVC's experiments lock as read by the holding `dvc` process, and start a watcher that
    removes the mark once that process has exited.

    DVC checks this lock before it stashes the workspace for `dvc exp run` and, finding a live reader
    of "workspace", stops at once naming it (DVC's own "'workspace' is busy" message). The mark names the
    `dvc` process, not the watcher, so the workspace is free the moment the run ends.
    """
    info = {"pid": holder.pid, "cmd": f"{command} {HOLDER_NOTE}"}
    try:
        with _dvc_experiments_lock(lock_dir) as rwlock:
            readers = rwlock["read"][DVC_WORKSPACE_PATH]
            if info not in readers:
                readers.append(info)
        subprocess.Popen(
            [sys.executable, "-m", "mprabench.workspace_lock", "release", str(lock_dir), json.dumps(info),
             holder.started],
            start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True)
    except Exception as error:  # noqa: BLE001 - guards 1 and 3 still hold; say what is missing
        log.warning("could not mark DVC's experiments lock %s (%s): a second `dvc exp run` in this workspace will "
                    "be stopped at its first stage instead of at once", lock_dir / "rwlock", error)


def release_when_gone(lock_dir: Path, info: Mapping, started: str, interval: float = WATCH_INTERVAL_S) -> None:
    """Wait for the `dvc` process `info` names to exit, then remove its mark from DVC's experiments lock."""
    while _running(int(info["pid"]), started):
        time.sleep(interval)
    with _dvc_experiments_lock(lock_dir) as rwlock:
        readers = rwlock["read"].get(DVC_WORKSPACE_PATH, [])
        if info in readers:
            readers.remove(info)
        if not readers:
            rwlock["read"].pop(DVC_WORKSPACE_PATH, None)
        if not rwlock["read"]:
            del rwlock["read"]


@contextlib.contextmanager
def _dvc_experiments_lock(lock_dir: Path) -> Iterator[dict]:
    """DVC's rwlock file, read and written back under DVC's own guard (the format is DVC's)."""
    from dvc.fs import localfs
    from dvc.rwlock import _edit_rwlock  # DVC's reader/writer of this file; no public API edits it

    lock_dir.mkdir(parents=True, exist_ok=True)
    with _edit_rwlock(str(lock_dir), localfs, False) as rwlock:
        yield rwlock


def _running(pid: int, started: str) -> bool:
    """The process is alive (not a zombie) and is the one that started at `started`."""
    fields = _stat_fields(pid)
    return bool(fields) and len(fields) > 19 and fields[19] == started and fields[0] != "Z"


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


def main(argv: list[str] | None = None) -> None:
    """`python -m mprabench.workspace_lock release LOCK_DIR INFO STARTED`: the watcher `hold_dvc_workspace` starts."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("action", choices=["release"])
    parser.add_argument("lock_dir", type=Path)
    parser.add_argument("info", type=json.loads)
    parser.add_argument("started")
    args = parser.parse_args(argv)
    release_when_gone(args.lock_dir, args.info, args.started)


if __name__ == "__main__":
    main()
