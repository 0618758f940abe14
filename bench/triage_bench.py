"""Fleet triage benchmark: the broken_vms inventory plugin through the real ansible-inventory.

Against the emulator's `fleet-500` scenario (500 VMs, 200 of them broken) with ARM's request budgets
enforced (`arm_throttling`): wall time of `ansible-inventory --list`, the ARM requests it made (the
emulator's request log), next to the fewest requests the job can be done with: one per page of the
VM list, plus one retrieveBootDiagnosticsData per candidate VM (Windows, running, boot diagnostics
on). Whether each VM landed in the right group is checked against the scenario's own truth, and the
OCR accuracy comes from bench/ocr_bench.py on the same machine in the same run.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
sys.path.insert(0, str(ROOT / "bench"))

from run_with_emulator import start_emulator, stop_emulator  # noqa: E402

SCENARIO = "fleet-500"
PAGE_SIZE = 1000  # the emulator's default page of a VM list (tests/emulator/README.md)


def expected_hosts(scenario_name: str) -> dict:
    """From the scenario itself: the VMs the plugin must triage and the stop codes it must find."""
    from vmrepair_emulator.scenario import load_scenario

    scenario = load_scenario(scenario_name)
    vms = scenario.virtual_machines
    candidates = [vm for vm in vms if vm["os_type"] == "Windows" and vm["power_state"] == "running"
                  and vm["boot_diagnostics"] != "disabled"]
    return {"vms": len(vms), "candidates": candidates,
            "min_requests": math.ceil(len(vms) / PAGE_SIZE) + len(candidates)}


def run_inventory(env: dict, work_dir: Path) -> tuple[float, dict]:
    config = work_dir / "fleet.broken_vms.yml"
    config.write_text("plugin: vmrepair.azure.broken_vms\ninclude_statuses: [stop_screen, stop_screen_uncertain, "
                      "no_stop_screen, unknown]\n")
    run_env = dict(os.environ, **env)
    run_env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / ".build" / "collections")
    run_env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true"
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).with_name("ansible-inventory")), "-i", str(config), "--list"],
                          env=run_env, capture_output=True, text=True, check=False, cwd=work_dir)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"ansible-inventory failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, {"inventory": json.loads(done.stdout), "stderr": done.stderr}


def bench_triage() -> dict:
    import requests

    from ocr_bench import measure_ocr

    truth = expected_hosts(SCENARIO)
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        proc, env = start_emulator(SCENARIO, work_dir / "emulator")
        try:
            control = env["VMREPAIR_EMULATOR_URL"].rstrip("/") + "/_emulator/"
            verify = env["REQUESTS_CA_BUNDLE"]
            requests.put(control + "knobs", json={"arm_throttling": True}, verify=verify,
                         timeout=30).raise_for_status()
            since = len(requests.get(control + "requests", params={"service": "arm"}, verify=verify,
                                     timeout=60).json())
            seconds, listing = run_inventory(env, work_dir)
            log = requests.get(control + "requests", params={"service": "arm"}, verify=verify, timeout=60).json()
        finally:
            stop_emulator(proc)
    arm = [r for r in log if r["seq"] >= since]
    hostvars = listing["inventory"]["_meta"]["hostvars"]
    summary = next(iter(hostvars.values()))["vmrepair_fleet_summary"] if hostvars else {}
    found = {(h["resource_group"].lower(), h["vm_name"].lower()): h for h in hostvars.values()}
    right = 0
    for vm in truth["candidates"]:
        host = found.get((vm["resource_group"].lower(), vm["name"].lower()))
        if host is None:
            continue
        want = vm["stop_code"] if vm.get("stop_code") else None
        got = host.get("vmrepair_stop_code")
        right += (got or "").lower() == (want or "").lower()
    ocr = measure_ocr()
    return {
        "benchmark": "triage",
        "scenario": SCENARIO,
        "vms": truth["vms"],
        "candidates": len(truth["candidates"]),
        "hosts": len(hostvars),
        "requests": len(arm),
        "min_requests": truth["min_requests"],
        "requests_by_operation": _count(arm, "operation"),
        "throttled_429": sum(1 for r in arm if r["status"] == 429),
        "seconds": round(seconds, 3),
        "paced_seconds": summary.get("subscriptions", {}) and round(sum(
            s["arm"]["waited_seconds"] for s in summary["subscriptions"].values()), 3),
        "stop_codes_right": right,
        "stop_code_accuracy": round(right / max(1, len(truth["candidates"])), 4),
        "slowdown_warned": "slowing" in listing["stderr"],
        "ocr_accuracy": ocr["ocr_accuracy"],
        "ocr": ocr,
        "machine": {"python": sys.version.split()[0], "cpus": os.cpu_count()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _count(records: list, key: str) -> dict:
    counts: dict = {}
    for record in records:
        counts[record.get(key)] = counts.get(record.get(key), 0) + 1
    return counts


if __name__ == "__main__":
    print(json.dumps(bench_triage(), indent=2))
