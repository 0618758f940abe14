"""Transfer benchmark (make bench -> bench/results/transfer.json).

On one emulator (scenario bench-transfer: a 256 MiB and a 2 GiB kernel dump), side by side in one run:

- the collection's transfer: ansible-playbook running vmrepair.azure.dump_fetch against the repair
  VM over WinRM (NTLM over HTTPS, certificate pinned), with the controller's process tree sampled
  for its peak RSS;
- Ansible's own: the winrm connection plugin's fetch_file (what ansible.builtin.fetch transfers
  with: one powershell.exe per 512 KiB, base64 in SOAP) from the same endpoint. The fetch action
  would first run ansible.windows.win_stat too; leaving that out only flatters fetch;
- the link's limit: one plain HTTPS GET of the same bytes from the same host (Azurite);
- the storage relay (transfer=storage) of the same dump: the repair VM's upload and the controller's
  parallel, verified download from Azurite;
- resume: each transfer killed (with Ansible's workers) once half of it is verified, then run again;
  what the two runs' WinRM delivered beyond what one uninterrupted run delivered is what was re-sent.

The emulator's WinRM keeps Windows' limits (MaxEnvelopeSize, shells and operations per user) and
the cost of starting powershell.exe (its powershell_start_s knob, 0.2 s).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOKS = ROOT / "bench" / "playbooks"
MIB = 1 << 20
SCENARIO = "bench-transfer"
VMS = {"256m": "big-256m", "2g": "big-2g"}
STREAMS = 4
HTTPS_CLIENT_CPU: list[float] = []  # CPU seconds of each plain HTTPS GET, on the client side


def _ansible_env(env: dict) -> dict:
    run_env = dict(os.environ, **env)
    run_env.update(ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    return run_env


def _playbook(name: str, env: dict, *extra: str, inventory: Path | None = None) -> list[str]:
    command = [str(Path(sys.executable).with_name("ansible-playbook")), str(PLAYBOOKS / name)]
    if inventory is not None:
        command += ["-i", str(inventory)]
    for item in extra:
        command += ["-e", item]
    return command


def _run(command: list[str], env: dict, what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")


def _run_sampling_rss(command: list[str], env: dict, what: str) -> dict:
    """Run `command`, sampling the RSS of every process of its tree; peaks of the root and of the rest."""
    import psutil

    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    root = psutil.Process(process.pid)
    peaks: dict[int, int] = {}
    output = []
    os.set_blocking(process.stdout.fileno(), False)
    while process.poll() is None:
        try:
            for member in [root] + root.children(recursive=True):
                try:
                    peaks[member.pid] = max(peaks.get(member.pid, 0), member.memory_info().rss)
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        chunk = process.stdout.read()
        if chunk:
            output.append(chunk)
        time.sleep(0.02)
    output.append(process.stdout.read() or b"")
    if process.returncode != 0:
        raise SystemExit(f"{what} failed:\n{b''.join(output).decode(errors='replace')[-6000:]}")
    workers = [rss for pid, rss in peaks.items() if pid != process.pid]
    return {"controller_peak_rss": peaks.get(process.pid, 0), "worker_peak_rss": max(workers, default=0)}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (the emulator's Python process)."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _children_cpu_seconds() -> float:
    """User + system CPU of every finished child process of this one, and of theirs (ansible-playbook's workers)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _inventory(work: Path, host: dict) -> Path:
    path = work / "inventory.json"
    path.write_text(json.dumps({"repair": {"hosts": {"repair-vm": {
        "ansible_host": host["host"], "ansible_port": host["port"], "ansible_connection": "winrm",
        "ansible_shell_type": "powershell", "ansible_winrm_transport": "ntlm", "ansible_winrm_scheme": "https",
        "ansible_winrm_server_cert_validation": "validate", "ansible_winrm_ca_trust_path": host["ca_trust_path"],
        "ansible_user": host["user"], "ansible_password": host["password"]}}}}))
    path.chmod(0o600)
    return path


def _ansible_fetch_seconds(host: dict, src: str, dest: Path) -> float:
    """Ansible's winrm connection plugin's fetch_file, timed."""
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import connection_loader

    connection = connection_loader.get("winrm", PlayContext())
    extras = {"ansible_winrm_server_cert_validation": "validate", "ansible_winrm_ca_trust_path": host["ca_trust_path"]}
    connection.set_options(var_options={
        "ansible_host": host["host"], "ansible_port": host["port"], "ansible_user": host["user"],
        "ansible_password": host["password"], "ansible_winrm_transport": "ntlm", "ansible_winrm_scheme": "https",
        **extras, "_extras": extras})
    started = time.perf_counter()
    try:
        connection.fetch_file(src, str(dest))
    finally:
        connection.close()
    return time.perf_counter() - started


def https_get_seconds(env: dict, path: Path) -> float:
    """Upload the file to Azurite, then time one plain HTTPS GET of it, streamed to nowhere."""
    import requests
    from azure.storage.blob import BlobServiceClient, generate_blob_sas, BlobSasPermissions
    from datetime import datetime, timedelta, timezone
    from vmrepair_emulator.storage.azurite import ACCOUNT_KEY, ACCOUNT_NAME

    service = BlobServiceClient(env["VMREPAIR_EMULATOR_BLOB_URL"],
                                credential={"account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY},
                                connection_verify=env["REQUESTS_CA_BUNDLE"])
    container = service.get_container_client("bench")
    if not container.exists():
        container.create_container()
    blob = container.get_blob_client(path.name)
    with path.open("rb") as handle:
        blob.upload_blob(handle, overwrite=True, max_concurrency=4)
    sas = generate_blob_sas(ACCOUNT_NAME, "bench", path.name, account_key=ACCOUNT_KEY,
                            permission=BlobSasPermissions(read=True),
                            expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    started, cpu_started = time.perf_counter(), time.process_time()
    received = 0
    with requests.get(f"{blob.url}?{sas}", stream=True, verify=env["REQUESTS_CA_BUNDLE"], timeout=600) as answer:
        answer.raise_for_status()
        for block in answer.iter_content(MIB):
            received += len(block)
    elapsed = time.perf_counter() - started
    HTTPS_CLIENT_CPU.append(time.process_time() - cpu_started)
    blob.delete_blob()
    if received != path.stat().st_size:
        raise SystemExit(f"HTTPS GET returned {received} bytes, expected {path.stat().st_size}")
    return elapsed


def _machine_name(control: str, verify: str, host_ip: str) -> str:
    import requests

    machines = requests.get(control + "machines", verify=verify, timeout=30).json()
    return next(name for name, m in machines.items() if m["private_ip"] == host_ip)


def _file_reads(control: str, verify: str, host_ip: str, src: str) -> int:
    import requests

    machines = requests.get(control + "machines", verify=verify, timeout=30).json()
    machine = next(m for m in machines.values() if m["private_ip"] == host_ip)
    return int(machine["file_reads"].get(src.lower(), 0))


def _delivered(control: str, verify: str, since: int, machine: str) -> tuple[int, int]:
    """Bytes of stdout the repair VM's WinRM delivered in Receive responses since log record `since`."""
    import requests

    log = requests.get(control + "requests", params={"since": since}, verify=verify, timeout=60).json()
    delivered = sum(int(r.get("stdout_bytes") or 0) for r in log
                    if r.get("service") == "winrm" and r.get("machine") == machine and r.get("seq", 0) >= since)
    return delivered, max((r.get("seq", 0) for r in log), default=since) + 1


def _log_length(control: str, verify: str) -> int:
    import requests

    return len(requests.get(control + "requests", verify=verify, timeout=60).json())


def _resume_resent_fraction(env: dict, run_env: dict, inventory: Path, host: dict, work: Path, control: str,
                            full_delivery: int, machine: str) -> dict:
    """Kill the transfer once half the file is verified, run it again. Re-sent: what the two runs' WinRM
    delivered beyond what one uninterrupted run of the same file delivered (`full_delivery`)."""
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from harness import kill_tree

    src, size = host["dump"]["path"], int(host["dump"]["size"])
    dest = work / "resume" / "MEMORY.DMP"
    dest.parent.mkdir()
    verify = env["REQUESTS_CA_BUNDLE"]
    since = _log_length(control, verify)
    reads_before = _file_reads(control, verify, host["host"], src)
    command = _playbook("transfer_fetch.yml", run_env, f"src={src}", f"dest={dest}", f"streams={STREAMS}",
                        f"result_file={work / 'resume-1.json'}", inventory=inventory)
    first = subprocess.Popen(command, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    manifest = Path(str(dest) + ".part.manifest.json")
    verified_at_kill = 0
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline and first.poll() is None:
        try:
            data = json.loads(manifest.read_text())
            verified_at_kill = len(data.get("verified_offsets") or []) * int(data.get("chunk_size") or 0)
        except (OSError, ValueError):
            verified_at_kill = 0
        if verified_at_kill >= size // 2:
            kill_tree(first.pid)  # the workers too: Ansible's call setsid()
            break
        time.sleep(0.02)
    first.wait(timeout=60)
    if verified_at_kill < size // 2:
        raise SystemExit("the transfer to kill finished or stalled before half of it was verified")
    _run(_playbook("transfer_fetch.yml", run_env, f"src={src}", f"dest={dest}", f"streams={STREAMS}",
                   f"result_file={work / 'resume-2.json'}", inventory=inventory), run_env, "resumed transfer")
    second = json.loads((work / "resume-2.json").read_text())
    delivered, _next = _delivered(control, verify, since, machine)
    dest.unlink()
    return {
        "verified_at_kill": verified_at_kill,
        "bytes_resumed": second["bytes_resumed"],
        "winrm_stdout_bytes_both_runs": delivered,
        "winrm_stdout_bytes_one_run": full_delivery,
        "resume_resent_fraction": round((delivered - full_delivery) / full_delivery, 4),
        "bytes_read_on_repair_vm": _file_reads(control, verify, host["host"], src) - reads_before,
        "sha256_match": second["checksum_match"],
    }


def _relay(run_env: dict, inventory: Path, host: dict, work: Path) -> dict:
    """The same dump through the storage relay: upload by the repair VM, parallel verified download."""
    src, size = host["dump"]["path"], int(host["dump"]["size"])
    dest = work / "relay" / "MEMORY.DMP"
    dest.parent.mkdir()
    started = time.perf_counter()
    _run(_playbook("transfer_fetch.yml", run_env, f"src={src}", f"dest={dest}", f"streams={STREAMS}",
                   "transfer=storage", "storage_account=vmrepairbench", "storage_resource_group=prod-rg",
                   f"result_file={work / 'relay.json'}", inventory=inventory), run_env, "storage relay")
    playbook_seconds = time.perf_counter() - started
    result = json.loads((work / "relay.json").read_text())
    dest.unlink()
    upload = result["relay"]["upload"]["seconds"]
    return {"upload_seconds": upload, "download_seconds": result["seconds"],
            "download_mib_s": round(size / MIB / result["seconds"], 2),
            "upload_and_download_mib_s": round(size / MIB / (upload + result["seconds"]), 2),
            "playbook_seconds": round(playbook_seconds, 3), "sha256_match": result["checksum_match"]}


def bench_transfer() -> dict:
    import requests

    sys.path.insert(0, str(ROOT / "tests" / "emulator"))
    from run_with_emulator import start_emulator, stop_emulator

    results: dict = {"benchmark": "transfer", "scenario": SCENARIO, "streams": STREAMS, "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, env = start_emulator(SCENARIO, work / "emulator", startup_timeout=1800)
        control = env["VMREPAIR_EMULATOR_URL"].rstrip("/") + "/_emulator/"
        run_env = _ansible_env(env)
        try:
            for label, vm_name in VMS.items():
                out = work / label
                out.mkdir()
                _run(_playbook("transfer_prepare.yml", run_env, f"vm_name={vm_name}", "resource_group=prod-rg",
                               f"output_dir={out}"), run_env, f"preparing {vm_name}")
                host = json.loads((out / "repair-host.json").read_text())
                inventory = _inventory(out, host)
                src, size = host["dump"]["path"], int(host["dump"]["size"])
                entry: dict = {"vm": vm_name, "bytes": size}
                dest = out / "ours" / "MEMORY.DMP"
                dest.parent.mkdir()
                machine = _machine_name(control, env["REQUESTS_CA_BUNDLE"], host["host"])
                since = _log_length(control, env["REQUESTS_CA_BUNDLE"])
                started = time.perf_counter()
                emulator_cpu_before, controller_cpu_before = _cpu_seconds(proc.pid), _children_cpu_seconds()
                rss = _run_sampling_rss(_playbook("transfer_fetch.yml", run_env, f"src={src}", f"dest={dest}",
                                                  f"streams={STREAMS}", f"result_file={out / 'ours.json'}",
                                                  inventory=inventory), run_env, f"dump_fetch of {vm_name}")
                playbook_seconds = time.perf_counter() - started
                # Where the time goes: CPU seconds of the emulator (the repair VM's side, and WinRM) and of
                # ansible-playbook (the controller's side), for this one transfer.
                entry["cpu_seconds"] = {"emulator": round(_cpu_seconds(proc.pid) - emulator_cpu_before, 2),
                                        "controller": round(_children_cpu_seconds() - controller_cpu_before, 2)}
                full_delivery, _next = _delivered(control, env["REQUESTS_CA_BUNDLE"], since, machine)
                fetched = json.loads((out / "ours.json").read_text())
                entry.update(rss, ours_seconds=fetched["seconds"], ours_playbook_seconds=round(playbook_seconds, 3),
                             ours_mib_s=round(size / MIB / fetched["seconds"], 2),
                             ours_wire_bytes=fetched["bytes_received"], compression=fetched["compression"],
                             sha256_match=fetched["checksum_match"])
                https_seconds = https_get_seconds(env, dest)
                entry["https_mib_s"] = round(size / MIB / https_seconds, 2)
                entry["cpu_seconds"]["https_get_client"] = round(HTTPS_CLIENT_CPU[-1], 2)
                entry["throughput_ratio_vs_https"] = round(entry["ours_mib_s"] / entry["https_mib_s"], 3)
                entry["relay"] = _relay(run_env, inventory, host, out)
                entry["relay_ratio_vs_https"] = round(entry["relay"]["download_mib_s"] / entry["https_mib_s"], 3)
                if label == "256m":
                    fetch_dest = out / "ansible-fetch.dmp"
                    fetch_seconds = _ansible_fetch_seconds(host, src, fetch_dest)
                    fetch_dest.unlink()
                    entry["ansible_fetch_seconds"] = round(fetch_seconds, 3)
                    entry["ansible_fetch_mib_s"] = round(size / MIB / fetch_seconds, 2)
                    entry["throughput_ratio_vs_fetch"] = round(entry["ours_mib_s"] / entry["ansible_fetch_mib_s"], 2)
                entry["resume"] = _resume_resent_fraction(env, run_env, inventory, host, out, control, full_delivery,
                                                          machine)
                dest.unlink()
                _run(_playbook("transfer_cleanup.yml", run_env, f"repair_id={host['repair_id']}"), run_env,
                     f"cleanup of {vm_name}")
                results["sizes"][label] = entry
            leftovers = requests.get(control + "resources", params={"tag": "vmrepair-repair-id"},
                                     verify=env["REQUESTS_CA_BUNDLE"], timeout=30).json()
        finally:
            stop_emulator(proc)
    small, large = results["sizes"]["256m"], results["sizes"]["2g"]
    results.update(
        throughput_ratio_vs_fetch=small["throughput_ratio_vs_fetch"],
        throughput_ratio_vs_https=min(small["throughput_ratio_vs_https"], large["throughput_ratio_vs_https"]),
        rss_ratio_2g_vs_256m=round(large["worker_peak_rss"] / small["worker_peak_rss"], 3),
        # The worse of the two sizes.
        resume_resent_fraction=max(small["resume"]["resume_resent_fraction"], large["resume"]["resume_resent_fraction"]),
        relay_ratio_vs_https=min(small["relay_ratio_vs_https"], large["relay_ratio_vs_https"]),
        repair_resources_left=len(leftovers),
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    return results
