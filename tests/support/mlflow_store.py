"""An empty MLflow tracking store (sqlite), created once per test process and copied where a test needs one.

MLflow builds a new sqlite store by running its ~50 schema migrations, about a second each time; the
suite's repository copies and report tests would pay it in every one. Creating a store from nothing is
still tested: tests/test_tracking.py's report run on a repository without mlflow.db.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path


@functools.cache
def _empty_store() -> Path:
    from mlflow.tracking import MlflowClient

    path = Path(tempfile.mkdtemp(prefix="mprabench-mlflow-")) / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # creates the tables
    return path


def empty_store(path: Path) -> str:
    """Copy the empty store to `path`; its tracking URI."""
    shutil.copyfile(_empty_store(), path)
    return f"sqlite:///{path}"
