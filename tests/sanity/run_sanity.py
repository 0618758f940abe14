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


PIP_VERSION = "24.2"  # the pip ansible-test bootstraps into its sanity venvs
PIP_BOOTSTRAP = """\
# Written by vmrepair.azure's tests/sanity/run_sanity.py. ansible-test downloads get-pip.py from a
# host this network cannot reach; this stand-in installs pip from the pip wheel beside it, which
# comes from PyPI. ansible-test runs it with get-pip.py's arguments (pip install options).
import os, runpy, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), {wheel!r}))
# --no-setuptools / --no-wheel are get-pip.py's own options: nothing extra is installed here anyway.
sys.argv = ["pip", "install"] + [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
"""


def ensure_pip_bootstrap() -> None:
    cache = Path.home() / ".ansible" / "test" / "cache"
    script = cache / f"get_pip_{PIP_VERSION.replace('.', '_')}.py"
    wheel = f"pip-{PIP_VERSION}-py3-none-any.whl"
    if script.exists() and (cache / wheel).exists():
        return
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                    "-d", str(cache), f"pip=={PIP_VERSION}"], check=True)
    script.write_text(PIP_BOOTSTRAP.format(wheel=wheel))


def main() -> int:
    ensure_pip_bootstrap()
    copy_collection()
    ansible_test = Path(sys.executable).with_name("ansible-test")
    command = [str(ansible_test), "sanity", "--python", f"{sys.version_info[0]}.{sys.version_info[1]}",
               "--requirements", "--color", "no"]
    for test in SKIPPED:
        command += ["--skip-test", test]
    return subprocess.call(command + sys.argv[1:], cwd=DEST)


if __name__ == "__main__":
    sys.exit(main())
