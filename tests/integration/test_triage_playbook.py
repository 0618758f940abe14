"""The triage playbook (vmrepair.azure.triage), through the real ansible-playbook, against the emulator.

It only reads Azure, never fails the run for one VM, and writes a report per VM and a fleet report grouped
by stop code and status. Expected outcomes come from the scenario files (what each VM really is), not from
a previous run."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from triage_helpers import (PLAYBOOK, READ_POST, fleet_groups, fleet_picks, load_scenario, marks, scenario_vm,
                            write_inventory, writes)


def stop_code_style(html: str) -> str:
    """How the per-VM report shows the stop code: confirmed, likely, uncertain, past or none."""
    return re.search(r'class="stopcode stopcode-(\w+)"', html).group(1)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_fleet_consistent(out: Path, hosts: list[str]) -> dict:
    """The fleet report lists every host exactly once, in the group its own report says, with true counts."""
    fleet = json.loads((out / "fleet-report.json").read_text())
    assert fleet["schema_version"] == 1 and fleet["kind"] == "fleet_triage"
    listed = [v["id"] for g in fleet["groups"] for v in g["vms"]]
    assert sorted(listed) == sorted(hosts)
    assert fleet["total"] == len(hosts) == sum(g["count"] for g in fleet["groups"])
    assert sum(fleet["counts"]["by_status"].values()) == len(hosts)
    for group in fleet["groups"]:
        assert group["count"] == len(group["vms"])
        for row in group["vms"]:
            report = json.loads((out / row["id"] / "report.json").read_text())
            assert row["status"] == report["status"]
            if report["status"] == "stop_screen":
                assert group["key"] == "stop_code:" + report["vm"]["stop_code"]["code"]
                assert group["title"].startswith(report["vm"]["stop_code"]["code"])
            else:
                assert group["key"] == report["status"]
            assert (out / row["report_html"]).is_file()
    return fleet


def check_report_basics(report_file: Path) -> dict:
    text = report_file.read_text()
    report = json.loads(text)
    assert report["schema_version"] == 1 and report["kind"] == "triage"
    assert not re.search(r"<[a-zA-Z/!]", text), "HTML in the JSON report"
    for key in ("status", "error", "vm", "files", "timings", "azure_resources", "next_steps", "generated_at"):
        assert key in report
    assert report["azure_resources"]["created"] == [] and report["azure_resources"]["deleted"] == []
    timings = report["timings"]
    assert timings["started"] <= timings["ended"] and timings["seconds"] >= 0
    assert [s["step"] for s in timings["steps"]] == ["boot_diagnostics"]
    return report


def test_one_vm_reads_only_and_writes_both_reports(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("c21a-with-dump")
    truth = scenario_vm("c21a-with-dump", "web-01")
    since = marks(emulator)
    run = run_playbook(emulator, PLAYBOOK, "-e", "vm_name=web-01", "-e", "resource_group=prod-rg")
    assert run.returncode == 0, run.output[-6000:]

    # Azure was read, nothing else: the boot-diagnostics links were asked for, nothing was written.
    operations = [r.get("operation") for r in emulator.requests("arm")[since["arm"]:]]
    assert READ_POST in operations
    assert writes(emulator, since) == []

    out = tmp_path / "out"
    vm_dir = out / "web-01"
    report = check_report_basics(vm_dir / "report.json")
    assert report["status"] == "stop_screen" and report["error"] is None
    stop_code = report["vm"]["stop_code"]
    assert stop_code["code"].lower() == truth["stop_code"].lower()
    assert (stop_code["source"], stop_code["confidence"]) == ("serial_log_ems", "certain")
    assert report["next_steps"] and any("vmrepair.azure.collect_dump" in s for s in report["next_steps"])

    # Every file the report names is there, with the size and hash it says.
    files = {f["kind"]: f for f in report["files"]}
    assert set(files) == {"serial_log", "screenshot", "screenshot_png", "screenshot_thumbnail"}
    for entry in files.values():
        path = Path(entry["path"])
        assert path.parent == vm_dir
        assert path.stat().st_size == entry["size"] and sha256_of(path) == entry["sha256"]
    assert Path(files["screenshot"]["path"]).read_bytes()[:2] == b"BM"
    with Image.open(files["screenshot_png"]["path"]) as png, Image.open(files["screenshot"]["path"]) as bmp:
        assert png.format == "PNG" and png.size == bmp.size
    with Image.open(files["screenshot_thumbnail"]["path"]) as thumb:
        assert thumb.format == "PNG" and thumb.size[0] == 240

    html = (vm_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and stop_code_style(html) == "confirmed"
    assert truth["stop_code"] in html and "triage only reads" in html

    check_fleet_consistent(out, ["web-01"])
    assert fleet_groups(out) == {"stop_code:" + truth["stop_code"]: ["web-01"]}
    # The SAS links are secrets: not in the output, not in any report.
    everything = run.output + "".join(p.read_text() for p in out.rglob("report.*")) + (out / "fleet-report.json").read_text()
    assert "sig=" not in everything and emulator.env["AZURE_SECRET"] not in everything


def test_check_mode_writes_nothing_anywhere(emulator_for, run_playbook, tmp_path):
    emulator = emulator_for("c21a-with-dump")
    since = marks(emulator)
    run = run_playbook(emulator, PLAYBOOK, "--check", "-e", "vm_name=web-01", "-e", "resource_group=prod-rg")
    assert run.returncode == 0, run.output[-6000:]
    assert writes(emulator, since) == []
    out = tmp_path / "out"
    assert not out.exists() or not any(out.rglob("*"))
    # It still says what it found.
    assert "web-01: stop_screen: 0xC000021A STATUS_SYSTEM_PROCESS_TERMINATED" in run.stdout
    assert "not written (check mode)" in run.stdout


def expected_status(vm: dict) -> str:
    """What a VM of a plain scenario is, from its scenario entry."""
    if vm["os_type"] != "Windows":
        return "not_windows"
    if vm["boot_diagnostics"] == "disabled":
        return "unknown"
    return "stop_screen" if vm["stop_code"] else "no_stop_screen"


@pytest.mark.parametrize(("scenario", "vm_name", "group"), [
    ("bootdiag-off", "web-01", "prod-rg"),
    ("linux-vm", "lnx-01", "lnx-rg"),
    ("healthy-vm", "app-01", "prod-rg"),
])
def test_vms_that_collect_dump_refuses_are_reported_not_failed(emulator_for, run_playbook, tmp_path,
                                                               scenario, vm_name, group):
    emulator = emulator_for(scenario)
    truth = scenario_vm(scenario, vm_name)
    status = expected_status(truth)
    since = marks(emulator)
    run = run_playbook(emulator, PLAYBOOK, "-e", f"vm_name={vm_name}", "-e", f"resource_group={group}")
    assert run.returncode == 0, run.output[-6000:]
    assert writes(emulator, since) == []

    out = tmp_path / "out"
    report = check_report_basics(out / vm_name / "report.json")
    assert report["status"] == status and report["error"] is None
    assert report["vm"]["stop_code"] is None and report["vm"]["stop_code_reason"]
    assert report["next_steps"]
    assert fleet_groups(out) == {status: [vm_name]}
    html = (out / vm_name / "report.html").read_text()
    assert stop_code_style(html) == "none"
    kinds = {f["kind"] for f in report["files"]}
    if truth["boot_diagnostics"] == "disabled":
        # No links were even asked for; nothing to save; the report says boot diagnostics are off.
        assert READ_POST not in [r.get("operation") for r in emulator.requests("arm")[since["arm"]:]]
        assert kinds == set()
        assert re.search(r'id="boot-diagnostics">off<', html)
        assert "boot diagnostics are disabled" in report["vm"]["stop_code_reason"]
    if status == "no_stop_screen":
        assert {"screenshot", "screenshot_png", "screenshot_thumbnail"} <= kinds
        # A healthy VM gets no thumbnail in the fleet report.
        assert "<img" not in (out / "fleet-report.html").read_text()


# --- fleets: inventory hosts are VMs -------------------------------------------------------------

def test_a_fleet_is_grouped_and_a_missing_vm_is_an_error_not_a_failed_run(emulator_for, run_playbook, tmp_path):
    scenario = load_scenario("fleet-mixed")
    emulator = emulator_for("fleet-mixed")
    picks = fleet_picks("fleet-mixed")
    inventory = tmp_path / "fleet.yml"
    write_inventory(inventory, picks, scenario.subscription_id,
                    {"ghost-01": {"vm_name": "ghost-01", "resource_group": picks[0]["resource_group"]}})
    since = marks(emulator)
    run = run_playbook(emulator, PLAYBOOK, "-i", str(inventory), "-e", "vmrepair_hosts=broken_vms", "-f", "6")
    assert run.returncode == 0, run.output[-6000:]
    assert writes(emulator, since) == []

    out = tmp_path / "out"
    hosts = [vm["name"] for vm in picks] + ["ghost-01"]
    fleet = check_fleet_consistent(out, hosts)
    groups = fleet_groups(out)
    reports = {h: json.loads((out / h / "report.json").read_text()) for h in hosts}

    ghost = reports["ghost-01"]
    assert ghost["status"] == "error" and "'ghost-01' was not found" in ghost["error"]
    assert groups["error"] == ["ghost-01"] and ghost["next_steps"]
    assert "ghost-01: error: " in run.stdout

    by_kind = {vm["kind"]: vm for vm in picks}
    assert reports[by_kind["linux"]["name"]]["status"] == "not_windows"
    assert reports[by_kind["bootdiag_off"]["name"]]["status"] == "unknown"
    assert reports[by_kind["healthy"]["name"]]["status"] == "no_stop_screen"
    for kind in ("ems_stop", "ems_stop_custom"):
        vm = by_kind[kind]
        assert vm["name"] in groups["stop_code:" + vm["stop_code"]]
        stop_code = reports[vm["name"]]["vm"]["stop_code"]
        assert (stop_code["source"], stop_code["confidence"]) == ("serial_log_ems", "certain")
    assert reports[by_kind["ems_stop_custom"]["name"]]["vm"]["boot_diagnostics"]["storage"] == "custom"
    # Without EMS the code can only come from OCR: never "certain", and a low reading is not counted as a code.
    ocr = reports[by_kind["ocr_stop"]["name"]]
    assert ocr["vm"]["stop_code"]["source"] == "screenshot_ocr"
    assert ocr["vm"]["stop_code"]["confidence"] in ("high", "low")
    expected_group = ("stop_code:" + ocr["vm"]["stop_code"]["code"] if ocr["vm"]["stop_code"]["confidence"] == "high"
                      else "stop_screen_uncertain")
    assert by_kind["ocr_stop"]["name"] in groups[expected_group]
    nothing = reports[by_kind["nothing_to_read"]["name"]]
    assert nothing["status"] == "unknown" and nothing["vm"]["stop_code"] is None
    assert not [f for f in nothing["files"] if f["kind"].startswith("screenshot")]
    garbage = reports[by_kind["garbage_serial_log"]["name"]]
    assert garbage["status"] != "error" and garbage["vm"]["evidence"]["serial_log"]["available"]

    # Thumbnails only for VMs that are not healthy and whose screen was captured; each group lists its count.
    html = (out / "fleet-report.html").read_text()
    rows = {v["id"]: v for g in fleet["groups"] for v in g["vms"]}
    for name, row in rows.items():
        healthy = row["status"] in ("no_stop_screen", "not_windows")
        assert row["thumbnail_embedded"] == (not healthy and row["status"] != "error" and row["thumbnail"] is not None)
        cell = re.search(rf'<tr id="vm-{re.escape(name)}"[^>]*>\s*<td class="shot">(.*?)</td>', html, re.S).group(1)
        assert ("<img" in cell or "same screen as" in cell) == row["thumbnail_embedded"]
    for group in fleet["groups"]:
        assert re.search(rf'data-group="{re.escape(group["key"])}" data-count="{group["count"]}"', html)
    assert len(html) < 60_000 * len(hosts)


def test_fail_on_error_fails_only_the_vms_in_error_after_the_reports(emulator_for, run_playbook, tmp_path):
    scenario = load_scenario("fleet-mixed")
    emulator = emulator_for("fleet-mixed")
    healthy = next(v for v in fleet_picks("fleet-mixed") if v["kind"] == "healthy")
    inventory = tmp_path / "fleet.yml"
    write_inventory(inventory, [healthy], scenario.subscription_id,
                    {"ghost-02": {"vm_name": "ghost-02", "resource_group": "no-such-rg"}})
    run = run_playbook(emulator, PLAYBOOK, "-i", str(inventory), "-e", "vmrepair_hosts=broken_vms",
                       "-e", "fail_on_error=true")
    assert run.returncode != 0
    recap = dict(re.findall(r"^(\S+)\s+:\s.*?failed=(\d+)", run.stdout, re.M))
    assert recap == {healthy["name"]: "0", "ghost-02": "1"}
    out = tmp_path / "out"
    check_fleet_consistent(out, [healthy["name"], "ghost-02"])
    assert fleet_groups(out)["error"] == ["ghost-02"]
    assert "no-such-rg" in json.loads((out / "ghost-02" / "report.json").read_text())["error"]
