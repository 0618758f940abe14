# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vmrepair.azure.dump_fetch: stream a dump from the repair VM to the controller.

Runs on the controller with the task delegated to the repair VM: hash_file goes through the
host's own winrm connection; the bulk transfer goes through several extra pywinrm shells opened
with the same connection options (see module_utils/_winrm_session.py and _dump_transfer.py).
"""

from __future__ import annotations

import os
import sys
import threading
import typing as t

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.vmrepair.azure.plugins.module_utils._dump_transfer import (
    DEFAULT_CHUNK_SIZE,
    DumpTransfer,
    RemoteFile,
    ScriptRangeReader,
    TransferError,
    human_bytes,
    resolve_compression,
    resolve_dest,
    sha256_of_file,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._scripts import render_script
from ansible_collections.vmrepair.azure.plugins.module_utils._winrm_session import (
    WinrmSessionError,
    WinrmShell,
    redact,
    run_json_script,
    settings_from_connection,
)

display = Display()

ARGUMENT_SPEC = {
    "src": {"type": "str", "required": True},
    "dest": {"type": "path", "required": True},
    "streams": {"type": "int", "default": 4},
    "chunk_size": {"type": "int", "default": DEFAULT_CHUNK_SIZE},
    "compression": {"type": "str", "default": "auto", "choices": ["auto", "none", "deflate"]},
    "resume": {"type": "bool", "default": True},
    "validate_checksum": {"type": "bool", "default": True},
}


class DecileProgress:
    """Calls ``emit`` once per 10 % of the file received (thread-safe)."""

    def __init__(self, label: str, emit: t.Callable[[str], None]) -> None:
        self._label = label
        self._emit = emit
        self._next = 1
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        decile = min(10, done * 10 // total)
        with self._lock:
            if decile < self._next:
                return
            self._next = decile + 1
            self._emit(f"{self._label}: {decile * 10}% ({human_bytes(done)} of {human_bytes(total)})")


def progress_emitter(stdout_is_tty: bool) -> t.Callable[[str], None]:
    """Progress lines for a person at a terminal; only at -vv when the output goes to a log."""
    return display.display if stdout_is_tty else display.vv


class ActionModule(ActionBase):
    """See plugins/modules/dump_fetch.py for the documentation."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def _fail(self, result: dict[str, t.Any], message: str, secrets: list[str | None]) -> dict[str, t.Any]:
        result.update(failed=True, msg=redact(message, secrets))
        return result

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result["changed"] = False
        if not args["validate_checksum"]:
            return self._fail(result, "validate_checksum cannot be turned off: every chunk and the whole file are "
                                      "always verified", [])
        if getattr(self._connection, "transport", None) != "winrm" and not str(
                getattr(self._connection, "_load_name", "")).endswith("winrm"):
            return self._fail(result, "dump_fetch needs the repair VM's winrm connection (delegate_to the repair VM "
                                      "host, ansible_connection=winrm)", [])
        try:
            settings = settings_from_connection(self._connection)
        except WinrmSessionError as error:
            return self._fail(result, str(error), [])
        secrets = [settings.password]
        try:
            compression = resolve_compression(args["compression"])
            remote = RemoteFile.from_hash_output(
                run_json_script(self._connection, render_script("hash_file", {"path": args["src"]})))
            dest = resolve_dest(args["dest"], remote.path)
        except WinrmSessionError as error:
            return self._fail(result, f"cannot hash {args['src']} on the repair VM: {error}", secrets)
        except TransferError as error:
            return self._fail(result, str(error), secrets)

        result.update(src=remote.path, dest=dest, size=remote.size, remote_sha256=remote.sha256)
        parent = os.path.dirname(os.path.abspath(dest))
        if self._task.check_mode:
            same = os.path.isfile(dest) and os.path.getsize(dest) == remote.size and sha256_of_file(dest) == remote.sha256
            result.update(changed=not same, msg="check mode: nothing was transferred")
            return result
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as error:
            return self._fail(result, f"cannot create {parent}: {error.strerror}", secrets)

        emit = progress_emitter(sys.stdout.isatty())
        progress = DecileProgress(f"dump_fetch {remote.path}", emit)

        def reader_factory() -> ScriptRangeReader:
            # transfer.chunk_size, not the option: a resumed transfer keeps its manifest's chunk grid.
            return ScriptRangeReader(WinrmShell(settings), render_script, remote.path, transfer.chunk_size, compression)

        try:
            transfer = DumpTransfer(remote, dest, reader_factory, streams=args["streams"],
                                    chunk_size=args["chunk_size"], compression=compression,
                                    resume=args["resume"], progress=progress)
            outcome = transfer.run()
        except TransferError as error:
            return self._fail(result, f"dump_fetch of {remote.path}: {error}", secrets)
        except WinrmSessionError as error:
            return self._fail(result, f"dump_fetch of {remote.path}: {error}", secrets)
        if outcome.get("resume_note"):
            display.vv(f"dump_fetch {remote.path}: {outcome['resume_note']}")
        result.update(outcome)
        return result
