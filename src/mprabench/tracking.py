"""MLflow logging: one run per pipeline run, made by the report stage only.

The tracking location is MLFLOW_TRACKING_URI when set, otherwise an absolute
`sqlite:///<repository root>/<local_store>`; the repository root is DVC_ROOT when DVC
sets it, because queued and `--temp` experiments run in a temporary copy whose files
vanish. Only params.yaml values are logged as params: secrets never enter it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from mprabench.errors import BenchmarkError

log = logging.getLogger(__name__)
T = TypeVar("T")


class _WithoutTraceback(logging.Filter):
    """Keeps a record's message, drops its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


# MLflow logs a database error (an immutable or read-only mlflow.db) with its whole traceback before
# raising it; `guarded` turns the error into one line naming the URI, so the log keeps only MLflow's message.
logging.getLogger("mlflow.store.db.utils").addFilter(_WithoutTraceback())

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
LOCAL_ARTIFACTS = "mlartifacts"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
NOTE_TAG = "mlflow.note.content"  # the run description shown on the run page
HOST_TAG, PID_TAG = "mprabench.host", "mprabench.pid"  # which process holds a RUNNING run


class TrackingError(BenchmarkError):
    """MLflow failed (server down, refused, damaged local store); the text names the URI without
    credentials. `what` is the step that failed, short enough for the report."""

    def __init__(self, message: str, what: str = "tracking"):
        super().__init__(message)
        self.what = what


def tracking_uri(root: Path, local_store: str) -> str:
    configured = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    return configured or f"sqlite:///{root / local_store}"


def displayed_uri(uri: str) -> str:
    """A tracking URI fit to print or commit: any user:password@ part removed."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def redact(text: str, uri: str) -> str:
    """`text` with the URI's credentials removed, wherever they appear (raw or percent-decoded)."""
    text = text.replace(uri, displayed_uri(uri))
    parts = urlsplit(uri)
    secrets = {parts.password, parts.username if parts.password is None else None}
    userinfo = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else None
    for secret in sorted(filter(None, {*secrets, userinfo}), key=len, reverse=True):
        for form in {secret, unquote(secret)}:
            text = text.replace(form, "***")
    return text


def bound_requests(timeout_s: int, max_retries: int, backoff_factor: int) -> None:
    """Bound MLflow's HTTP requests (its defaults wait about 4 minutes, then 2 minutes per request)."""
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(timeout_s)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(max_retries)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = str(backoff_factor)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] = "0.5"


def flatten(data: Any, prefix: str = "", *, lists: bool = True) -> dict[str, Any]:
    """Nested mappings as dotted keys (`dataset.files.0.sha256`); lists too, by index, unless `lists` is
    False (then a list is one value, as a report table shows it)."""
    if isinstance(data, Mapping):
        items: Iterable[tuple[Any, Any]] = data.items()
    elif isinstance(data, list) and lists:
        items = enumerate(data)
    else:
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat |= flatten(value, f"{prefix}.{key}" if prefix else str(key), lists=lists)
    return flat


def as_params(params: Mapping[str, Any]) -> dict[str, str]:
    return {key: _text(value)[:MAX_PARAM_LENGTH] for key, value in flatten(params).items()}


def as_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Numeric leaves only; None (not estimable) is left out, booleans become 0/1."""
    numeric = {}
    for key, value in flatten(metrics).items():
        if isinstance(value, (int, float)):  # bool is an int: True -> 1.0
            numeric[key] = float(value)
    return numeric


def headline_metrics(groups: Sequence[tuple[str, Mapping[str, Any] | None]], limit: int) -> tuple[dict[str, float], int]:
    """The numeric leaves of each (prefix, data) group in order, at most `limit` in total.

    Groups come headline first, so a run always shows the headline; returns the metrics and how
    many leaves were left out (they stay in the run's JSON artifacts).
    """
    selected: dict[str, float] = {}
    omitted = 0
    for prefix, data in groups:
        for key, value in as_metrics(data or {}).items():
            if len(selected) < limit:
                selected[f"{prefix}.{key}"] = value
            else:
                omitted += 1
    return selected, omitted


def git_commit(root: Path) -> str:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


EXPERIMENT_REF_PREFIX = "refs/exps"  # where DVC keeps experiment commits: refs/exps/ab/cdef.../<name>


def experiment_ref(baseline: str, name: str) -> str:
    """The git ref DVC gives an experiment's commit (its own commit exists only after the run)."""
    return f"{EXPERIMENT_REF_PREFIX}/{baseline[:2]}/{baseline[2:]}/{name}"


def commit_tags(root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The code a run used. Under `dvc exp run` (DVC sets DVC_EXP_BASELINE_REV and DVC_EXP_NAME)
    the experiment's own commit is made after the run, so the run records its baseline commit
    and the experiment's ref (`git rev-parse <ref>` gives the commit); `git_commit` is left out
    rather than holding the baseline. Otherwise (`dvc repro`) `git_commit` is HEAD."""
    environ = os.environ if environ is None else environ
    baseline, name = environ.get("DVC_EXP_BASELINE_REV", ""), environ.get("DVC_EXP_NAME", "")
    tags = {"dvc_exp_name": name} if name else {}
    if baseline and name:
        return tags | {"git_baseline_commit": baseline, "dvc_exp_ref": experiment_ref(baseline, name)}
    return tags | {"git_commit": git_commit(root)}


def predictor_tags(provenance: Mapping[str, Any] | None) -> dict[str, str]:
    """The prediction store key and the source of the predictions (from provenance.json)."""
    if not provenance:
        return {}
    return {"predictor.store_key": _text(provenance.get("store_key")),
            "predictor.source": _text(provenance.get("source"))}


class TrackedRun:
    """An open MLflow run: params, metrics, tags and files go to it; any MLflow failure is a
    `TrackingError` whose text carries no credentials."""

    def __init__(self, mlflow: Any, run_id: str, uri: str, raw_uri: str):
        self._mlflow = mlflow
        self.run_id = run_id
        self.tracking_uri = uri
        self._raw_uri = raw_uri

    def _call(self, what: str, action: Callable[[], T]) -> T:
        return guarded(what, self._raw_uri, action)

    def log(self, params: Mapping[str, Any], metrics: Mapping[str, float], tags: Mapping[str, str]) -> None:
        """Params as flat strings, metrics as given (already selected and ordered), tags."""
        self._call("logging params", lambda: self._mlflow.log_params(as_params(params)))
        self._call("logging metrics", lambda: self._mlflow.log_metrics(dict(metrics)))
        self._call("setting tags", lambda: self._mlflow.set_tags(dict(tags)))

    def log_files(self, folder: str | None, paths: Iterable[Path]) -> None:
        for path in paths:
            self._call(f"logging {path.name}", lambda p=path: self._mlflow.log_artifact(str(p), artifact_path=folder))

    def log_text(self, text: str, artifact_file: str) -> None:
        self._call(f"logging {artifact_file}", lambda: self._mlflow.log_text(text, artifact_file))


def guarded(what: str, uri: str, action: Callable[[], T]) -> T:
    """Run one MLflow call; any failure becomes a `TrackingError` naming the URI without credentials."""
    try:
        return action()
    except Exception as error:  # noqa: BLE001 - MLflow raises MlflowException, sqlalchemy, requests, OSError ...
        detail = redact(f"{type(error).__name__}: {error}", uri).strip().splitlines()
        short = " ".join(detail[:3])[:600]
        raise TrackingError(f"MLflow at {displayed_uri(uri)}: {what} failed ({short})", what) from None


@contextlib.contextmanager
def mlflow_run(root: Path, local_store: str, experiment_name: str, run_name: str,
               experiment_kind: str | None = None) -> Iterator[TrackedRun]:
    """One MLflow run; it ends FINISHED, or FAILED if the block raises or SIGTERM arrives.

    `experiment_kind` is set as the experiment's `mlflow.experimentKind` tag (MLflow 3 opens an
    untagged experiment on its GenAI traces page; `custom_model_development` opens the runs).
    Runs left RUNNING by a report process of this host that no longer exists (killed) are marked
    FAILED first. Every MLflow failure is a `TrackingError` (see `guarded`).
    """
    import mlflow  # slow to import; only the report stage needs it

    uri = tracking_uri(root, local_store)
    guarded("setting the tracking URI", uri, lambda: mlflow.set_tracking_uri(uri))
    experiment_id = guarded("finding the experiment", uri, lambda: _experiment_id(mlflow, experiment_name, uri, root))
    client = mlflow.MlflowClient(tracking_uri=uri)
    if experiment_kind:
        guarded("tagging the experiment", uri,
                lambda: client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, experiment_kind))
    guarded("closing runs of killed reports", uri, lambda: _fail_orphaned_runs(client, experiment_id))
    active = guarded("starting a run", uri, lambda: mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name,
        tags={HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}))
    run_id = active.info.run_id
    status = "FAILED"
    with _sigterm_as_exit():
        try:
            yield TrackedRun(mlflow, run_id, displayed_uri(uri), uri)  # printed in report.md
            status = "FINISHED"
        finally:
            try:
                guarded("ending the run", uri, lambda: mlflow.end_run(status))
            except TrackingError:
                if status == "FINISHED":
                    raise
    log.info("MLflow run %s logged to %s", run_id, displayed_uri(uri))


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (`kill`, a stopped DVC run) unwinds like Ctrl-C, so the run is ended FAILED."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail_orphaned_runs(client: Any, experiment_id: str) -> None:
    """Mark FAILED the RUNNING runs whose report process (on this host) is gone: a `kill -9`."""
    host = socket.gethostname()
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=200):
        tags = run.data.tags
        if tags.get(HOST_TAG) != host or not str(tags.get(PID_TAG, "")).isdigit():
            continue  # another machine's run, or one from before these tags: not ours to judge
        if not _process_alive(int(tags[PID_TAG])):
            client.set_tag(run.info.run_id, "mprabench.ended", "marked FAILED: its report process had died")
            client.set_terminated(run.info.run_id, "FAILED")
            log.warning("MLflow run %s was left RUNNING by a killed report; marked FAILED", run.info.run_id)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _experiment_id(mlflow: Any, name: str, uri: str, root: Path) -> str:
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    # A local store keeps its artifacts beside it, not in the (possibly temporary) working copy.
    location = (root / LOCAL_ARTIFACTS).as_uri() if uri.startswith("sqlite:") else None
    return mlflow.create_experiment(name, artifact_location=location)


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
