"""Windows command-line splitting (the rules of CommandLineToArgvW)."""
from __future__ import annotations


def split_command_line(line: str) -> list[str]:
    """Split a command line the way CommandLineToArgvW does.

    WinRS joins rsp:Command and every rsp:Arguments element into one command line (pywinrm
    sends all arguments in a single element, pypsrp one per argument), so the executor gets
    the same argv whichever client spoke. Rules: whitespace separates arguments outside
    quotes; 2n backslashes + quote -> n backslashes and a quote toggle; 2n+1 backslashes +
    quote -> n backslashes and a literal quote; other backslashes are literal.
    """
    args: list[str] = []
    current: list[str] = []
    in_quotes = False
    has_arg = False
    i, n = 0, len(line)
    while i < n:
        char = line[i]
        if char == "\\":
            run = 1
            while i + run < n and line[i + run] == "\\":
                run += 1
            if i + run < n and line[i + run] == '"':
                current.append("\\" * (run // 2))
                if run % 2:
                    current.append('"')
                    i += run + 1
                else:
                    i += run
                has_arg = True
                continue
            current.append("\\" * run)
            i += run
            has_arg = True
            continue
        if char == '"':
            # Inside quotes, "" is a literal quote (the rule since the 2008 C runtime).
            if in_quotes and i + 1 < n and line[i + 1] == '"':
                current.append('"')
                i += 2
                continue
            in_quotes = not in_quotes
            has_arg = True
            i += 1
            continue
        if char in " \t" and not in_quotes:
            if has_arg:
                args.append("".join(current))
                current, has_arg = [], False
            i += 1
            continue
        current.append(char)
        has_arg = True
        i += 1
    if has_arg:
        args.append("".join(current))
    return args
