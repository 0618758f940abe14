"""Run Command (POST virtualMachines/{vm}/runCommand) executed on the simulated Windows.

As documented for Azure (learn.microsoft.com .../windows/run-command): one script at a time
per VM, it needs a running VM with a Ready agent (the call waits for the agent), and the
output returned is the last 4,096 bytes of each stream. The script runs on its own thread
through `windows.scripts.run`; the operation ends when both the script has finished and the
profile's `run_command_powershell` time has passed.
"""
from __future__ import annotations

import re
import threading
import time
from xml.etree import ElementTree
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ArmError
from .models import RUNNING, VirtualMachine

if TYPE_CHECKING:
    from ...world import World
    from ..lro import Operation

OUTPUT_LIMIT = 4096  # bytes kept of stdout and of stderr
MAX_SCRIPT_SECONDS = 5400.0  # Azure stops a Run Command script after 90 minutes


def agent_unreachable(vm_name: str) -> ArmError:
    return ArmError(409, "VMAgentStatusCommunicationError",
                    f"VM '{vm_name}' has not reported status for VM agent or extensions. Verify that the OS is up and "
                    "healthy, the VM has a running VM agent, and that it can establish outbound connections to Azure "
                    "storage. Please refer to https://aka.ms/vmextensionwindowstroubleshoot for additional VM agent "
                    "troubleshooting information.")


class _Tail:
    """The last OUTPUT_LIMIT bytes of a stream, however much was written."""

    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > OUTPUT_LIMIT:
            del self.data[:len(self.data) - OUTPUT_LIMIT]

    def text(self) -> str:
        data = bytes(self.data)
        if len(data) == OUTPUT_LIMIT:
            # The cut may have split a UTF-8 sequence: drop its continuation bytes.
            data = data.lstrip(bytes(range(0x80, 0xC0)))
        return data.decode("utf-8", errors="replace")


_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def clixml_to_text(text: str) -> str:
    """The error text of a CLIXML stream ("#< CLIXML" + <Objs>), as a .ps1 run by the Run Command
    extension writes it to stderr; anything else is returned unchanged."""
    header, _newline, document = text.partition("\n")
    if header.strip() != "#< CLIXML" or not document.strip():
        return text
    try:
        root = ElementTree.fromstring(document.strip())
    except ElementTree.ParseError:
        return text
    parts = [element.text or "" for element in root.iter() if element.tag.endswith("}S") or element.tag == "S"]
    return _CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), "".join(parts))


def result_body(stdout: str, stderr: str) -> dict[str, Any]:
    """RunCommandResult as Compute RP returns it for RunPowerShellScript/RunShellScript."""
    return {"value": [
        {"code": "ComponentStatus/StdOut/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
         "message": stdout},
        {"code": "ComponentStatus/StdErr/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
         "message": stderr},
    ]}


class RunCommandExecution:
    """One Run Command on one VM: waits for the agent, runs the script, keeps the output tails."""

    def __init__(self, world: "World", vm: VirtualMachine, script_text: str, run_seconds: float,
                 agent_timeout_seconds: float, runner: Callable[[Any, str], Any] | None) -> None:
        self.world = world
        self.vm = vm
        self.script_text = script_text
        self.run_seconds = run_seconds
        self.agent_timeout_seconds = agent_timeout_seconds
        self.runner = runner
        self.started = time.time()
        self.finished_at: float | None = None
        self.stdout = _Tail()
        self.stderr = _Tail()
        self.error: ArmError | None = None
        self.operation: "Operation | None" = None
        self._thread = threading.Thread(target=self._run, name=f"runcommand-{vm['name']}", daemon=True)

    def start(self, operation: "Operation") -> None:
        self.operation = operation
        self._thread.start()

    def busy(self) -> bool:
        """Azure refuses a second Run Command until the first one's operation is over."""
        return self.operation is None or not self.operation.done

    def on_complete(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return result_body(self.stdout.text(), clixml_to_text(self.stderr.text()))

    # -- the worker ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            ready_at = self._wait_for_agent()
            if ready_at is not None:
                self._execute()
                end = max(time.time(), ready_at + self.run_seconds)
            else:
                end = self.started + self.agent_timeout_seconds
        except ArmError as exc:
            self.error = exc
            end = time.time()
        except Exception as exc:  # an emulator bug: fail the operation visibly
            import traceback

            traceback.print_exc()
            self.error = ArmError(500, "InternalExecutionError", f"An internal execution error occurred: {exc!r}")
            end = time.time()
        self.finished_at = time.time()
        self._finish_operation_at(end)

    def _wait_for_agent(self) -> float | None:
        """When the agent became Ready, or None when it does not within the agent timeout."""
        deadline = self.started + self.agent_timeout_seconds
        while True:
            with self.world.lock:
                power, ready_at = self.vm.power, self.vm.agent_ready_at
            if power != RUNNING:
                raise ArmError(409, "OperationNotAllowed", "The operation requires the VM to be running (or set to run).")
            if ready_at is None:
                self.error = agent_unreachable(self.vm["name"])
                return None
            now = time.time()
            if now >= ready_at:
                return max(ready_at, self.started)
            if now >= deadline:
                self.error = agent_unreachable(self.vm["name"])
                return None
            time.sleep(min(0.05, ready_at - now, max(deadline - now, 0.001)))

    def _execute(self) -> None:
        machine = self.world.machines.get(self.vm["id"].lower())
        if machine is None or self.runner is None:
            self.error = agent_unreachable(self.vm["name"])
            return
        process = self.runner(machine, self.script_text)
        deadline = time.time() + MAX_SCRIPT_SECONDS
        tails = {"stdout": self.stdout, "stderr": self.stderr}
        while True:
            chunks = process.read(1.0)
            for stream, data in chunks:
                tails.get(stream, self.stdout).add(data)
            if process.done and not chunks:
                return
            if time.time() > deadline:
                process.terminate()
                self.stderr.add(b"\nThe script execution timed out after 90 minutes.\n")
                return

    def _finish_operation_at(self, end: float) -> None:
        op = self.operation
        assert op is not None
        # The operation started with the 90-minute maximum; it ends now that the end is known, whether
        # anyone polls it or not (a caller killed after the POST never does).
        self.world.lro.reschedule(op, max(0.0, end - op.started))
