"""render_script(): the collection's PowerShell scripts with their parameter line, and the scripts'
own syntax (parsed with tree-sitter-powershell, since PowerShell itself cannot run here)."""
from __future__ import annotations

import base64
import json
import re

import pytest
import tree_sitter
import tree_sitter_powershell
from ansible.plugins.shell.powershell import ShellModule

from ansible_collections.vmrepair.azure.plugins.module_utils import _scripts
from ansible_collections.vmrepair.azure.plugins.module_utils._scripts import (
    ScriptNotFoundError,
    params_line,
    render_script,
    script_path,
    script_version,
)

SCRIPT_NAMES = sorted(p.stem for p in _scripts.SCRIPTS_DIR.glob("*.ps1"))
PARAMS_LINE = re.compile(r"^\$VmrepairParams = ConvertFrom-Json '(?P<json>(?:[^']|'')*)'$")
_PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def _syntax_errors(source: str) -> list[str]:
    tree = _PARSER.parse(source.encode("utf-8"))
    errors: list[str] = []

    def walk(node: tree_sitter.Node) -> None:
        if node.type == "ERROR" or node.is_missing:
            errors.append(f"line {node.start_point[0] + 1}: {source.encode()[node.start_byte:node.end_byte][:60]!r}")
            return
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    return errors


def test_the_collection_root_holds_the_scripts() -> None:
    assert (_scripts.COLLECTION_ROOT / "galaxy.yml").is_file()
    assert SCRIPT_NAMES == ["enable_winrm_https", "find_dumps", "hash_file", "read_file_chunks", "upload_to_blob"]


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_script_has_marker_contract_and_valid_syntax(name: str) -> None:
    path = script_path(name)
    text = path.read_text(encoding="utf-8")
    version = script_version(name)
    assert version >= 1
    assert text.splitlines()[0] == f"# vmrepair.azure script: {name} v{version}"
    assert path.with_suffix(".md").is_file(), "the contract lives beside the script"
    assert text.isascii(), "Windows PowerShell 5.1 reads a BOM-less script as ANSI: keep it ASCII"
    assert _syntax_errors(text) == []


def test_the_syntax_check_catches_errors() -> None:
    assert _syntax_errors("$a = @{ b = (1 + }\n")
    assert _syntax_errors("if ($x) { Write-Output 1 }\n") == []


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_rendered_script_still_parses(name: str) -> None:
    rendered = render_script(name, {"path": "F:\\it's \"here\".dmp", "subject_names": ["127.0.0.1"], "n": 5})
    assert _syntax_errors(rendered) == []


def test_params_line_follows_the_marker_and_round_trips() -> None:
    params = {"path": "F:\\Windows\\it's here.dmp", "offset": 0, "length": 2**40, "note": "caf\u00e9 \u2028 done",
              "nested": {"a": [1, None, True]}}
    lines = render_script("hash_file", params).split("\n")
    assert lines[0] == "# vmrepair.azure script: hash_file v1"
    match = PARAMS_LINE.match(lines[1])
    assert match is not None
    assert lines[1].isascii()
    assert json.loads(match["json"].replace("''", "'")) == params
    original = script_path("hash_file").read_text(encoding="utf-8").splitlines()
    assert lines[2:-1] == original[1:] and lines[-1] == ""


def test_params_line_survives_ansible_encoding() -> None:
    """Ansible strips every line and drops empty ones; the marker and parameter lines stay intact."""
    params = {"path": "  F:\\Windows\\MEMORY.DMP  ", "offset": 5}
    command = ShellModule()._encode_script(render_script("read_file_chunks", params), as_list=True)
    script = base64.b64decode(command[command.index("-EncodedCommand") + 1]).decode("utf-16-le")
    lines = script.split("\n")
    marker = lines.index("# vmrepair.azure script: read_file_chunks v1")
    assert lines[marker + 1] == params_line(params)


def test_single_quotes_are_doubled() -> None:
    assert params_line({"a": "x'y"}) == "$VmrepairParams = ConvertFrom-Json '{\"a\":\"x''y\"}'"


@pytest.mark.parametrize("name", ["nope", "../galaxy", "Find_Dumps", ""])
def test_unknown_or_unsafe_names(name: str) -> None:
    with pytest.raises(ScriptNotFoundError):
        render_script(name, {})


def test_params_must_be_a_mapping() -> None:
    with pytest.raises(TypeError):
        render_script("find_dumps", ["not", "a", "dict"])  # type: ignore[arg-type]
