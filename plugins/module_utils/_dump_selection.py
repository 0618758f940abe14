# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of the dumps on the broken OS disk to fetch, and whether each one is worth fetching.

find_dumps (powershell/find_dumps.ps1) lists the dumps CrashControl points at, with the first
bytes of each. A dump of 0 bytes, or one whose header promises more than the file holds (Windows
stopped while writing it) or is not a dump header at all, is reported with its problem and never
selected by default: fetching gigabytes to learn that would waste the operator's time.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import io
import typing as t

from ansible_collections.vmrepair.azure.plugins.module_utils._dump_header import DumpFormatError, parse_dump_stream

PREFERENCES = ("memory", "minidump", "newest")
# Kinds that hold the crash's kernel or complete memory (a dedicated dump file holds it until the
# next boot copies it to DumpFile, which a VM that never boots again never does).
MEMORY_KINDS = ("memory", "dedicated")

NO_DUMP_ADVICE = (
    "Configure crash dumps on the disk copy (the vmrepair.azure enable_crash_dump procedure: CrashControl in "
    "every ControlSet, a page file or dedicated dump file large enough, EMS on), swap it back, let the VM stop "
    "again (or send an NMI from the serial console), then collect the dump"
)


def _written(dump: dict[str, t.Any]) -> datetime.datetime:
    text = str(dump.get("last_write_time_utc") or "")
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def newest_first(dumps: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    return sorted(dumps, key=_written, reverse=True)


def assess_dump(dump: dict[str, t.Any]) -> dict[str, t.Any]:
    """The dump entry without its raw header bytes, with `usable`, `problem` and a `header` summary."""
    entry = {k: v for k, v in dump.items() if k != "header_base64"}
    entry.update(usable=True, problem=None, header=None)
    size = int(entry.get("size") or 0)
    if size == 0:
        entry.update(usable=False, problem=(
            "the file is 0 bytes: Windows created it but wrote no dump into it (the machine stopped or was "
            "reset before the dump was written)"))
        return entry
    encoded = dump.get("header_base64")
    if not encoded:
        return entry  # the caller asked for no header bytes: nothing to check before fetching
    try:
        prefix = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        entry.update(usable=False, problem="the repair VM sent header bytes that are not base64")
        return entry
    if prefix[:4] == b"MDMP":
        # A user-mode minidump's streams may lie anywhere in the file: its header is checked after the fetch.
        return entry
    try:
        parsed = parse_dump_stream(io.BytesIO(prefix), size)
    except DumpFormatError as error:
        if len(prefix) < size and "cut short" in str(error):
            return entry  # the check needed more bytes than were sent; the fetch will tell
        entry.update(usable=False, problem=f"not a usable dump: {error}")
        return entry
    entry["header"] = {key: parsed.get(key) for key in (
        "dump_type", "bugcheck_code", "bugcheck_name", "system_time", "required_dump_space", "complete")}
    if parsed.get("complete") is False:
        entry.update(usable=False, problem=(
            f"the file is {size} bytes but its header says the dump takes {parsed.get('required_dump_space')}: "
            "Windows was still writing it when the disk was copied, or the write was cut off"))
    return entry


def select_dump(dumps: list[dict[str, t.Any]], prefer: str,
                stop_code: str | None = None) -> tuple[dict[str, t.Any] | None, str]:
    """The dump to fetch and why; (None, reason) when ``prefer`` selects nothing usable.

    ``prefer``: ``memory`` (the newest usable memory or dedicated dump, else the newest usable
    minidump), ``minidump`` (the other way round), ``newest`` (the newest usable dump of any kind)
    or the Windows path of one dump. With ``stop_code``, dumps whose header records that stop code
    come first.
    """
    ordered = newest_first(dumps)
    if prefer not in PREFERENCES:
        wanted = prefer.replace("/", "\\").lower()
        for dump in ordered:
            if str(dump.get("path", "")).lower() == wanted:
                if not dump.get("usable", True):
                    return None, f"{dump['path']} cannot be used: {dump.get('problem')}"
                return dump, "the dump named by prefer"
        listed = ", ".join(d.get("path", "?") for d in ordered) or "none"
        return None, f"{prefer} is not among the dumps found ({listed})"

    usable = [d for d in ordered if d.get("usable", True)]
    if not usable:
        problems = "; ".join(f"{d.get('path')}: {d.get('problem')}" for d in ordered)
        return None, f"no dump can be used ({problems})" if ordered else "there is no dump"
    groups = {"memory": [MEMORY_KINDS, ("minidump",)], "minidump": [("minidump",), MEMORY_KINDS],
              "newest": [MEMORY_KINDS + ("minidump",)]}[prefer]
    matching = _matching_stop_code(usable, stop_code)
    picked = _pick(matching, groups) if matching else None
    note = f" recording stop code {stop_code}" if picked else ""
    if picked is None:
        picked = _pick(usable, groups)
    if picked is None:
        return None, "there is no dump"
    chosen, rank = picked
    reason = f"the newest {'dump' if prefer == 'newest' else _kind_words(groups[rank])}{note}"
    if rank:
        reason += f" (there is no usable {_kind_words(groups[0])})"
    if stop_code and not note:
        reason += f" (no usable dump records stop code {stop_code})"
    return chosen, reason


def _pick(pool: list[dict[str, t.Any]], groups: list[tuple[str, ...]]) -> tuple[dict[str, t.Any], int] | None:
    """The first dump of `pool` (newest first) of the first group of kinds that has one, and the group's rank."""
    for rank, kinds in enumerate(groups):
        chosen = next((d for d in pool if d.get("kind") in kinds), None)
        if chosen is not None:
            return chosen, rank
    return None


def _matching_stop_code(dumps: list[dict[str, t.Any]], stop_code: str | None) -> list[dict[str, t.Any]]:
    if not stop_code:
        return []
    try:
        wanted = int(stop_code, 16)
    except ValueError:
        return []
    found = []
    for dump in dumps:
        code = (dump.get("header") or {}).get("bugcheck_code")
        if code is not None and int(code, 16) == wanted:
            found.append(dump)
    return found


def _kind_words(kinds: tuple[str, ...]) -> str:
    return "memory dump" if "memory" in kinds else "minidump"


def no_dump_message(volumes: list[dict[str, t.Any]], not_found: list[dict[str, t.Any]]) -> str:
    """Why nothing was found, from what CrashControl said, and what to do."""
    reasons = []
    for volume in volumes:
        control = volume.get("crash_control") or {}
        where = volume.get("windows_dir")
        if volume.get("crash_control_error"):
            reasons.append(f"{where}: CrashControl could not be read ({volume['crash_control_error']}); the default "
                           "places were searched")
        elif control.get("crash_dump_enabled") == 0:
            reasons.append(f"{where}: crash dumps are disabled (CrashDumpEnabled = 0 in {control.get('control_set')})")
    for missing in not_found:
        reasons.append(f"{missing.get('source')} {missing.get('path')}: {missing.get('why')}")
    detail = "; ".join(reasons) if reasons else "no dump file in the places CrashControl names"
    return f"No crash dump found on the broken OS disk ({detail}). {NO_DUMP_ADVICE}"
