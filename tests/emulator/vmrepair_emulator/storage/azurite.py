"""Azurite (Microsoft's storage emulator, npm `azurite`) as the emulator's blob service.

Started over HTTPS with a certificate from the emulator's CA, on a port it picks itself
(--blobPort 0, read back from its banner), with telemetry off. SAS tokens are signed with the
well-known development account key, exactly as a storage account's keys would sign them.
Its --debug log is parsed back into request records (service "blob").
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobSasPermissions, ContainerSasPermissions, generate_blob_sas, generate_container_sas

from .accounts import DEV_ACCOUNT_KEY as ACCOUNT_KEY, DEV_ACCOUNT_NAME as ACCOUNT_NAME

EMULATOR_DIR = Path(__file__).resolve().parents[2]
_BANNER = re.compile(r"successfully listens on (https?)://([\d.]+):(\d+)")
_LINE = re.compile(r"^(?P<time>\S+)\s+(?P<rid>[0-9a-f-]{36})\s+\w+:\s+(?P<msg>.*)$")
_START = re.compile(r"^BlobStorageContextMiddleware: RequestMethod=(?P<method>\S+) RequestURL=(?P<url>\S+) "
                    r"RequestHeaders:(?P<headers>\{.*\})")
_OPERATION = re.compile(r"^DispatchMiddleware: Operation=(?P<op>\S+)")
_END = re.compile(r"^EndMiddleware: End response\. TotalTimeInMS=(?P<ms>\d+) StatusCode=(?P<status>\d+)")
_ERROR = re.compile(r'^ErrorMiddleware: .*?x-ms-error-code"?[=:]"?(?P<code>\w+)')


class AzuriteError(RuntimeError):
    pass


def find_azurite_blob() -> Path:
    """tests/emulator/node_modules (npm ci), or VMREPAIR_AZURITE_BLOB naming azurite's blob main.js."""
    override = os.environ.get("VMREPAIR_AZURITE_BLOB")
    candidates = [Path(override)] if override else []
    candidates.append(EMULATOR_DIR / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise AzuriteError("Azurite is not installed: run `npm ci` in tests/emulator (or set VMREPAIR_AZURITE_BLOB)")


class Azurite:
    """One azurite-blob child process."""

    def __init__(self, state_dir: Path, cert_path: Path, key_path: Path, ca_path: Path,
                 host: str = "127.0.0.1", accounts: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.location = self.state_dir / "azurite"
        self.debug_log = self.state_dir / "azurite-debug.log"
        self.cert_path, self.key_path, self.ca_path = Path(cert_path), Path(key_path), Path(ca_path)
        self.host = host
        self.accounts = accounts  # AZURITE_ACCOUNTS (storage/accounts.py); None: the development account only
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._records: list[dict[str, Any]] = []
        self._pending: dict[str, dict[str, Any]] = {}
        self._log_offset = 0
        self._parse_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> "Azurite":
        node = shutil.which("node")
        if node is None:
            raise AzuriteError("node is not installed (Azurite needs Node.js)")
        main = find_azurite_blob()
        self.location.mkdir(parents=True, exist_ok=True)
        stdout_path = self.state_dir / "azurite.log"
        args = [node, str(main), "--blobHost", self.host, "--blobPort", "0", "--location", str(self.location),
                "--skipApiVersionCheck", "--disableTelemetry", "--cert", str(self.cert_path), "--key",
                str(self.key_path), "--debug", str(self.debug_log)]
        env = dict(os.environ)
        env.pop("AZURITE_ACCOUNTS", None)  # only the scenario decides which accounts exist
        if self.accounts:
            env["AZURITE_ACCOUNTS"] = self.accounts
        with open(stdout_path, "wb") as out:
            # Own process group: a signal to the emulator's group does not race our orderly stop.
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=env, preexec_fn=_detach_but_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AzuriteError(f"Azurite exited with {self.process.returncode}: {stdout_path.read_text()[-2000:]}")
            match = _BANNER.search(stdout_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group(3))
                return self
            time.sleep(0.05)
        self.stop()
        raise AzuriteError(f"Azurite did not start within {timeout:.0f} s: {stdout_path.read_text()[-2000:]}")

    def stop(self, grace: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- URLs and SAS ---------------------------------------------------------------------------

    @property
    def account_url(self) -> str:
        if self.port is None:
            raise AzuriteError("Azurite is not started")
        return f"https://{self.host}:{self.port}/{ACCOUNT_NAME}"

    def blob_endpoint(self, account_name: str) -> str:
        """A storage account's blob endpoint, path style as Azurite serves it (ends with '/', as in ARM)."""
        if self.port is None:
            raise AzuriteError("Azurite is not started")
        return f"https://{self.host}:{self.port}/{account_name}/"

    @property
    def credential(self) -> dict[str, str]:
        return {"account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY}

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={self.account_url};")

    def service_client(self, account_name: str | None = None, account_key: str | None = None) -> Any:
        """A client with the account's key: the development account, or a scenario account (name and key)."""
        from azure.storage.blob import BlobServiceClient

        url = self.account_url if account_name is None else self.blob_endpoint(account_name).rstrip("/")
        credential = self.credential if account_name is None else {"account_name": account_name,
                                                                   "account_key": account_key}
        # The CA explicitly: REQUESTS_CA_BUNDLE in our own environment may name another bundle.
        return BlobServiceClient(url, credential=credential, connection_verify=str(self.ca_path), retry_total=2)

    def blob_sas_url(self, container: str, blob: str, expiry_minutes: float = 60, read: bool = True,
                     write: bool = False, create: bool = False, account_name: str | None = None,
                     account_key: str | None = None) -> str:
        """A blob SAS URL signed with the account's key (the development account unless one is named).
        `expiry_minutes` may be 0 or negative: a SAS that has already expired."""
        start = datetime.now(timezone.utc) - timedelta(minutes=5)  # clock skew, as Azure recommends
        name, key = (ACCOUNT_NAME, ACCOUNT_KEY) if account_name is None else (account_name, account_key)
        expiry = datetime.now(timezone.utc) + timedelta(minutes=expiry_minutes)
        token = generate_blob_sas(name, container, blob, account_key=key,
                                  permission=BlobSasPermissions(read=read, write=write, create=create),
                                  start=start, expiry=expiry, protocol="https")
        base = self.account_url if account_name is None else self.blob_endpoint(account_name).rstrip("/")
        return f"{base}/{container}/{blob}?{token}"

    def container_sas_url(self, container: str, expiry_minutes: float = 60, read: bool = True, write: bool = False,
                          create: bool = False, list_: bool = False) -> str:
        start = datetime.now(timezone.utc) - timedelta(minutes=5)
        token = generate_container_sas(ACCOUNT_NAME, container, account_key=ACCOUNT_KEY,
                                       permission=ContainerSasPermissions(read=read, write=write, create=create,
                                                                          list=list_),
                                       start=start, expiry=datetime.now(timezone.utc) + timedelta(minutes=expiry_minutes),
                                       protocol="https")
        return f"{self.account_url}/{container}?{token}"

    # -- what Azurite served ----------------------------------------------------------------------

    def blob_requests(self) -> list[dict[str, Any]]:
        """Every request Azurite finished, as RequestLog-like records (service "blob"), in order."""
        with self._parse_lock:
            self._parse_new_lines()
            return [dict(r) for r in self._records]

    def _parse_new_lines(self) -> None:
        if not self.debug_log.exists():
            return
        with open(self.debug_log, "rb") as handle:
            handle.seek(self._log_offset)
            data = handle.read()
        # Keep an unfinished last line for the next call.
        end = data.rfind(b"\n")
        if end < 0:
            return
        self._log_offset += end + 1
        for raw in data[:end].split(b"\n"):
            line = _LINE.match(raw.decode("utf-8", "replace").rstrip("\r"))
            if not line:
                continue
            rid, msg = line.group("rid"), line.group("msg")
            start = _START.match(msg)
            if start:
                try:
                    headers = json.loads(start.group("headers"))
                except json.JSONDecodeError:
                    headers = {}
                url = start.group("url")
                path = url.split("://", 1)[-1]
                path = path[path.find("/"):] if "/" in path else "/"
                self._pending[rid] = {"time": _epoch(line.group("time")), "service": "blob",
                                      "method": start.group("method"), "path": path,
                                      "user_agent": headers.get("user-agent"), "request_id": rid}
                continue
            record = self._pending.get(rid)
            if record is None:
                continue
            operation = _OPERATION.match(msg)
            if operation:
                record["operation"] = operation.group("op")
                continue
            error = _ERROR.search(msg)
            if error:
                record["error_code"] = error.group("code")
                continue
            end_match = _END.match(msg)
            if end_match:
                record["status"] = int(end_match.group("status"))
                record["duration_ms"] = int(end_match.group("ms"))
                record["seq"] = len(self._records)
                self._records.append(self._pending.pop(rid))


def _load_prctl() -> Any:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # looked up in the parent: the child must not import after fork
_PR_SET_PDEATHSIG = 1


def _detach_but_die_with_parent() -> None:
    """In the child: own session (our orderly SIGTERM is the only stop signal it gets), and
    PR_SET_PDEATHSIG so that even a SIGKILLed emulator leaves no Azurite behind."""
    os.setsid()
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _epoch(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()
