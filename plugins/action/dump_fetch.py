# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vmrepair.azure.dump_fetch: stream a dump from the repair VM to the controller.

Runs on the controller with the task delegated to the repair VM: hash_file goes through the
host's own winrm connection; the bulk transfer goes through several extra pywinrm shells opened
with the same connection options (see module_utils/_winrm_session.py and _dump_transfer.py), or,
with transfer=storage, through a blob the repair VM uploads and the controller downloads
(module_utils/_blob_relay.py).
"""

from __future__ import annotations

import copy
import os
import sys
import threading
import time
import typing as t

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.vmrepair.azure.plugins.module_utils._azure_auth import AUTH_ARGUMENT_SPEC
from ansible_collections.vmrepair.azure.plugins.module_utils._azure_errors import VmrepairError
from ansible_collections.vmrepair.azure.plugins.module_utils._blob_relay import (
    DEFAULT_CONTAINER,
    MAX_BLOCK_SIZE,
    MIN_BLOCK_SIZE,
    RelayRequest,
    fetch_through_relay,
)
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
    parse_json_output,
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
    "transfer": {"type": "str", "default": "winrm", "choices": ["winrm", "storage"]},
    "storage_account": {"type": "str"},
    "storage_resource_group": {"type": "str"},
    "storage_container": {"type": "str", "default": DEFAULT_CONTAINER},
    "relay_label": {"type": "str"},
}
ARGUMENT_SPEC.update(copy.deepcopy(AUTH_ARGUMENT_SPEC))


class DecileProgress:
    """Calls ``emit`` once per 10 % of the file received, with the rate and the time left (thread-safe)."""

    def __init__(self, label: str, emit: t.Callable[[str], None], clock: t.Callable[[], float] = time.monotonic) -> None:
        self._label = label
        self._emit = emit
        self._clock = clock
        self._next = 1
        self._start: tuple[float, int] | None = None  # (time, bytes) of the first report: resumed bytes do not count
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        now = self._clock()
        decile = min(10, done * 10 // total)
        with self._lock:
            if self._start is None:
                self._start = (now, done)
            if decile < self._next:
                return
            self._next = decile + 1
            started_at, started_with = self._start
            elapsed, moved = now - started_at, done - started_with
            line = f"{self._label}: {decile * 10}% ({human_bytes(done)} of {human_bytes(total)}"
            if elapsed > 0 and moved > 0:
                rate = moved / elapsed
                line += f", {human_bytes(int(rate))}/s"
                if done < total:
                    line += f", {max(1, round((total - done) / rate))} s left"
            self._emit(line + ")")


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
        if args["transfer"] == "storage":
            return self._fetch_through_storage(result, args, settings, remote, dest, progress, secrets)

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
        result.update(outcome, transfer="winrm")
        return result

    def _fetch_through_storage(self, result: dict[str, t.Any], args: dict[str, t.Any], settings: t.Any,
                               remote: RemoteFile, dest: str, progress: t.Callable[[int, int], None],
                               secrets: list[str | None]) -> dict[str, t.Any]:
        """The repair VM uploads to a blob (write-only SAS); the controller downloads and verifies it."""
        from ansible_collections.vmrepair.azure.plugins.module_utils._azure_clients import connect

        missing = [name for name in ("storage_account", "storage_resource_group") if not args.get(name)]
        if missing:
            return self._fail(result, f"transfer=storage needs {' and '.join(missing)}", secrets)
        if not MIN_BLOCK_SIZE <= args["chunk_size"] <= MAX_BLOCK_SIZE:
            return self._fail(result, f"with transfer=storage, chunk_size (the blob's block size) must be between "
                                      f"{MIN_BLOCK_SIZE} and {MAX_BLOCK_SIZE} bytes", secrets)
        if self._already_there(dest, remote):
            result.update(changed=False, transfer="storage", sha256=remote.sha256, checksum_match=True,
                          bytes_received=0, msg="dest already holds this file (same size and SHA-256): nothing sent")
            return result
        clients = None
        try:
            clients = connect({k: args.get(k) for k in AUTH_ARGUMENT_SPEC}, os.environ)
            secrets = secrets + clients.secrets
            request = RelayRequest(
                resource_group=args["storage_resource_group"], account=args["storage_account"],
                container=args["storage_container"], block_size=args["chunk_size"], streams=args["streams"],
                resume=args["resume"],
                label=args.get("relay_label") or settings.endpoint.split("//")[-1].split(":")[0])

            def upload(params: dict[str, t.Any]) -> t.Any:
                with WinrmShell(settings) as shell:
                    return parse_json_output(b"\n".join(shell.stream_lines(render_script("upload_to_blob", params))))

            outcome = fetch_through_relay(clients, request, remote, dest, upload, progress, secrets)
        except (TransferError, WinrmSessionError, VmrepairError) as error:
            return self._fail(result, f"dump_fetch of {remote.path} through storage: {error}", secrets)
        finally:
            if clients is not None:
                clients.close()
        result.update(outcome)
        return result

    @staticmethod
    def _already_there(dest: str, remote: RemoteFile) -> bool:
        return os.path.isfile(dest) and os.path.getsize(dest) == remote.size and sha256_of_file(dest) == remote.sha256
