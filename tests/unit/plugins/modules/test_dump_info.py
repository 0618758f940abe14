"""The dump_info module, run by Ansible itself on a real sample and on a damaged file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
REALDATA = ROOT.parent / "shared" / "realdata" / "dumps"


def run_module(path: Path) -> dict:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    ansible = Path(sys.executable).with_name("ansible")
    run = subprocess.run([str(ansible), "localhost", "-o", "-m", "vmrepair.azure.dump_info", "-a", f"path={path}"],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    # One line: "localhost | SUCCESS => {...}" (or FAILED!).
    line = next(line for line in run.stdout.splitlines() if line.startswith("localhost |"))
    status, payload = line.split(" => ", 1)
    result = json.loads(payload)
    result["_status"] = status.split("|")[1].strip()
    return result


def test_parses_a_real_triage_dump():
    result = run_module(REALDATA / "kernel_triage_x64_win10-19041_bugcheck_1000007E.dmp")
    assert result["_status"] == "SUCCESS" and result["changed"] is False
    dump = result["dump"]
    assert dump["bugcheck_code"] == "0x1000007E"
    assert dump["interpretation"]["exception"]["name"] == "STATUS_ACCESS_VIOLATION"
    assert "owner" not in result and "mode" not in result


def test_a_live_capture_has_no_interpretation():
    dump = run_module(REALDATA / "full_dump_header16k_x64_win10-19045_dumpit_nobugcheck.bin")["dump"]
    assert dump["bugcheck_recorded"] is False and dump["interpretation"] is None


def test_a_cut_short_dump_fails_with_the_reason(tmp_path):
    cut = tmp_path / "MEMORY.DMP"
    cut.write_bytes((REALDATA / "kernel_triage_x64_win10-19041_bugcheck_1000007E.dmp").read_bytes()[:812])
    result = run_module(cut)
    assert result["_status"] == "FAILED!"
    assert result["msg"] == f"{cut}: file is 812 bytes; a 64-bit dump header needs 8192: the dump is cut short"
