"""Benchmarks: `make bench` writes JSON under bench/results/.

repair_vm: time from the first Azure write to the first authenticated WinRM request on the repair
VM (the emulator's request log, so ansible start-up is not counted), at a latency scale where
the emulator keeps each operation InProgress for its real median (azure-latency-profile.yaml)
times the scale. Beside it: the longest chain of dependent operations from the same profile and
scale (snapshot -> disk copy -> VM create -> guest agent ready -> Run Command: the floor), and
the same operations run one after another on the same emulator in the same run
(bench/inprocess_repair.py), measured the same way, and the module's own order run the same
way, so that Ansible's share of `seconds` shows.

triage: the broken_vms inventory plugin over the 500-VM fleet scenario with ARM throttling on
(bench/triage_bench.py), and OCR accuracy (bench/ocr_bench.py).

collect_dump: the whole procedure (ansible-playbook vmrepair.azure.collect_dump) against the
emulator at the scenario's latency scale; wall time of the run, the transfer's own timing and
throughput, and a plain HTTPS download of the same number of bytes from the same emulator host
(Azurite), measured side by side in this run so that the ratio, not the machine, is the figure.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
sys.path.insert(0, str(ROOT / "bench"))

from run_with_emulator import start_emulator, stop_emulator  # noqa: E402


def bench_collect_dump() -> dict:
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        proc, env = start_emulator("c21a-with-dump", work_dir / "emulator")
        try:
            run_env = dict(os.environ, **env)
            run_env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / ".build" / "collections")
            started = time.perf_counter()
            done = subprocess.run(
                [str(Path(sys.executable).with_name("ansible-playbook")), "vmrepair.azure.collect_dump",
                 "-e", "vm_name=web-01", "-e", "resource_group=prod-rg", "-e", f"output_dir={work_dir / 'out'}"],
                env=run_env, capture_output=True, text=True, check=False,
            )
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"collect_dump failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
            report = json.loads((work_dir / "out" / "web-01" / "report.json").read_text())
            fetched = report["fetched"]
            # The same bytes, one plain HTTPS GET from the same host (transfer_bench's baseline).
            from transfer_bench import https_get_seconds

            https_seconds = https_get_seconds(env, Path(fetched["dest"]))
        finally:
            stop_emulator(proc)
    https_mib_s = fetched["size"] / https_seconds / (1 << 20)
    return {
        "benchmark": "collect_dump",
        "scenario": "c21a-with-dump",
        "playbook_seconds": round(wall, 3),
        "dump_bytes": fetched["size"],
        "transfer_seconds": fetched["seconds"],
        "transfer_mib_s": fetched["throughput_mib_s"],
        "streams": fetched["streams"],
        "compression": fetched["compression"],
        "https_download_mib_s": round(https_mib_s, 2),
        "throughput_ratio_vs_https": round(fetched["throughput_mib_s"] / https_mib_s, 3),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


REPAIR_CHAIN = ["snapshot_create_full", "disk_create_copy", "vm_create_windows", "vm_guest_agent_ready",
                "run_command_powershell"]
REPAIR_INDEPENDENT = ["resource_group_create", "nic_create"]  # overlap with the chain in our plan
REPAIR_LATENCY_SCALE = 0.1


def profile_medians() -> dict:
    import yaml

    path = ROOT / "tests" / "emulator" / "vmrepair_emulator" / "data" / "azure-latency-profile.yaml"
    operations = yaml.safe_load(path.read_text())["operations"]
    return {name: float(entry["median_s"]) for name, entry in operations.items() if "median_s" in entry}


def reach_seconds(log: list, since: int) -> float:
    """First Azure write -> first authenticated WinRM request on the repair VM, in log records >= since."""
    records = [r for r in log if r["seq"] >= since]
    writes = [r for r in records if r["service"] == "arm" and r["method"] in ("PUT", "POST", "PATCH")
              and r.get("operation") != "VirtualMachines_RetrieveBootDiagnosticsData"]
    started = writes[0]["time"]
    reached = next(r["time"] for r in records if r["service"] == "winrm" and r["time"] > started
                   and r.get("status") == 200)
    return reached - started


def bench_repair_vm() -> dict:
    import requests

    medians = profile_medians()
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        proc, env = start_emulator("c21a-with-dump", work_dir / "emulator")
        try:
            control = env["VMREPAIR_EMULATOR_URL"].rstrip("/") + "/_emulator/"
            verify = env["REQUESTS_CA_BUNDLE"]
            requests.put(control + "knobs", json={"latency_scale": REPAIR_LATENCY_SCALE}, verify=verify,
                         timeout=30).raise_for_status()
            run_env = dict(os.environ, **env)
            run_env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / ".build" / "collections")
            done = subprocess.run(
                [str(Path(sys.executable).with_name("ansible-playbook")), str(ROOT / "bench" / "playbooks" / "repair_vm_reachable.yml"),
                 "-e", "vm_name=web-01", "-e", "resource_group=prod-rg", "-e", f"output_dir={work_dir / 'out'}"],
                env=run_env, capture_output=True, text=True, check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"repair_vm bench failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
            # The same operations without Ansible around them, one after another and in the module's
            # concurrent order, on the same emulator (bench/inprocess_repair.py).
            since = {}
            for mode in ("sequential", "concurrent"):
                since[mode] = len(requests.get(control + "requests", verify=verify, timeout=30).json())
                done = subprocess.run([sys.executable, str(ROOT / "bench" / "inprocess_repair.py"), mode, "prod-rg", "web-01"],
                                      env=run_env, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise SystemExit(f"{mode} in-process repair failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
            log = requests.get(control + "requests", verify=verify, timeout=30).json()
        finally:
            stop_emulator(proc)
    seconds = reach_seconds(log, 0)
    sequential = reach_seconds(log, since["sequential"])
    concurrent_inprocess = reach_seconds(log, since["concurrent"])
    floor = sum(medians[name] for name in REPAIR_CHAIN) * REPAIR_LATENCY_SCALE
    return {
        "benchmark": "repair_vm",
        "scenario": "c21a-with-dump",
        "latency_scale": REPAIR_LATENCY_SCALE,
        "seconds": round(seconds, 3),
        "floor_seconds": round(floor, 3),
        "sequential_seconds": round(sequential, 3),
        "ratio_to_floor": round(seconds / floor, 3),
        "ratio_sequential_to_floor": round(sequential / floor, 3),
        # Both without Ansible: what starting independent operations together saves by itself.
        "inprocess_concurrent_seconds": round(concurrent_inprocess, 3),
        "ansible_overhead_seconds": round(seconds - concurrent_inprocess, 3),
        "chain": {name: round(medians[name] * REPAIR_LATENCY_SCALE, 3) for name in REPAIR_CHAIN},
        "overlapped_with_chain": {name: round(medians[name] * REPAIR_LATENCY_SCALE, 3) for name in REPAIR_INDEPENDENT},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def bench_transfer() -> dict:
    from transfer_bench import bench_transfer as run

    return run()


def bench_triage() -> dict:
    from triage_bench import bench_triage as run

    return run()


BENCHMARKS = {"collect_dump": bench_collect_dump, "repair_vm": bench_repair_vm, "transfer": bench_transfer,
              "triage": bench_triage}


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    chosen = sys.argv[1:] or list(BENCHMARKS)
    for name in chosen:
        result = BENCHMARKS[name]()
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
