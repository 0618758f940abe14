"""Run the emulator as a real process for tests (pytest fixtures in tests/emulator/tests/conftest.py
use this; other test suites may import it with tests/emulator on sys.path)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import requests

EMULATOR_DIR = Path(__file__).resolve().parent.parent
COLLECTION_ROOT = EMULATOR_DIR.parent.parent


def put_collection_on_path() -> None:
    """Make `ansible_collections.vmrepair.azure` importable (a link under .build/collections, as `make` makes
    it), for tests and benchmarks that check the emulator's output with the collection's own readers."""
    collections = COLLECTION_ROOT / ".build" / "collections"
    link = collections / "ansible_collections" / "vmrepair" / "azure"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(COLLECTION_ROOT)
    if str(collections) not in sys.path:
        sys.path.insert(0, str(collections))


def collection_render_script() -> Any:
    """The collection's _scripts.render_script, loaded from its file (the emulator tests do not put
    ansible_collections on sys.path): the scripts exactly as the modules send them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("vmrepair_collection_scripts",
                                                  COLLECTION_ROOT / "plugins" / "module_utils" / "_scripts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render_script


class ControlClient:
    """The /_emulator/... control API."""

    def __init__(self, base_url: str, ca_bundle: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        # Per request, because REQUESTS_CA_BUNDLE in the environment would override session.verify.
        self.verify = ca_bundle

    def _get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.base_url}/_emulator/{path}", params={k: v for k, v in params.items()
                                                                                 if v is not None},
                                    timeout=30, verify=self.verify)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._get("health")

    def requests(self, service: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        return self._get("requests", service=service, since=since)

    def mark(self) -> int:
        """A `since` value: only requests made after this call are returned by requests(since=...)."""
        return len(self.requests())

    def resources(self, tag: str | None = None, type: str | None = None) -> list[dict[str, Any]]:  # noqa: A002
        return self._get("resources", tag=tag, type=type)

    def disks(self) -> dict[str, Any]:
        return self._get("disks")

    def operations(self) -> list[dict[str, Any]]:
        return self._get("operations")

    def knobs(self) -> dict[str, Any]:
        return self._get("knobs")

    def set_knobs(self, **values: Any) -> dict[str, Any]:
        response = self.session.put(f"{self.base_url}/_emulator/knobs", json=values, timeout=30, verify=self.verify)
        if response.status_code != 200:
            raise ValueError(response.json().get("error", response.text))
        return response.json()

    @contextlib.contextmanager
    def knobs_set(self, **values: Any) -> Iterator[dict[str, Any]]:
        """Set knobs for the duration of a with-block, then restore the previous values."""
        before = self.knobs()
        try:
            yield self.set_knobs(**values)
        finally:
            self.set_knobs(**{k: before[k] for k in values})


class EmulatorProcess:
    """`python -m vmrepair_emulator serve` in its own process group, stopped with SIGTERM."""

    def __init__(self, scenario: str, state_dir: Path, startup_timeout: float = 300.0,
                 extra_args: list[str] | None = None) -> None:
        self.scenario = scenario
        self.state_dir = Path(state_dir)
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}

    def start(self) -> "EmulatorProcess":
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        self.state_dir.mkdir(parents=True)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(EMULATOR_DIR),
                                                                        os.environ.get("PYTHONPATH")])))
        log = open(self.state_dir / "emulator.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vmrepair_emulator", "serve", "--scenario", self.scenario,
             "--state-dir", str(self.state_dir), *self.extra_args],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        env_file = self.state_dir / "env.json"
        deadline = time.monotonic() + self.startup_timeout
        while not env_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start within {self.startup_timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.05)
        self.env = json.loads(env_file.read_text())
        return self

    def log_tail(self, chars: int = 4000) -> str:
        path = self.state_dir / "emulator.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    @property
    def arm_url(self) -> str:
        return self.env["AZURE_CLOUD_ENVIRONMENT"]

    @property
    def ca_bundle(self) -> str:
        return self.env["REQUESTS_CA_BUNDLE"]

    def control(self) -> ControlClient:
        return ControlClient(self.env["VMREPAIR_EMULATOR_URL"], self.ca_bundle)

    def credential(self, **kwargs: Any) -> Any:
        """azure-identity's ClientSecretCredential for this emulator's principal."""
        from azure.identity import ClientSecretCredential

        return ClientSecretCredential(
            kwargs.pop("tenant_id", self.env["AZURE_TENANT"]), kwargs.pop("client_id", self.env["AZURE_CLIENT_ID"]),
            kwargs.pop("client_secret", self.env["AZURE_SECRET"]), authority=self.arm_url.rstrip("/"),
            disable_instance_discovery=True, connection_verify=self.ca_bundle, **kwargs)

    def client_kwargs(self) -> dict[str, Any]:
        """What an azure-mgmt-* client needs to talk to this emulator (base_url, credential_scopes, CA)."""
        return {"base_url": self.arm_url, "credential_scopes": [self.arm_url + ".default"],
                "connection_verify": self.ca_bundle}

    def mgmt_client(self, client_cls: type, credential: Any = None, **kwargs: Any) -> Any:
        return client_cls(credential or self.credential(), self.env["AZURE_SUBSCRIPTION_ID"],
                          **{**self.client_kwargs(), **kwargs})

    def stop(self, grace: float = 20.0) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return process.returncode
