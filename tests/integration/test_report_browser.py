"""The reports as people see them: the triage playbook runs for real against the emulator, then real headless
Chromium opens the per-VM and fleet reports from file:// URLs. They must render offline: title, stop code,
every embedded image decoded, the groups with their counts, links to the per-VM reports that resolve."""
from __future__ import annotations

import base64
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from PIL import Image

from harness import run_ansible_playbook
from triage_helpers import (PLAYBOOK, Chromium, chromium_missing, fleet_picks, load_scenario, not_blank, read_json,
                            write_inventory)

pytestmark = pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))

RENDER_PLAYBOOK = str(Path(__file__).parent / "playbooks" / "render_reports.yml")


@pytest.fixture(scope="module")
def chromium():
    browser = Chromium()
    yield browser
    browser.quit()


def check_rendered(browser: Chromium, shot: Path) -> dict:
    """Every image decoded; the page's screenshot is not blank. Returns the screenshot's facts."""
    for image in browser.images():
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
        assert image["src"].startswith("data:image/png;base64"), image  # embedded: nothing to fetch
    facts = not_blank(browser.screenshot(shot))
    assert facts["colours"] > 20 and facts["inked"] > 0.02, facts
    return facts


def embedded_png(html: str, element_id: str) -> bytes:
    src = re.search(rf'<img id="{element_id}" src="data:image/png;base64,([^"]+)"', html).group(1)
    return base64.b64decode(src)


def test_triage_reports_render_in_chromium(emulator_for, run_playbook, tmp_path, chromium):
    scenario = load_scenario("fleet-mixed")
    emulator = emulator_for("fleet-mixed")
    picks = {vm["kind"]: vm for vm in fleet_picks("fleet-mixed")
             if vm["kind"] in ("ems_stop", "ocr_stop", "healthy", "bootdiag_off")}
    inventory = tmp_path / "fleet.yml"
    write_inventory(inventory, list(picks.values()), scenario.subscription_id,
                    {"ghost-03": {"vm_name": "ghost-03", "resource_group": picks["healthy"]["resource_group"]}})
    run = run_playbook(emulator, PLAYBOOK, "-i", str(inventory), "-e", "vmrepair_hosts=broken_vms")
    assert run.returncode == 0, run.output[-6000:]
    out = tmp_path / "out"
    fleet = read_json(out / "fleet-report.json")

    # The fleet report: title, every group with its count (summary and section), links that resolve.
    chromium.open(out / "fleet-report.html")
    assert chromium.driver.title.startswith(f"Fleet triage \N{EN DASH} {fleet['total']} VMs")
    summary = chromium.js("return [...document.querySelectorAll('#summary tr[data-group]')]"
                          ".map(r => [r.dataset.group, r.innerText])")
    assert [row[0] for row in summary] == [g["key"] for g in fleet["groups"]]
    for (_key, text), group in zip(summary, fleet["groups"]):
        assert group["title"] in text and text.rstrip().endswith(str(group["count"]))
    headings = chromium.js("return [...document.querySelectorAll('section.group h2')].map(h => h.innerText)")
    assert headings == [f"{g['title']} \N{EM DASH} {g['count']} VM{'' if g['count'] == 1 else 's'}"
                        for g in fleet["groups"]]
    assert chromium.js("return document.getElementById('total').innerText") == str(len(picks) + 1)
    links = chromium.js("return [...document.querySelectorAll('a.report')].map(a => a.href)")
    assert len(links) == len(picks) + 1
    for link in links:
        assert link.startswith("file://") and Path(urllib.parse.unquote(urllib.parse.urlsplit(link).path)).is_file()
    stop_code = picks["ems_stop"]["stop_code"]
    assert stop_code in chromium.js("return document.body.innerText")
    thumbnails = chromium.images()
    assert 1 <= len(thumbnails) <= sum(1 for g in fleet["groups"] for v in g["vms"] if v["thumbnail_embedded"])
    assert all(image["width"] == 240 for image in thumbnails)  # the module's thumbnails, shown at 120 px
    check_rendered(chromium, tmp_path / "fleet-report.png")

    # The per-VM report of a VM at a stop screen whose code the serial log confirms.
    name = picks["ems_stop"]["name"]
    report = read_json(out / name / "report.json")
    chromium.open(out / name / "report.html")
    assert chromium.driver.title.startswith(f"{name} \N{EN DASH} triage report")
    assert chromium.js("return document.querySelector('#stop-code .code').innerText") == stop_code
    assert chromium.js("return getComputedStyle(document.querySelector('.stopcode')).borderTopStyle") == "solid"
    assert "Confirmed" in chromium.js("return document.querySelector('#stop-code').textContent")
    shot = chromium.js("return (i => [i.complete, i.naturalWidth, i.naturalHeight])"
                       "(document.getElementById('screenshot-img'))")
    png_path = next(Path(f["path"]) for f in report["files"] if f["kind"] == "screenshot_png")
    with Image.open(png_path) as png:
        assert shot == [True, png.width, png.height]
    # The embedded image is the PNG on disk, byte for byte.
    assert embedded_png((out / name / "report.html").read_text(), "screenshot-img") == png_path.read_bytes()
    text = chromium.js("return document.body.innerText")
    for step in report["next_steps"]:
        assert step.split(":")[0] in text
    assert "triage only reads" in text and report["vm"]["power_state"] in text
    check_rendered(chromium, tmp_path / "report-confirmed.png")

    # A code read by OCR never looks confirmed; a low-confidence one looks uncertain.
    name = picks["ocr_stop"]["name"]
    ocr = read_json(out / name / "report.json")["vm"]["stop_code"]
    chromium.open(out / name / "report.html")
    box = chromium.js("return (b => [b.className, getComputedStyle(b).borderTopStyle, b.textContent])"
                      "(document.querySelector('.stopcode'))")
    assert "Confirmed" not in box[2] and ocr["code"] in box[2]
    if ocr["confidence"] == "low":
        assert box[0].endswith("stopcode-uncertain") and box[1] == "dashed" and "Uncertain" in box[2]
        assert chromium.js("return document.querySelector('#stop-code .code').innerText") == ocr["code"] + "?"
    else:
        assert box[0].endswith("stopcode-likely") and "Likely, not confirmed" in box[2]
    check_rendered(chromium, tmp_path / "report-ocr.png")

    # A VM that could not be read: its report says why.
    chromium.open(out / "ghost-03" / "report.html")
    assert "'ghost-03' was not found" in chromium.js("return document.getElementById('error').innerText")


@dataclass
class NoEmulator:
    """run_ansible_playbook wants an emulator for its environment; rendering alone needs none."""
    env: dict = field(default_factory=dict)


HOSTILE = '<img src=x onerror="window.vmrepairInjected=1">&amp;'


def synthetic_inventory(tmp_path: Path) -> Path:
    """Three VMs as the triage playbook would hand them to the report role: a low-confidence OCR reading whose
    texts look like HTML, a certain one, and a healthy VM. Only the screenshot files are made here."""
    shots = {}
    for host, colour in (("vm-low", (0, 90, 170)), ("vm-certain", (16, 110, 190))):
        directory = tmp_path / "out" / host
        directory.mkdir(parents=True)
        image = Image.new("RGB", (800, 600), colour)
        image.paste((255, 255, 255), (80, 250, 700, 270))
        image.save(directory / "boot-screenshot.png")
        image.resize((240, 180)).save(directory / "boot-screenshot-thumbnail.png")
        shots[host] = [{"kind": kind, "path": str(directory / f), "size": (directory / f).stat().st_size, "sha256": "0" * 64}
                       for kind, f in (("screenshot_png", "boot-screenshot.png"),
                                       ("screenshot_thumbnail", "boot-screenshot-thumbnail.png"))]

    def vm(name, status, stop_code, reason, files):
        return {"kind": "triage", "status": status, "error": None, "files": files,
                "vm": {"name": name, "resource_group": "rg-<b>1</b>", "os_type": "Windows", "power_state": "running",
                       "boot_diagnostics": {"enabled": True, "storage": "managed"}, "triage_status": status,
                       "stop_code": stop_code, "stop_code_reason": reason,
                       "screen": {"kind": "stop", "text": HOSTILE, "width": 800, "height": 600},
                       "machine_info": {"name": HOSTILE}, "next_steps": [f"Look at {HOSTILE} first."]}}

    hosts = {
        "vm-low": vm("vm-low", "stop_screen_uncertain",
                     {"code": "0xC000021A", "name": "STATUS_SYSTEM_PROCESS_TERMINATED", "source": "screenshot_ocr",
                      "confidence": "low", "read_as": HOSTILE}, f"OCR was unsure: {HOSTILE}", shots["vm-low"]),
        "vm-certain": vm("vm-certain", "stop_screen",
                         {"code": "0xC000021A", "name": "STATUS_SYSTEM_PROCESS_TERMINATED", "source": "serial_log_ems",
                          "confidence": "certain"}, None, shots["vm-certain"]),
        "vm-healthy": vm("vm-healthy", "no_stop_screen", None, "Windows recorded no stop", []),
    }
    inventory = tmp_path / "synthetic.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {h: {"triage_report": r} for h, r in hosts.items()}}}))
    return inventory


def test_uncertain_codes_look_uncertain_and_text_is_never_markup(tmp_path, chromium):
    inventory = synthetic_inventory(tmp_path)
    run = run_ansible_playbook(tmp_path, NoEmulator(), RENDER_PLAYBOOK, "-i", str(inventory))
    assert run.returncode == 0, run.output[-6000:]
    out = tmp_path / "out"

    chromium.open(out / "vm-low" / "report.html")
    box = chromium.js("return (b => [b.className, getComputedStyle(b).borderTopStyle, b.textContent])"
                      "(document.querySelector('.stopcode'))")
    assert box[0].endswith("stopcode-uncertain") and box[1] == "dashed"
    assert "Uncertain" in box[2] and "Confirmed" not in box[2] and "0xC000021A?" in box[2]
    # What the VM, OCR or Azure said shows as text: no element of theirs, no script of theirs ran.
    assert chromium.js("return window.vmrepairInjected") is None
    assert chromium.js("return document.querySelectorAll('img').length") == 1
    assert chromium.js("return document.body.innerText").count(HOSTILE) >= 3
    check_rendered(chromium, tmp_path / "synthetic-low.png")

    chromium.open(out / "vm-certain" / "report.html")
    assert chromium.js("return document.querySelector('.stopcode').className").endswith("stopcode-confirmed")
    assert chromium.js("return document.querySelector('#stop-code .code').innerText") == "0xC000021A"

    chromium.open(out / "fleet-report.html")
    assert chromium.js("return window.vmrepairInjected") is None
    rows = chromium.js("return [...document.querySelectorAll('#summary tr[data-group]')].map(r => r.dataset.group)")
    # The uncertain reading is not counted with the confirmed one.
    assert rows == ["stop_code:0xC000021A", "stop_screen_uncertain", "no_stop_screen"]
    uncertain = chromium.js("return document.querySelector('#vm-vm-low .sc').className")
    assert "sc-uncertain" in uncertain
    # Thumbnails for the two stop screens, none for the healthy VM.
    assert len(chromium.images()) == 2
    assert chromium.js("return document.querySelector('#vm-vm-healthy img')") is None
    check_rendered(chromium, tmp_path / "synthetic-fleet.png")
