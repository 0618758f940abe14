"""Fleet triage benchmark: the broken_vms inventory plugin through the real ansible-inventory.

Against the emulator's `fleet-500` scenario (500 VMs, 200 of them broken) with ARM's request budgets
enforced (`arm_throttling`): wall time of `ansible-inventory --list`, the ARM requests it made (the
emulator's request log), next to the fewest requests the job can be done with: one per page of the
VM list, plus one retrieveBootDiagnosticsData per candidate VM (Windows, running, boot diagnostics
on). Whether each VM got the right stop code is checked against the scenario's own truth, and the
OCR accuracy comes from bench/ocr_bench.py on the same machine in the same run. The same for the
2,000-VM fleet, where ARM's write bucket sets a floor on the time.
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
LARGE_SCENARIO = "fleet-2000"  # the subscription size the inventory must stay within ARM's budget for
PAGE_SIZE = 1000  # the emulator's default page of a VM list (tests/emulator/README.md)


def expected_hosts(scenario_name: str) -> dict:
    """From the scenario itself: the VMs the plugin must triage and what it must find for each."""
    from vmrepair_emulator.scenario import load_scenario
    from vmrepair_emulator.triage_truth import expected_triage

    vms = load_scenario(scenario_name).virtual_machines
    hosts = {(vm["resource_group"].lower(), vm["name"].lower()): expected_triage(vm) for vm in vms
             if expected_triage(vm) is not None}
    with_requests = [vm for vm in vms if expected_triage(vm) is not None and vm["boot_diagnostics"] != "disabled"]
    return {"vms": len(vms), "hosts": hosts,
            "min_requests": math.ceil(len(vms) / PAGE_SIZE) + len(with_requests)}


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
    from vmrepair_emulator.triage_truth import plain

    return seconds, {"inventory": plain(json.loads(done.stdout)), "stderr": done.stderr}


def measure_fleet(scenario: str) -> dict:
    """ansible-inventory over one fleet scenario with ARM's budgets enforced, checked against its truth."""
    import requests

    truth = expected_hosts(scenario)
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        proc, env = start_emulator(scenario, work_dir / "emulator")
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
    right = wrong_sure = 0
    for key, (_status, code, source) in truth["hosts"].items():
        host = found.get(key) or {}
        got = host.get("vmrepair_stop_code")
        same = (got is None and code is None) or (got is not None and code is not None and int(got, 16) == int(code, 16))
        right += same and host.get("vmrepair_stop_code_source") == source
        wrong_sure += bool(got) and not same and host.get("vmrepair_stop_code_confidence") in ("certain", "high")
    return {
        "scenario": scenario,
        "vms": truth["vms"],
        "hosts_expected": len(truth["hosts"]),
        "hosts": len(hostvars),
        "requests": len(arm),
        "min_requests": truth["min_requests"],
        "requests_by_operation": _count(arm, "operation"),
        "throttled_429": sum(1 for r in arm if r["status"] == 429),
        "seconds": round(seconds, 3),
        # The floor ARM's write bucket sets: the POSTs past the first 180 (200 less the reserve) at 10 a second.
        "arm_budget_floor_seconds": round(max(0, truth["min_requests"] - 1 - 180) / 10, 1),
        "paced_seconds": round(sum(s["arm"]["waited_seconds"] for s in summary.get("subscriptions", {}).values()), 3),
        "stop_codes_right": right,
        "stop_code_accuracy": round(right / max(1, len(truth["hosts"])), 4),
        "wrong_code_sure": wrong_sure,
        "slowdown_warned": "slowing" in listing["stderr"],
    }


def bench_triage() -> dict:
    from ocr_bench import measure_ocr

    fleet = measure_fleet(SCENARIO)
    large = measure_fleet(LARGE_SCENARIO)
    ocr = measure_ocr()
    return {
        "benchmark": "triage",
        **fleet,
        "ocr_accuracy": ocr["ocr_accuracy"],
        "ocr": ocr,
        "fleet_2000": large,
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
