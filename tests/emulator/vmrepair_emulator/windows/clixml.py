"""PowerShell's CLIXML error stream: what powershell.exe -EncodedCommand writes on stderr when a
script ends with an error it did not handle itself (pywinrm and Ansible decode it)."""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

HEADER = b"#< CLIXML\r\n"
_NAMESPACE = "http://schemas.microsoft.com/powershell/2004/04"


_LOOKS_ESCAPED = re.compile(r"_x[0-9A-Fa-f]{4}_")


def _serialize(text: str) -> str:
    """CLIXML strings carry control characters as _xHHHH_ (CR LF -> _x000D__x000A_); an underscore
    that would read as such an escape is itself escaped (_x005F_)."""
    out = []
    for i, char in enumerate(text):
        if char == "_" and _LOOKS_ESCAPED.match(text, i):
            out.append("_x005F_")
        elif ord(char) < 0x20:
            out.append(f"_x{ord(char):04X}_")
        else:
            out.append(char)
    return escape("".join(out))


def error_record(message: str, *, position: str, category: str, error_id: str) -> bytes:
    """An error as PowerShell formats it: message, position, CategoryInfo, FullyQualifiedErrorId."""
    lines = [message, *position.splitlines(), f"    + CategoryInfo          : {category}",
             f"    + FullyQualifiedErrorId : {error_id}", " "]
    body = "".join(f'<S S="Error">{_serialize(line + chr(13) + chr(10))}</S>' for line in lines)
    return HEADER + f'<Objs Version="1.1.0.1" xmlns="{_NAMESPACE}">{body}</Objs>'.encode()
