"""Shared by the triage playbook and report browser tests: what a scenario's VMs are, which requests
would have changed something, static inventories of fleet VMs, and a headless Chromium."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from PIL import Image

from harness import ROOT

sys.path.insert(0, str(ROOT / "tests" / "emulator"))
from vmrepair_emulator.scenario import load_scenario  # noqa: E402

PLAYBOOK = "vmrepair.azure.triage"
READ_POST = "VirtualMachines_RetrieveBootDiagnosticsData"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def scenario_vm(scenario: str, name: str) -> dict:
    return next(vm for vm in load_scenario(scenario).virtual_machines if vm["name"] == name)


def writes(emulator, since: dict) -> list[dict]:
    """Requests since `since` that could change something: ARM anything but GET/HEAD and the POST that hands out
    the boot-diagnostics links; blob storage anything but reads, except the emulator's own publishing of a fleet
    VM's boot-diagnostics blobs on its first retrieveBootDiagnosticsData (Azure's platform side, done with
    azure-storage-blob into the VM's bootdiagnostics-* container; the module downloads with requests)."""
    arm = emulator.requests("arm")[since["arm"]:]
    blob = emulator.requests("blob")[since["blob"]:]
    bad = [r for r in arm if r["method"] not in ("GET", "HEAD")
           and not (r["method"] == "POST" and r.get("operation") == READ_POST)]
    bad += [r for r in blob if r["method"] not in ("GET", "HEAD")
            and not (r.get("operation") in ("Container_Create", "BlockBlob_Upload")
                     and r["path"].split("/")[2].startswith("bootdiagnostics-")
                     and r.get("user_agent", "").startswith("azsdk-python-storage-blob"))]
    return bad


def marks(emulator) -> dict:
    return {"arm": len(emulator.requests("arm")), "blob": len(emulator.requests("blob"))}


def fleet_groups(out: Path) -> dict[str, list[str]]:
    fleet = json.loads((out / "fleet-report.json").read_text())
    return {g["key"]: [v["id"] for v in g["vms"]] for g in fleet["groups"]}


def fleet_picks(scenario: str) -> list[dict]:
    """One VM of each kind the fleet scenario has, chosen by what they are (scenario entries)."""
    vms = load_scenario(scenario).virtual_machines
    plain = [v for v in vms if v["screenshot"] == "auto" and v["serial_log"] == "auto" and v["power_state"] == "running"]
    kinds = {
        "linux": lambda v: v["os_type"] == "Linux" and v["boot_diagnostics"] != "disabled",
        "bootdiag_off": lambda v: v["os_type"] == "Windows" and v["boot_diagnostics"] == "disabled",
        "ems_stop": lambda v: v["os_type"] == "Windows" and v["ems"] and v["stop_code"] and v["boot_diagnostics"] == "managed",
        "ems_stop_custom": lambda v: v["os_type"] == "Windows" and v["ems"] and v["stop_code"] and v["boot_diagnostics"] == "custom",
        "ocr_stop": lambda v: v["os_type"] == "Windows" and not v["ems"] and v["stop_code"] and v["boot_diagnostics"] != "disabled",
        "healthy": lambda v: v["os_type"] == "Windows" and not v["stop_code"] and v["boot_diagnostics"] == "managed",
    }
    picks = []
    for kind, wanted in kinds.items():
        vm = next(v for v in plain if wanted(v))
        picks.append(dict(vm, kind=kind))
    garbage = next(v for v in vms if v["serial_log"] == "garbage" and v["os_type"] == "Windows")
    no_shot = next(v for v in vms if v["screenshot"] == "none" and v["serial_log"] == "none")
    picks += [dict(garbage, kind="garbage_serial_log"), dict(no_shot, kind="nothing_to_read")]
    return picks


def write_inventory(path: Path, vms: list[dict], subscription_id: str, extra_hosts: dict | None = None) -> None:
    hosts = {vm["name"]: {"vm_name": vm["name"], "resource_group": vm["resource_group"],
                          "vmrepair_subscription_id": subscription_id} for vm in vms}
    hosts.update(extra_hosts or {})
    path.write_text(yaml.safe_dump({"all": {"children": {"broken_vms": {"hosts": hosts}}}}))


# --- a real, headless Chromium ------------------------------------------------------------------

def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is not installed (Debian packages chromium and chromium-driver, bindep.txt)"
    return None


class Chromium:
    """Headless Chromium driven by chromedriver through selenium; offline (no Selenium Manager download)."""

    def __init__(self) -> None:
        os.environ["SE_OFFLINE"] = "true"  # selenium must not look for drivers on the network
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="vmrepair-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", f"--user-data-dir={self.profile}", "--window-size=1280,1000"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)

    def open(self, path: Path) -> None:
        self.driver.get(path.resolve().as_uri())
        self.driver.execute_script("return document.readyState")

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def images(self) -> list[dict]:
        """Every <img> with whether it decoded (complete, natural size)."""
        return self.js("return [...document.images].map(i => ({alt: i.alt, complete: i.complete,"
                       " width: i.naturalWidth, height: i.naturalHeight, src: i.getAttribute('src').slice(0, 22)}))")

    def screenshot(self, dest: Path) -> Path:
        """The whole page (up to 8000 px high) as a PNG."""
        height = self.js("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, min(max(height, 600), 8000))
        self.driver.save_screenshot(str(dest))
        self.driver.set_window_size(1280, 1000)
        return dest

    def quit(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


def not_blank(png: Path) -> dict:
    """Facts that tell a rendered page from a blank one: colours used and the share of non-white pixels."""
    with Image.open(png) as image:
        rgb = image.convert("RGB")
    small = rgb.resize((max(rgb.width // 4, 1), max(rgb.height // 4, 1)))
    colours = small.getcolors(maxcolors=small.width * small.height)
    inked = sum(count for count, colour in colours if min(colour) < 200)
    return {"size": rgb.size, "colours": len(colours), "inked": inked / (small.width * small.height)}


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
