"""Log of every request the emulator served, kept in memory and appended to requests.jsonl.

Tests assert on it what was and was not called (ARCHITECTURE.md, "Shared objects").
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Iterable

SERVICES = ("identity", "arm", "winrm", "blob", "control", "metadata")


class RequestLog:
    """Thread-safe append-only request log.

    Each record is a dict with at least: seq (0-based position), time (epoch seconds),
    service, method, path, status; plus whatever fields the caller gives (user_agent,
    api_version, client_id, operation, winrm_action, resource_id, ...).
    """

    def __init__(self, jsonl_path: Path | None = None) -> None:
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._path = Path(jsonl_path) if jsonl_path else None
        self._file = open(self._path, "a", encoding="utf-8") if self._path else None

    def record(self, service: str, method: str, path: str, status: int, **fields: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": time.time(),
            "service": service,
            "method": method,
            "path": path,
            "status": status,
        }
        entry.update({k: v for k, v in fields.items() if v is not None})
        with self._lock:
            entry["seq"] = len(self._records)
            self._records.append(entry)
            if self._file:
                self._file.write(json.dumps(entry, default=str) + "\n")
                self._file.flush()
        return entry

    def query(self, service: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """Records with seq >= since, optionally of one service (len(log) is the next `since`)."""
        with self._lock:
            selected: Iterable[dict[str, Any]] = self._records[max(since, 0):]
            return [dict(r) for r in selected if service is None or r["service"] == service]

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def close(self) -> None:
        with self._lock:
            if self._file:
                self._file.close()
                self._file = None
