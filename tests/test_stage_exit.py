"""A failed stage ends with exit 1 and its one message, and Python's own exit work still happens.

The stages' entry point (`_cli.run`) ends a failed stage without the C++ teardown of native
libraries (pyarrow's thread pool sometimes aborted a stage that failed right after reading a
Parquet file: exit -6 after the correct message). These run a stage entry point in its own
process, as DVC does, and check what that exit must keep.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd

from tests.conftest import REPO

STAGE = """
import atexit, sys, threading, time
import pandas as pd
from mprabench.errors import ConfigError
from mprabench.stages._cli import run

def main():
    atexit.register(lambda: print("atexit handler ran", flush=True))
    worker = threading.Thread(target=lambda: (time.sleep(0.2), print("thread finished", flush=True)))
    worker.start()
    pd.read_parquet(sys.argv[1])  # starts pyarrow's thread pool, as evaluate's read_features does
    sys.stdout.write("buffered, unflushed output")
    raise ConfigError("evaluate.primary_features lists ['x'], which the predictions do not have")

run(main)
"""


def test_a_failed_stage_exits_1_with_its_message_after_pythons_exit_work(tmp_path):
    table = tmp_path / "features.parquet"
    pd.DataFrame({"input_sha256": ["a", "b"], "x": [0.1, 0.2]}).to_parquet(table)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop("DVC_ROOT", None)
    result = subprocess.run([sys.executable, "-c", STAGE, str(table)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stderr}"
    assert result.stderr.strip() == ("error: evaluate.primary_features lists ['x'], which the predictions "
                                     "do not have"), result.stderr
    assert "thread finished" in result.stdout, "a running Python thread is joined before the exit"
    assert "atexit handler ran" in result.stdout, "atexit handlers still run"
    assert "buffered, unflushed output" in result.stdout, "buffered output is flushed"
