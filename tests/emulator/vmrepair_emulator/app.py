"""The running emulator: TLS, world, one HTTPS server (ARM + Entra + metadata + control), Azurite.

`Emulator(scenario, state_dir).start()` brings everything up and writes <state-dir>/env and
env.json (written last, so their presence means "ready"); `.stop()` takes it all down.
"""
from __future__ import annotations

import json
import logging
import os
import shlex
from pathlib import Path
from typing import Any

from . import metadata
from .arm.core import ArmApp
from .control import api as control_api
from .httpserver import EmulatorHTTPServer, Router
from .identity.entra import EntraID
from .requestlog import RequestLog
from .scenario import Scenario
from .tls import EmulatorTLS
from .world import World

log = logging.getLogger(__name__)


class Emulator:
    def __init__(self, scenario: Scenario, state_dir: Path, arm_port: int = 0, with_blob: bool = True,
                 build_disks: bool = True) -> None:
        self.scenario = scenario
        self.state_dir = Path(state_dir).resolve()
        self.arm_port = arm_port
        self.with_blob = with_blob
        self.build_disks = build_disks
        self.tls: EmulatorTLS | None = None
        self.world: World | None = None
        self.server: EmulatorHTTPServer | None = None
        self.env: dict[str, str] = {}
        self._blob: Any = None  # Azurite, also before the world exists (for stop() after a failed start)

    def start(self) -> "Emulator":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("env", "env.json"):
            (self.state_dir / stale).unlink(missing_ok=True)
        self.tls = EmulatorTLS(self.state_dir)
        request_log = RequestLog(self.state_dir / "requests.jsonl")
        blob = None
        if self.with_blob:
            # Before any thread exists: the child is forked with a preexec hook (see storage/azurite.py).
            from .storage.azurite import Azurite

            cert_path, key_path = self.tls.loopback.write(self.state_dir / "tls-blob.crt",
                                                          self.state_dir / "tls-blob.key")
            from .storage.accounts import azurite_accounts

            accounts = azurite_accounts(self.scenario.subscription_id, self.scenario.storage_accounts)
            self._blob = blob = Azurite(self.state_dir, cert_path, key_path, self.tls.ca_path,
                                        accounts=accounts).start()
        self.world = world = World.from_scenario(self.scenario, self.state_dir, request_log=request_log,
                                                 tls=self.tls, build_disks=self.build_disks)
        world.blob = blob

        router = Router()
        self.server = EmulatorHTTPServer(("127.0.0.1", self.arm_port), router, self.tls.server_context())
        world.set_base_url(f"https://127.0.0.1:{self.server.port}")
        metadata.register(router, world)
        EntraID(world).register(router)
        control_api.register(router, world, self.env)
        arm = ArmApp(world)
        router.add(None, r"^/(subscriptions|providers)(/|$)", arm.handle)
        self.server.start()

        if world.blob is not None:
            from . import bootdiag
            from .arm.storage_accounts import models as storage_accounts

            bootdiag.publish_all(world)
            storage_accounts.publish_endpoints(world)

        principal = world.default_principal
        self.env.update({
            "AZURE_SUBSCRIPTION_ID": world.subscription_id,
            "AZURE_CLIENT_ID": principal["client_id"],
            "AZURE_SECRET": principal["secret"],
            "AZURE_TENANT": world.tenant_id,
            "AZURE_CLOUD_ENVIRONMENT": world.base_url + "/",
            "REQUESTS_CA_BUNDLE": str(self.tls.ca_path),
            "VMREPAIR_EMULATOR_URL": world.base_url + "/",
            "VMREPAIR_EMULATOR_BLOB_URL": world.blob.account_url if world.blob else "",
            "VMREPAIR_EMULATOR_STATE_DIR": str(self.state_dir),
            "VMREPAIR_EMULATOR_SCENARIO": self.scenario.name,
        })
        self._write_env()

    def _write_env(self) -> None:
        shell = "".join(f"{key}={shlex.quote(value)}\n" for key, value in self.env.items())
        for name, text in (("env", shell), ("env.json", json.dumps(self.env, indent=2) + "\n")):
            partial = self.state_dir / f".{name}.partial"
            partial.write_text(text, encoding="utf-8")
            partial.chmod(0o600)  # it holds the client secret
            os.replace(partial, self.state_dir / name)

    def env_text(self) -> str:
        return (self.state_dir / "env").read_text(encoding="utf-8")

    def stop(self) -> None:
        """Idempotent; stops the HTTPS server, Azurite, WinRM listeners and the LRO scheduler."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        world, self.world = self.world, None
        blob, self._blob = self._blob, None
        if blob is not None:
            blob.stop()
        if world is not None:
            world.close()
            world.request_log.close()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
