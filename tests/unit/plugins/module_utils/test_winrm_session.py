"""pywinrm settings from a winrm connection's options, script encoding and incremental output."""
from __future__ import annotations

import base64

import pytest
from winrm.exceptions import WinRMOperationTimeoutError

from ansible_collections.vmrepair.azure.plugins.module_utils._winrm_session import (
    RemoteCommandError,
    WinrmSessionError,
    WinrmShell,
    clixml_to_text,
    encode_powershell,
    parse_json_output,
    redact,
    settings_from_connection,
    settings_from_options,
)

PASSWORD = "S3cret-Passw0rd!"
OPTIONS = {"remote_addr": "127.42.1.5", "port": 5986, "scheme": None, "path": "/wsman", "remote_user": "vmrepair",
           "remote_password": PASSWORD, "transport": ["ntlm"], "connection_timeout": None}
EXTRAS = {"ansible_winrm_ca_trust_path": "/tmp/repair-vm.pem", "ansible_winrm_server_cert_validation": "validate",
          "ansible_winrm_read_timeout_sec": 70, "ansible_winrm_operation_timeout_sec": 60,
          "ansible_winrm_no_such_argument": "x", "ansible_winrm_transport": "basic"}


def test_settings_carry_the_pinned_certificate_and_timeouts():
    settings = settings_from_options(OPTIONS, EXTRAS)
    assert settings.endpoint == "https://127.42.1.5:5986/wsman"
    assert settings.transports == ("ntlm",)
    kwargs = settings.protocol_kwargs("ntlm")
    assert kwargs == {"endpoint": "https://127.42.1.5:5986/wsman", "transport": "ntlm", "username": "vmrepair",
                      "password": PASSWORD, "ca_trust_path": "/tmp/repair-vm.pem",
                      "server_cert_validation": "validate", "read_timeout_sec": 70, "operation_timeout_sec": 60}


def test_the_password_stays_out_of_repr_and_description():
    settings = settings_from_options(OPTIONS, EXTRAS)
    assert PASSWORD not in repr(settings) and PASSWORD not in settings.describe()


@pytest.mark.parametrize(("options", "endpoint", "transports"), [
    ({"port": 5985, "transport": None}, "http://127.42.1.5:5985/wsman", ("plaintext",)),
    ({"transport": None}, "https://127.42.1.5:5986/wsman", ("ssl",)),
    ({"transport": None, "remote_user": "admin@CONTOSO.COM"}, "https://127.42.1.5:5986/wsman", ("kerberos",)),
    ({"remote_addr": "fd00::5", "path": "/custom"}, "https://[fd00::5]:5986/custom", ("ntlm",)),
    ({"transport": "ntlm, kerberos"}, "https://127.42.1.5:5986/wsman", ("ntlm", "kerberos")),
])
def test_endpoint_and_transport_defaults_follow_the_winrm_plugin(options, endpoint, transports):
    settings = settings_from_options({**OPTIONS, **options}, {})
    assert (settings.endpoint, settings.transports) == (endpoint, transports)


def test_connection_timeout_sets_both_pywinrm_timeouts():
    kwargs = settings_from_options({**OPTIONS, "connection_timeout": 45}, {}).protocol_kwargs("ntlm")
    assert (kwargs["operation_timeout_sec"], kwargs["read_timeout_sec"]) == (45, 55)


def test_settings_from_a_connection_object():
    class Connection:
        def get_option(self, name):
            if name == "_extras":
                return EXTRAS
            return OPTIONS[name]

    assert settings_from_connection(Connection()) == settings_from_options(OPTIONS, EXTRAS)


def test_no_address_is_an_error():
    with pytest.raises(WinrmSessionError, match="remote_addr"):
        settings_from_options({**OPTIONS, "remote_addr": None}, {})


def test_encode_powershell_matches_the_winrm_plugin_encoding():
    script = "# vmrepair.azure script: hash_file v1\n\n   $x = 1  \r\nWrite-Output $x\n"
    arguments = encode_powershell(script)
    assert arguments[:-1] == ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Unrestricted", "-EncodedCommand"]
    decoded = base64.b64decode(arguments[-1]).decode("utf-16-le")
    assert decoded == "# vmrepair.azure script: hash_file v1\n$x = 1\nWrite-Output $x"


def test_clixml_errors_become_text():
    clixml = ('#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
              '<S S="Error">Cannot find path &apos;F:\\x&apos;_x000D__x000A_</S><S S="Error">second_x000A_</S></Objs>')
    assert clixml_to_text(clixml) == "Cannot find path 'F:\\x'\r\nsecond"
    assert clixml_to_text("plain error") == "plain error"


def test_parse_json_output_takes_the_last_json_line():
    assert parse_json_output(b"WARNING: something\r\n{\"a\": 1}\r\n\r\n") == {"a": 1}
    with pytest.raises(WinrmSessionError, match="no JSON"):
        parse_json_output(b"nothing useful")


def test_redact():
    assert redact(f"user vmrepair password {PASSWORD} failed", [PASSWORD, None]) == \
        "user vmrepair password ******** failed"


class ScriptedProtocol:
    """A narrow stand-in for winrm.protocol.Protocol: replays Receive responses."""

    instances: list["ScriptedProtocol"] = []

    def __init__(self, responses, fail_open=None, **kwargs):
        self.kwargs = kwargs
        self.responses = list(responses)
        self.fail_open = fail_open
        self.commands, self.cleaned, self.closed = [], [], []
        ScriptedProtocol.instances.append(self)

    def open_shell(self, codepage=437):
        if self.fail_open:
            raise self.fail_open
        assert codepage == 65001
        return "shell-1"

    def run_command(self, shell_id, command, arguments):
        self.commands.append((command, arguments))
        return "command-1"

    def get_command_output_raw(self, shell_id, command_id):
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def cleanup_command(self, shell_id, command_id):
        self.cleaned.append(command_id)

    def close_shell(self, shell_id):
        self.closed.append(shell_id)


def shell_with(responses, **kwargs) -> WinrmShell:
    settings = settings_from_options(OPTIONS, {})
    return WinrmShell(settings, protocol_factory=lambda **kw: ScriptedProtocol(responses, **kw, **kwargs))


def test_lines_are_yielded_as_they_arrive_across_receive_boundaries():
    responses = [(b"0 3 aa", b"", -1, False), WinRMOperationTimeoutError(), (b"a\r\nEND", b"", -1, False),
                 (b" 3\r\n", b"", 0, True)]
    shell = shell_with(responses)
    lines = shell.stream_lines("# script")
    assert next(lines) == b"0 3 aaa"
    protocol = ScriptedProtocol.instances[-1]
    assert protocol.responses, "the first line came before the command finished"
    assert list(lines) == [b"END 3"]
    assert protocol.commands[0][0] == "PowerShell" and protocol.cleaned == ["command-1"]
    assert protocol.kwargs["password"] == PASSWORD and protocol.kwargs["transport"] == "ntlm"
    shell.close()
    assert protocol.closed == ["shell-1"]


def test_non_zero_exit_raises_with_stderr_and_no_password():
    responses = [(b"", f"#< CLIXML\r\n<Objs><S S=\"Error\">bad {PASSWORD}_x000A_</S></Objs>".encode(), 1, True)]
    with pytest.raises(RemoteCommandError) as caught:
        list(shell_with(responses).stream_lines("# script"))
    assert caught.value.exit_code == 1
    assert "bad ********" in str(caught.value) and PASSWORD not in str(caught.value)


def test_a_lost_connection_is_a_session_error_without_the_password():
    responses = [(b"partial", b"", -1, False), ConnectionError(f"reset while sending {PASSWORD}")]
    with pytest.raises(WinrmSessionError, match="lost the command's output") as caught:
        list(shell_with(responses).stream_lines("# script"))
    assert PASSWORD not in str(caught.value)


def test_a_silent_command_times_out():
    settings = settings_from_options(OPTIONS, {})
    shell = WinrmShell(settings, idle_timeout_sec=0,
                       protocol_factory=lambda **kw: ScriptedProtocol([WinRMOperationTimeoutError()] * 3, **kw))
    with pytest.raises(WinrmSessionError, match="printed nothing"):
        list(shell.stream_lines("# script"))


def test_open_failure_names_each_transport_without_the_password():
    settings = settings_from_options({**OPTIONS, "transport": ["ntlm", "basic"]}, {})
    shell = WinrmShell(settings, protocol_factory=lambda **kw: ScriptedProtocol(
        [], fail_open=ConnectionError(f"401 for {kw['transport']} with {PASSWORD}"), **kw))
    with pytest.raises(WinrmSessionError) as caught:
        shell.open()
    message = str(caught.value)
    assert "ntlm: 401 for ntlm" in message and "basic: 401 for basic" in message
    assert PASSWORD not in message


def test_a_runaway_line_is_refused_before_it_fills_memory():
    responses = [(b"x" * 600, b"", -1, False), (b"x" * 600, b"", -1, False), (b"\n", b"", 0, True)]
    with pytest.raises(WinrmSessionError, match="longer than 1000 bytes"):
        list(shell_with(responses).stream_lines("# script", max_line_bytes=1000))


def test_requests_ask_for_windows_default_envelope_size():
    """pywinrm writes 153600 into every header; the collection asks for Windows' 500 KiB default."""
    from ansible_collections.vmrepair.azure.plugins.module_utils._winrm_session import (
        WINDOWS_MAX_ENVELOPE_BYTES,
        LargeEnvelopeProtocol,
    )

    protocol = LargeEnvelopeProtocol(endpoint="https://192.0.2.1:5986/wsman", transport="ntlm", username="u",
                                     password="p")
    protocol.max_env_sz = WINDOWS_MAX_ENVELOPE_BYTES
    header = protocol.build_wsman_header(action="a", resource_uri="r", shell_id="s")
    assert header["env:Header"]["w:MaxEnvelopeSize"]["#text"] == "512000"
    assert protocol._get_soap_header(action="a", resource_uri="r")["env:Header"]["w:MaxEnvelopeSize"]["#text"] == "512000"


class EnvelopeProtocol(ScriptedProtocol):
    """Refuses a MaxEnvelopeSize above 153600 at open_shell, as a service configured below the default would."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_env_sz = 153600
        self.opened_with = []

    def open_shell(self, codepage=437):
        self.opened_with.append(self.max_env_sz)
        if self.max_env_sz > 153600:
            raise Exception("(w:EncodingLimit) the request size exceeded the configured MaxEnvelopeSize quota")
        return super().open_shell(codepage)


def test_a_service_with_a_smaller_envelope_gets_pywinrm_default():
    settings = settings_from_options(OPTIONS, {})
    protocols = []

    def factory(**kw):
        protocols.append(EnvelopeProtocol([(b"ok\n", b"", 0, True)], **kw))
        return protocols[-1]

    shell = WinrmShell(settings, protocol_factory=factory)
    assert list(shell.stream_lines("Write-Output ok")) == [b"ok"]
    assert protocols[0].opened_with == [512000, 153600]
