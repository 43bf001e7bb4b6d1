"""What every stage entry point shares: argument parsing, logging and user-facing errors."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from mprabench.errors import BenchmarkError
from mprabench.workspace_lock import claim_workspace


def stage_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser with `--params`; each stage adds the paths dvc.yaml passes it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="the composed params file")
    return parser


def run(main: Callable[[], None]) -> None:
    """Run a stage; a BenchmarkError becomes one clear message and exit status 1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    try:
        claim_workspace(Path.cwd(), Path("params.yaml"))  # one DVC run per workspace at a time
        main()
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        exit_now(1)
    except OSError as error:  # a file system fault (missing input, permissions, full disk) the user can act on
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        exit_now(1)


def exit_now(code: int) -> NoReturn:
    """End a failed stage with `code` once its message is out, without the C++ teardown of native libraries.

    A stage that fails right after reading a Parquet file (evaluate: primary features missing) exits
    while pyarrow's thread pool is still winding down; the C++ static destructors run by a normal
    interpreter exit then sometimes abort the process ("terminate called without an active exception",
    exit -6 instead of 1) after the message was printed. Python's own exit work still runs: other
    threads are joined and the atexit handlers (logging, MLflow, temporary files) are called;
    only the native libraries' destructors are skipped.
    """
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def describe_os_error(error: OSError) -> str:
    """One line naming the file and what to do, instead of a traceback."""
    where = error.filename or "a file (the system did not name it)"
    if isinstance(error, FileNotFoundError):
        return f"{where}: not found. Run the stages before this one first (`dvc repro`), or check the path."
    return (
        f"{where}: {error.strerror or error}. Check the file's folder (permissions, free space) and rerun; "
        "outputs are replaced only when completely written."
    )
