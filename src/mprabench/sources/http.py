"""HTTP with retries: urllib3 retries connections and 5xx/429; this layer adds truncated bodies.

urllib3's `Retry` covers the request phase (connect errors, retryable status codes, with
backoff and Retry-After). A body that breaks off mid-stream surfaces later, while it is
read, so `HttpClient` repeats the whole request for that case only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from tqdm.auto import tqdm
from urllib3.util.retry import Retry

from mprabench.config import HttpConfig
from mprabench.errors import DownloadError

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)
_BODY_ERRORS = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
_CHUNK = 1 << 16
T = TypeVar("T")


class TruncatedBody(Exception):
    """The body ended before Content-Length bytes arrived (transient: the request is repeated)."""


@dataclass(frozen=True)
class Checksum:
    """The expected digest of a file's bytes: `algorithm` is a hashlib name (sha256, md5)."""

    algorithm: str
    hexdigest: str
    setting: str  # where it is configured, named when it does not match

    def new(self) -> Any:
        return hashlib.new(self.algorithm)


class HttpClient:
    """A requests session whose GETs retry transient failures and fail clearly on permanent ones."""

    def __init__(self, config: HttpConfig, progress: bool = True):
        self.config = config
        self.progress = progress
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=_request_retry(config))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def download(self, url: str, destination: Path, label: str, checksum: Checksum | None = None) -> None:
        """Stream `url` into `destination` (the caller makes it atomic), at most `max_bytes`,
        hashing while it streams; a body that does not match `checksum` is an error."""
        limit = self.config.max_bytes

        def read(response: requests.Response) -> None:
            expected = _content_length(response)
            if expected is not None and expected > limit:
                raise DownloadError(f"{label}: {url} announces {expected:,} bytes, more than http.max_bytes = "
                                    f"{limit:,}; nothing was written. Raise the limit if the file is right.")
            digest = checksum.new() if checksum is not None else None
            written = 0
            with open(destination, "wb") as handle, self._progress_bar(expected, label) as bar:
                for block in response.iter_content(_CHUNK):
                    written += len(block)
                    if written > limit:
                        raise DownloadError(f"{label}: the body from {url} exceeds http.max_bytes = {limit:,} bytes; "
                                            "stopped, nothing was written. Raise the limit if the file is right.")
                    handle.write(block)
                    if digest is not None:
                        digest.update(block)
                    bar.update(len(block))
            if expected is not None and written != expected:
                raise TruncatedBody(f"received {written} of {expected} bytes")
            if checksum is not None and digest.hexdigest() != checksum.hexdigest.lower():
                raise DownloadError(
                    f"{label}: {checksum.algorithm} of the {written:,} bytes from {url} is {digest.hexdigest()}, "
                    f"not {checksum.hexdigest} ({checksum.setting}). The server sent another or a cut-short file; "
                    "nothing was written. If the file really changed, update the checksum.")

        self._get(url, label, read)

    def get_json(self, url: str, label: str) -> Any:
        limit = self.config.max_bytes

        def read(response: requests.Response) -> Any:
            body = bytearray()
            for block in response.iter_content(_CHUNK):
                body += block
                if len(body) > limit:
                    raise DownloadError(f"{label}: the answer from {url} exceeds http.max_bytes = {limit:,} bytes")
            expected = _content_length(response)
            if expected is not None and len(body) != expected:
                raise TruncatedBody(f"received {len(body)} of {expected} bytes")
            try:
                return json.loads(body)
            except ValueError as error:
                raise DownloadError(f"{label}: the answer from {url} is not JSON ({error})") from None

        return self._get(url, label, read)

    def _get(self, url: str, label: str, read: Callable[[requests.Response], T]) -> T:
        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            response = self._request(url, label)
            try:
                return read(response)
            except (TruncatedBody, *_BODY_ERRORS) as error:
                if attempt == attempts:
                    raise DownloadError(
                        f"{label}: the body from {url} broke off {attempts} times ({error}). "
                        "The server or network is unstable; try again later."
                    ) from None
                log.warning("%s: body from %s broke off (%s); retrying", label, url, error)
                time.sleep(self.config.backoff_s * 2 ** (attempt - 1))
            finally:
                response.close()
        raise AssertionError("unreachable")

    def _request(self, url: str, label: str) -> requests.Response:
        try:
            response = self.session.get(url, stream=True, timeout=self.config.timeout_s)
        except requests.exceptions.RequestException as error:
            raise DownloadError(
                f"{label}: could not reach {url} after {self.config.retries} retries ({error}). "
                "Check the network, or point the config at a local copy (see README, 'Offline')."
            ) from None
        if response.status_code == 404:
            response.close()
            raise DownloadError(f"{label}: {url} does not exist (HTTP 404). Check the source URL in conf/.")
        if response.status_code >= 400:
            detail = _error_detail(response)
            response.close()
            retried = f" after {self.config.retries} retries" if response.status_code in RETRY_STATUSES else ""
            raise DownloadError(f"{label}: {url} answered HTTP {response.status_code}{retried}{detail}")
        return response

    def _progress_bar(self, total: int | None, label: str) -> tqdm:
        return tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not self.progress)


def _request_retry(config: HttpConfig) -> Retry:
    return Retry(
        total=config.retries,
        connect=config.retries,
        read=config.retries,
        status=config.retries,
        backoff_factor=config.backoff_s,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or "Content-Encoding" in response.headers:
        return None  # a transfer-encoded body's decoded size is not Content-Length
    return int(value)


def _error_detail(response: requests.Response) -> str:
    """A short server message, e.g. UCSC's JSON {"error": ...}."""
    try:
        message = response.json().get("error")
    except (ValueError, AttributeError):
        message = None
    return f": {message}" if message else ""
