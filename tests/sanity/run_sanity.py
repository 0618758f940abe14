#!/usr/bin/env python3
"""Run ansible-test sanity on a copy of the collection laid out as ansible_collections/vmrepair/azure.

ansible-test insists on that path, and the repository root is the collection root, so the files
git knows about (tracked, or new and not ignored) are copied there first. Tests that need a
PowerShell runtime (pslint) are skipped because none can be installed on this platform; there is
no ignore entry (tests/sanity/ignore-*.txt stay empty).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEST = ROOT / ".build" / "sanity" / "ansible_collections" / "vmrepair" / "azure"
SKIPPED = ["pslint"]  # needs pwsh, which no reachable registry ships


def copy_collection() -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    if DEST.exists():
        shutil.rmtree(DEST)
    for name in filter(None, files):
        src = ROOT / name
        if not src.is_file():
            continue
        target = DEST / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    # ansible-test wants a git tree to list the collection's files.
    subprocess.run(["git", "init", "-q"], cwd=DEST, check=True)
    subprocess.run(["git", "add", "-A"], cwd=DEST, check=True)


def main() -> int:
    copy_collection()
    ansible_test = Path(sys.executable).with_name("ansible-test")
    command = [str(ansible_test), "sanity", "--python", f"{sys.version_info[0]}.{sys.version_info[1]}",
               "--requirements", "--color", "no"]
    for test in SKIPPED:
        command += ["--skip-test", test]
    return subprocess.call(command + sys.argv[1:], cwd=DEST)


if __name__ == "__main__":
    sys.exit(main())
