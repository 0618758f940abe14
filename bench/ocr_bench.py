"""OCR benchmark: how often the collection reads the right stop code off a boot-diagnostics screenshot.

measure_ocr() renders a matrix of stop screens with the emulator's renderer (8 codes x 3 styles x 3
console sizes) plus screens that are not stop screens (lock screen, Windows Boot Manager, blank,
Linux console), reads each with the collection's read_screenshot(), and does the same for every
real sample under ../shared/realdata (screenshots/ and the serial-console capture).

Correct: the expected code (any confidence) on a stop screen, no code on the others. A wrong code
reported with high confidence is the worst outcome and is counted apart
(wrong_code_high_confidence). Run alone, `.venv/bin/python bench/ocr_bench.py` prints the JSON.
"""
from __future__ import annotations

import json
import os
import platform
import re
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
from vmrepair_emulator.testing import put_collection_on_path  # noqa: E402

put_collection_on_path()

from ansible_collections.vmrepair.azure.plugins.module_utils._bugcheck import format_code, parse_code  # noqa: E402
from ansible_collections.vmrepair.azure.plugins.module_utils._screen_ocr import (  # noqa: E402
    ocr_engine,
    read_screenshot,
)
from vmrepair_emulator.bootdiag import screen  # noqa: E402

CODES = ("0xC000021A", "0xEF", "0x7E", "0xD1", "0x50", "0xC00002E2", "0x133", "0x74")
STYLES = ("win8", "win10", "win11")
SIZES = ((640, 480), (800, 600), (1024, 768))
LOCK_TIME = datetime(2024, 3, 5, 9, 41)
LINUX_LINES = [
    "[    0.000000] Linux version 6.8.0-1021-azure (buildd@lcy02-amd64-043) #25~22.04.1-Ubuntu SMP",
    "[    2.104312] EXT4-fs (sda1): mounted filesystem with ordered data mode. Quota mode: none.",
    "[  OK  ] Reached target Multi-User System.",
    "",
    "Ubuntu 22.04.4 LTS web-02 ttyS0",
    "",
    "web-02 login:",
]


def _rendered_cases() -> list[dict]:
    cases = []
    for number, code in enumerate(CODES):
        for style in STYLES:
            for size in SIZES:
                percent = (number * 37 + len(cases) * 11) % 101
                cases.append({"label": f"stop {code} {style} {size[0]}x{size[1]}", "style": style, "size": size,
                              "expected": format_code(parse_code(code)), "screen": "stop",
                              "render": lambda c=code, p=percent, s=style, z=size: screen.stop_screen(c, p, s, z)})
    statuses = {(640, 480): "0xc000000e", (800, 600): "0xc0000017", (1024, 768): "0xc0000225"}
    for size in SIZES:
        negatives = (
            ("lock", "other", lambda z=size: screen.lock_screen(LOCK_TIME, size=z)),
            ("boot_manager", "boot_manager", lambda z=size: screen.boot_manager_screen(statuses[z], size=z)),
            ("blank", "blank", lambda z=size: screen.blank_screen(z)),
        )
        for kind, kind_read, render in negatives:
            cases.append({"label": f"{kind} {size[0]}x{size[1]}", "style": kind, "size": size, "expected": None,
                          "screen": kind_read, "render": render})
    cases.append({"label": "linux 800x600", "style": "linux", "size": (800, 600), "expected": None,
                  "screen": "other", "render": lambda: screen.linux_console(LINUX_LINES)})
    return cases


def _expected_from_name(name: str) -> str | None:
    """The stop code a real sample's file name states (stop_<NAME>_0xEF_..., ..._bluescreen_0x80_...)."""
    if name.startswith("not_a_stop_screen"):
        return None
    match = re.search(r"_(0x[0-9A-Fa-f]+)(?=[_.])", name)
    if not match:
        raise ValueError(f"{name}: the file name does not state the expected stop code")
    return format_code(parse_code(match.group(1)))


def _expected_screen(name: str, expected: str | None) -> str:
    if expected:
        return "stop"
    return "boot_manager" if "bootmgr" in name else "other"


def _real_files() -> list[Path]:
    files = sorted((REALDATA / "screenshots").glob("*")) if (REALDATA / "screenshots").is_dir() else []
    files += sorted((REALDATA / "serial").glob("*.png")) if (REALDATA / "serial").is_dir() else []
    return [f for f in files if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp")]


def _score(result: dict, expected: str | None) -> tuple[bool, bool, str | None, str | None]:
    """(correct, wrong code at high confidence, code read, confidence)."""
    stop_code = result.get("stop_code")
    read = stop_code["code"] if stop_code else None
    confidence = stop_code["confidence"] if stop_code else None
    correct = read == expected
    return correct, bool(read and read != expected and confidence == "high"), read, confidence


def _group(rows: list[dict], key: str) -> dict:
    groups: dict = {}
    for row in rows:
        group = groups.setdefault(row[key], {"images": 0, "correct": 0, "high_confidence": 0, "seconds": 0.0})
        group["images"] += 1
        group["correct"] += row["correct"]
        group["high_confidence"] += row["confidence"] == "high"
        group["seconds"] += row["seconds"]
    for group in groups.values():
        group["accuracy"] = round(group["correct"] / group["images"], 3)
        group["seconds_per_image"] = round(group.pop("seconds") / group["images"], 3)
    return groups


def _cpu() -> float:
    # This process and the tesseract runs it waited for: CPU time, which other load on the machine
    # does not inflate the way it inflates wall time.
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed_read(data: bytes) -> tuple[dict, float, float]:
    cpu, started = _cpu(), time.perf_counter()
    result = read_screenshot(data)
    return result, time.perf_counter() - started, _cpu() - cpu


def measure_ocr() -> dict:
    engine = ocr_engine()
    if engine is None:
        return {"benchmark": "ocr", "engine": None,
                "skipped": "tesseract is not available: install tesseract-ocr and pytesseract to run the OCR bench"}
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    wrong_high = 0
    rendered_rows = []
    for case in _rendered_cases():
        result, wall, cpu = _timed_read(case["render"]())
        seconds.append(wall)
        cpu_seconds.append(cpu)
        correct, wrong, read, confidence = _score(result, case["expected"])
        wrong_high += wrong
        rendered_rows.append({"label": case["label"], "style": case["style"], "size": "%dx%d" % case["size"],
                              "expected": case["expected"], "read": read, "confidence": confidence,
                              "screen": result["screen"], "screen_correct": result["screen"] == case["screen"],
                              "correct": correct, "seconds": wall})
    real_files = {}
    for path in _real_files():
        expected = _expected_from_name(path.name)
        result, wall, cpu = _timed_read(path.read_bytes())
        seconds.append(wall)
        cpu_seconds.append(cpu)
        correct, wrong, read, confidence = _score(result, expected)
        wrong_high += wrong
        real_files[path.name] = {"expected": expected, "read": read, "confidence": confidence,
                                 "screen": result["screen"], "correct": correct, "seconds": round(wall, 3),
                                 "screen_correct": result["screen"] == _expected_screen(path.name, expected)}
    rendered_correct = sum(row["correct"] for row in rendered_rows)
    real_correct = sum(entry["correct"] for entry in real_files.values())
    total = len(rendered_rows) + len(real_files)
    return {
        "benchmark": "ocr",
        "engine": engine,
        "ocr_accuracy": round((rendered_correct + real_correct) / total, 3) if total else None,
        "rendered": {
            "images": len(rendered_rows),
            "correct": rendered_correct,
            "accuracy": round(rendered_correct / len(rendered_rows), 3),
            "by_size": _group(rendered_rows, "size"),
            "by_style": _group(rendered_rows, "style"),
            "high_confidence": sum(row["confidence"] == "high" for row in rendered_rows),
            # The kind of screen (stop, boot_manager, blank, other) told right, stop screens included.
            "screen_correct": sum(row["screen_correct"] for row in rendered_rows),
            "misses": [{k: v for k, v in row.items() if k != "seconds"} for row in rendered_rows if not row["correct"]],
        },
        "realdata": {
            "images": len(real_files),
            "correct": real_correct,
            "high_confidence": sum(entry["confidence"] == "high" for entry in real_files.values()),
            "accuracy": round(real_correct / len(real_files), 3) if real_files else None,
            "files": real_files,
        },
        "wrong_code_high_confidence": wrong_high,
        "seconds_per_image": round(sum(seconds) / len(seconds), 3),
        "max_seconds": round(max(seconds), 3),
        "cpu_seconds_per_image": round(sum(cpu_seconds) / len(cpu_seconds), 3),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


if __name__ == "__main__":
    print(json.dumps(measure_ocr(), indent=2))
