"""powershell/upload_to_blob.ps1 v1: upload a file to a block blob through a write-only SAS URL.

The same requests as the .ps1, sent for real (to the emulator's Azurite): Put Block with Content-MD5,
up to `parallel` blocks in flight, retried on 5xx/408/429/no answer (3 attempts, 1 s then 2 s or
Retry-After), then Put Block List with the whole file's SHA-256 as metadata. The file is read once,
in order, from the attached disk's VHD; at most `parallel` blocks are in memory. The SAS never
appears in the output or in an error message.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import BinaryIO
from urllib.parse import quote, urlsplit

import requests

from ..machine import Machine, count_read
from ._common import (ScriptError, ScriptRun, int_param, json_line, param, read_full, regular_file, str_param,
                      windows_path)

NAME = "upload_to_blob"
VERSION = 1
MIN_BLOCK_SIZE = 1024 * 1024
MAX_BLOCK_SIZE = 100 * 1024 * 1024
MAX_BLOCKS = 50_000
MAX_PARALLEL = 16
MAX_ATTEMPTS = 3
STORAGE_VERSION = "2021-08-06"
TIMEOUT = (30, 600)  # connect, read: HttpClient.Timeout is 10 minutes in the .ps1
_RETRYABLE = {408, 429}
_SIGNATURE = re.compile(r"sig=[^&\s'\")]*", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """The blob URL with its SAS (`full`) and without it (`plain`, the only form ever printed)."""

    full: str
    plain: str
    query: str

    def redact(self, text: str) -> str:
        text = text.replace(self.query, "") if self.query else text
        # A client library may have re-encoded the URL in its message: no signature survives either way.
        return _SIGNATURE.sub("sig=<redacted>", text)


class UploadError(Exception):
    pass


def run(machine: Machine, params: dict | None) -> ScriptRun:
    path = str_param(params, "path")
    block_size = int_param(params, "block_size")
    parallel = int_param(params, "parallel")
    blob_url = param(params, "blob_url")
    if not MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE:
        raise ScriptError(f"block_size must be between {MIN_BLOCK_SIZE} and {MAX_BLOCK_SIZE} bytes.")
    if not 1 <= parallel <= MAX_PARALLEL:
        raise ScriptError(f"parallel must be between 1 and {MAX_PARALLEL}.")
    target = parse_blob_url(blob_url)

    started = time.monotonic()
    with regular_file(machine, path) as (volume, inner, info):
        blocks = block_count(info.size, block_size)
        with volume.open(inner) as stream:
            uploader = _Uploader(target, parallel, _verify(machine))
            try:
                digest, block_hashes, retries = uploader.upload_blocks(machine, path, stream, info.size, block_size,
                                                                       blocks)
                uploader.commit(blocks, digest)
            except UploadError as exc:
                raise ScriptError(target.redact(str(exc))) from None
            finally:
                uploader.close()
    yield "stdout", json_line({"path": windows_path(path), "size": info.size, "block_size": block_size,
                               "blocks": blocks, "sha256": digest, "block_sha256": block_hashes,
                               "retries": retries, "seconds": round(time.monotonic() - started, 3)})
    return 0


def parse_blob_url(value: object) -> Target:
    """An https URL with a SAS query string (it has a signature), else the contract's error."""
    if isinstance(value, str) and "?" in value:
        parts = urlsplit(value)
        fields = [f.split("=", 1)[0].lower() for f in parts.query.split("&")]
        if parts.scheme == "https" and parts.netloc and "sig" in fields:
            question = value.index("?")
            return Target(value, value[:question], value[question:])
    raise ScriptError("blob_url must be an https URL with a SAS query string.")


def block_count(size: int, block_size: int) -> int:
    blocks = math.ceil(size / block_size)
    if blocks > MAX_BLOCKS:
        raise ScriptError(f"The file needs {blocks} blocks of {block_size} bytes; a block blob holds at most "
                          f"{MAX_BLOCKS}.")
    return blocks


def block_id(index: int) -> str:
    """Base64 of the zero-padded decimal index: every id has the same length, as the service requires."""
    return base64.b64encode(f"{index:06d}".encode("ascii")).decode("ascii")


def _verify(machine: Machine) -> str | bool:
    """The machine's trusted roots: in the emulator, the CA that issued Azurite's certificate."""
    trusted = getattr(machine, "trusted_ca_file", None)
    return str(trusted) if trusted else True


class _Uploader:
    def __init__(self, target: Target, parallel: int, verify: str | bool) -> None:
        self.target = target
        self.parallel = parallel
        self.verify = verify
        self.retries = 0
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="upload_to_blob")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _session(self) -> requests.Session:
        # One keep-alive session per worker thread; no proxies or CA bundle from our own environment.
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False
        return session

    def upload_blocks(self, machine: Machine, path: str, stream: BinaryIO, size: int, block_size: int,
                      blocks: int) -> tuple[str, list[str], int]:
        """Read the blocks in order (one whole-file hash), keep up to `parallel` Put Blocks in flight."""
        whole = hashlib.sha256()
        hashes: list[str] = []
        in_flight: set[Future[None]] = set()
        for index in range(blocks):
            if len(in_flight) >= self.parallel:
                in_flight = self._reap(in_flight, FIRST_COMPLETED)
            want = min(block_size, size - index * block_size)
            data = read_full(stream, want)
            if len(data) != want:
                raise UploadError(f"'{windows_path(path)}' ended at {index * block_size + len(data)} bytes while "
                                  "being read.")
            count_read(machine, path, len(data))
            whole.update(data)
            hashes.append(hashlib.sha256(data).hexdigest())
            in_flight.add(self._pool.submit(self._put_block, index, data))
        self._reap(in_flight, None)
        return whole.hexdigest(), hashes, self.retries

    @staticmethod
    def _reap(futures: set[Future[None]], return_when: str | None) -> set[Future[None]]:
        done, pending = wait(futures, return_when=return_when) if return_when else wait(futures)
        for future in done:
            future.result()  # the first failure stops the upload, as the .ps1's throw does
        return pending

    def _put_block(self, index: int, data: bytes) -> None:
        url = f"{self.target.full}&comp=block&blockid={quote(block_id(index), safe='')}"
        headers = {"x-ms-version": STORAGE_VERSION,
                   "Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode("ascii")}
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if attempt > 1:
                with self._lock:
                    self.retries += 1
            try:
                response = self._session().put(url, data=data, headers=headers, timeout=TIMEOUT, verify=self.verify)
            except requests.RequestException as exc:
                if attempt == MAX_ATTEMPTS:
                    raise UploadError(f"Put Block {index} failed: no answer ({_reason(exc)}) ({self.target.plain})")
                time.sleep(_delay(None, attempt))
                continue
            with response:
                if response.status_code == 201:
                    return
                if _retryable(response.status_code) and attempt < MAX_ATTEMPTS:
                    time.sleep(_delay(response, attempt))
                    continue
                raise UploadError(f"Put Block {index} failed: {response.status_code} {_error_code(response)} "
                                  f"({self.target.plain})")

    def commit(self, blocks: int, digest: str) -> None:
        body = ('<?xml version="1.0" encoding="utf-8"?><BlockList>'
                + "".join(f"<Latest>{block_id(i)}</Latest>" for i in range(blocks)) + "</BlockList>")
        headers = {"x-ms-version": STORAGE_VERSION, "Content-Type": "application/xml",
                   "x-ms-blob-content-type": "application/octet-stream", "x-ms-meta-sha256": digest}
        try:
            response = self._session().put(f"{self.target.full}&comp=blocklist", data=body.encode("ascii"),
                                           headers=headers, timeout=TIMEOUT, verify=self.verify)
        except requests.RequestException as exc:
            raise UploadError(f"Put Block List failed: no answer ({_reason(exc)}) ({self.target.plain})") from None
        with response:
            if response.status_code != 201:
                raise UploadError(f"Put Block List failed: {response.status_code} {_error_code(response)} "
                                  f"({self.target.plain})")


def _retryable(status: int) -> bool:
    return status >= 500 or status in _RETRYABLE


def _delay(response: requests.Response | None, attempt: int) -> float:
    """1 s after the first attempt, 2 s after the second, unless the service sent Retry-After
    (seconds or an HTTP date, as HttpClient's RetryConditionHeaderValue reads it)."""
    retry_after = (response.headers.get("Retry-After") or "").strip() if response is not None else ""
    if retry_after.isdigit():
        return float(retry_after)
    if retry_after:
        try:
            return max(0.0, (parsedate_to_datetime(retry_after) - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            pass
    return float(attempt)


def _error_code(response: requests.Response) -> str:
    return response.headers.get("x-ms-error-code") or response.reason


def _reason(exc: Exception) -> str:
    # requests puts the URL (with its SAS) into some messages; Target.redact strips it afterwards.
    return f"{type(exc).__name__}: {exc}"
