# -*- coding: utf-8 -*-
# Copyright: contributors to the vmrepair.azure collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stop code of a Windows VM read from its boot-diagnostics screenshot (OCR with tesseract).

Used when the serial log has no EMS BLUESCREEN record. Azure serves the console as a BMP at the
VM's resolution (640x480, 800x600, 1024x768). What Windows shows there:

- Windows 8 / Server 2012 R2: "... If you'd like to know more, you can search online later for
  this error: 0xc000021a" (or a name such as CRITICAL_PROCESS_DIED);
- Windows 10 / Server 2016 and later: "Stop code: CRITICAL_PROCESS_DIED" or "Stop code: 0xc00002e2"
  in small text beside a QR code (on black on Windows 11);
- the EMS text form on a serial-console capture: "If you call a support person, give them this
  info:" with the name on the next line, after the SAC's XML record (STOPCODE "0x80");
- the Windows Boot Manager error screen ("Windows failed to start ... Status: 0xc0000017"): not a
  stop screen; its status is reported apart.

OCR is never certain. "high" confidence: a name read exactly as the names table has it, or a hex
code read cleanly in its place that tesseract was sure of or a second reading confirmed (a code
the table does not know needs two agreeing readings, and must not be one digit away from a code
it knows). "low": anything that needed correcting (O read for 0, a name one letter off ...), with
a reason saying what. A code that cannot be read is no code at all, never a guess.

Reading: the screen in greyscale, inverted when the background is dark, scaled up (2x for
800x600) so that the small text is large enough for tesseract, one pass over the whole screen.
Only on a stop screen whose code was not read for sure, the code's line (found by its label, or
as the rows of text below what the first pass read) is cut out, taken from the colour channel
with the most contrast, scaled up further and read again on its own.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
import typing as t

from ansible_collections.vmrepair.azure.plugins.module_utils._bugcheck import (
    BUGCHECK_NAMES,
    DEBUGGER_NAMES,
    bugcheck_name,
    format_code,
    ntstatus_name,
    parse_code,
)

try:
    from PIL import Image, ImageChops, ImageOps
except ImportError:  # reported as an "unreadable" screen with what to install
    Image = None
    ImageChops = None
    ImageOps = None

try:
    import pytesseract
except ImportError:  # reported as an "unreadable" screen with what to install
    pytesseract = None

_TESSERACT_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
INSTALL_HINT = ("install the Python packages (pip install pillow pytesseract) and the tesseract program "
                "(Debian/Ubuntu package tesseract-ocr, RPM package tesseract)")
MAX_TEXT_CHARS = 2000
# A console screenshot is at most a few megapixels; anything far larger is not one (and would be slow).
MAX_PIXELS = 16 * 1024 * 1024
# Per tesseract run; a screenshot takes well under a second.
TESSERACT_TIMEOUT = 30
# Width the whole screen is scaled to for the first pass: 2x for 800x600, so the ~8 px small text of
# a Windows 10 stop screen becomes large enough for tesseract.
PASS1_WIDTH = 1600
# Height (pixels) a line's words are scaled to when the lines around the code are read again.
LINE_HEIGHTS = (34, 46)
# Stop screens and the Boot Manager are text on one colour (85% and more of the pixels, in the real
# samples); below this share the image is a picture or noise, and is not worth tesseract's time.
MIN_BACKGROUND_SHARE = 0.15
# Below this tesseract word confidence (0-100) a code is not reported with high confidence.
MIN_WORD_CONFIDENCE = 60

SCREENS = ("stop", "boot_manager", "other", "blank", "unreadable")

_KNOWN_CODES = frozenset(BUGCHECK_NAMES) | frozenset(DEBUGGER_NAMES)
# name -> code, from the collection's table of stop codes (reference and debugger names).
_NAME_TO_CODE: dict[str, int] = {name: code for code, name in BUGCHECK_NAMES.items()}
_NAME_TO_CODE.update({name: code for code, name in DEBUGGER_NAMES.items()})

# Phrases only a stop screen shows (tolerant of the usual OCR slips in the large text).
_STOP_MARKERS = (
    re.compile(r"ran\s+into\s+a\s+pro[bh]lem", re.I),
    re.compile(r"search\s+online\s+later", re.I),
    re.compile(r"for\s+this\s+err[o0]r", re.I),
    re.compile(r"(?<![/A-Za-z])st[o0]p\s?c[o0]de", re.I),
    re.compile(r"what\s+failed", re.I),
    re.compile(r"give\s+them\s+this\s+inf", re.I),
    re.compile(r"collecting\s+some\s+err[o0]r\s+inf", re.I),
    re.compile(r"windows\.com\s*/\s*stopcode", re.I),
    re.compile(r"CLASSNAME\s*=\s*\W?BLUESCREEN", re.I),
)
_BOOT_MANAGER_MARKERS = (
    re.compile(r"windows\s+boot\s+manager", re.I),
    re.compile(r"windows\s+failed\s+to\s+start", re.I),
    re.compile(r"needs\s+to\s+be\s+repaired", re.I),  # the newer Boot Manager recovery screen
    re.compile(r"winload\.(?:exe|efi)", re.I),
)
# "Status: 0xc0000017" (Boot Manager) or "Error code: 0xc000000e" (its recovery screen).
_STATUS_LINE = re.compile(r"(?:status|error\s+code)\s*[:;.]?\s*(\S+)", re.I)

# Where a stop code stands on a stop screen. The label is matched loosely (OCR slips in it are
# noted), the value is read from what follows it.
_LABELS = (
    # Windows 10+: "Stop code: X". Not "windows.com/stopcode" (the URL above it).
    ("stop_code", re.compile(r"(?<![/A-Za-z])(?:[a-z5$]t[o0]p|s[o0]p|st[o0]o)\s?c[o0][dc]?e\b\s*[:;.,]?", re.I),
     re.compile(r"stop code:?", re.I)),
    # Windows 8: "... search online later for this error: X".
    ("this_error", re.compile(r"f[o0]r\s+th[il1]s\s+err[o0]r\s*[:;.,]?", re.I), re.compile(r"for this error:?", re.I)),
    # EMS text on the serial console: "... give them this info:" then the name on the next line.
    ("ems_text", re.compile(r"give\s+them\s+th[il1]s\s+inf\S*", re.I), re.compile(r"give them this info:?", re.I)),
)
# The SAC's XML record: <PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"0x80"</VALUE>.
_EMS_XML_VALUE = re.compile(r"<?\s*VALUE\s*>\s*[\"'\u201c\u201d]?\s*([^\"'\u201c\u201d<\s]+)", re.I)
_EMS_XML_MARK = re.compile(r"STOPCODE|BLUESCREEN", re.I)

# The 0x prefix: "0x" or "Ox" is read as is ('O' for '0' there cannot change the value); other
# first letters, or a slip of the 'x' ('e', 'k', '%' ...), are corrections.
_CLEAN_PREFIXES = ("0x", "ox")
_X_CHARS = "xX\u00d7"  # \u00d7: the multiplication sign
_PREFIX = re.compile("^[0OoQD][" + _X_CHARS + "eEkK%<*]")
# Characters OCR reads for hex digits -> the digit (in most fonts 0/O and 1/l/I are near twins).
_HEX_FIXES = {"O": "0", "o": "0", "Q": "0", "l": "1", "I": "1", "|": "1", "i": "1", "!": "1", "S": "5",
              "s": "5", "Z": "2", "z": "2", "G": "6"}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_QUOTES = "\"'\u201c\u201d\u2018\u2019"  # straight and typographic quotes
_TRAILING = ".,;:)]}>" + _QUOTES


class _Candidate(t.NamedTuple):
    """One reading of a stop code from one place on the screen."""

    code: int
    read_as: str
    notes: tuple[str, ...]  # what was corrected, or why the reading is weak
    context: str
    value: str  # the value part of read_as, to look up OCR word confidences
    is_name: bool = False
    read: str = "text"  # which OCR run it came from: agreement between runs counts
    unsure: str | None = None  # set when tesseract itself was unsure of the characters


class _Parsed(t.NamedTuple):
    screen: str
    candidates: list[_Candidate]
    failures: list[tuple[str, str]]  # (what was read, why it is no code) for values that could not be read
    status_code: str | None


# ---------------------------------------------------------------------------------------------
# Text -> reading (pure; unit-tested on crafted OCR text)
# ---------------------------------------------------------------------------------------------

def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.replace("\r", "\n").split("\n") if line.strip()]


def normalise_text(text: str) -> str:
    """OCR text with runs of whitespace collapsed, empty lines dropped, lines joined by newlines."""
    return "\n".join(_lines(text))[:MAX_TEXT_CHARS]


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _hex_value(token: str) -> tuple[int | None, list[str], str | None, int]:
    """(code, corrections, failure, digits read) for a token that looks like a hex code.

    (None, [], None, 0) when the token does not look like one at all (a name, a word).
    """
    token = token.strip(_TRAILING)
    corrections: list[str] = []
    match = _PREFIX.match(token)
    if match:
        if match.group(0).lower() not in _CLEAN_PREFIXES:
            corrections.append(f"'{match.group(0)}' read for the '0x' prefix")
        digits = token[2:]
    elif token[:1] in _X_CHARS and len(token) > 2:
        corrections.append("the '0' of the '0x' prefix was missing")
        digits = token[1:]
    elif len(token) == 8 and any(c.isdigit() for c in token) and all(c in _HEX_DIGITS or c in _HEX_FIXES
                                                                     for c in token):
        # No prefix: only a full 8-digit value with a digit in it counts.
        corrections.append("no '0x' prefix was read")
        digits = token
    else:
        return None, [], None, 0
    if not digits:
        return None, [], f"no digits after {token[:2]!r}", 0
    fixed = []
    counts: dict[str, int] = {}
    for char in digits:
        if char in _HEX_DIGITS:
            fixed.append(char)
        elif char in _HEX_FIXES:
            fixed.append(_HEX_FIXES[char])
            key = f"'{char}' -> '{_HEX_FIXES[char]}'"
            counts[key] = counts.get(key, 0) + 1
        else:
            return None, [], f"{char!r} is not a hexadecimal digit", 0
    for key, count in counts.items():
        corrections.append(key + (f" ({count} places)" if count > 1 else ""))
    if len(fixed) > 8:
        # Stop screens show 8 digits at most; 16 digits are a bug-check parameter (EMS text, dumps).
        return None, [], f"{len(fixed)} hexadecimal digits is too long for a stop code", 0
    return parse_code("".join(fixed)), corrections, None, len(fixed)


def _name_words(tokens: list[str]) -> list[str]:
    """The leading tokens that can be words of a stop-code name (letters, digits, underscores)."""
    words = []
    for token in tokens[:8]:
        cleaned = token.strip(_TRAILING + "|")
        if not cleaned or not re.fullmatch(r"[A-Za-z0-9_]+", cleaned):
            break
        words.append(cleaned)
    return words


def _joined(words: list[str]) -> str:
    return "_".join(word.strip("_") for word in words if word.strip("_"))


def _name_value(words: list[str]) -> tuple[int | None, list[str], str | None]:
    """(code, corrections, failure) for the words of a stop-code name ("CRITICAL PROCESS DIED")."""
    if not words:
        return None, [], "no name or hexadecimal code"
    # Longest run first: "SYSTEM THREAD EXCEPTION NOT HANDLED M" must not stop at "... HANDLED".
    # Trailing words are tried away because OCR often adds junk after the name.
    for end in range(len(words), 0, -1):
        joined = _joined(words[:end])
        if joined.upper() in _NAME_TO_CODE:
            notes = []
            if joined != joined.upper():
                notes.append(f"{joined!r} was read partly in lower case")
            dropped = [word for word in words[end:] if word.isupper()]
            if dropped:
                notes.append(f"ignored {' '.join(dropped)!r} after the name")
            return _NAME_TO_CODE[joined.upper()], notes, None
    best: tuple[int, int, str] | None = None  # (letters that differ, -words used, name)
    for end in range(len(words), 0, -1):
        joined = _joined(words[:end]).upper()
        if len(joined) < 6:
            continue
        for name in _NAME_TO_CODE:
            distance = _levenshtein(joined, name)
            if distance <= min(4, max(1, round(len(name) * 0.15))) and (best is None or (distance, -end) < best[:2]):
                best = (distance, -end, name)
    if best is None:
        return None, [], f"{_joined(words).upper()!r} is not a stop-code name this collection knows"
    distance, end, name = best[0], -best[1], best[2]
    joined = _joined(words[:end]).upper()
    # Another name just as close: no way to tell which one the screen shows.
    rivals = sorted(other for other, code in _NAME_TO_CODE.items()
                    if code != _NAME_TO_CODE[name] and _levenshtein(joined, other) <= distance)
    if rivals:
        return None, [], f"{joined!r} is as close to {rivals[0]} as to {name}"
    return _NAME_TO_CODE[name], [f"{joined!r} matched to {name} "
                                 f"({distance} letter{'s differ' if distance > 1 else ' differs'})"], None


def _strip_value(raw: str) -> str:
    return raw.strip().lstrip(":;.,-_|'\"\u201c\u201d ").strip()


def _candidate_from(raw: str, label: str, label_clean: bool, context: str) -> tuple[_Candidate | None, str]:
    """A reading of the text after a label, or (None, why not)."""
    tokens = _strip_value(raw).split()
    if not tokens:
        return None, "nothing was read after the label"
    code, notes, failure, digits = _hex_value(tokens[0])
    value, is_name = tokens[0].strip(_TRAILING), False
    if code is None and failure is None:
        words = _name_words(tokens)
        code, notes, failure = _name_value(words)
        value, is_name = " ".join(words) or " ".join(tokens[:8]), True
    if code is None:
        return None, failure or "not a code"
    if not is_name and code not in _KNOWN_CODES:
        if digits < 8:
            notes.append(f"only {digits} hex digit{'s' if digits > 1 else ''} read and {format_code(code)} is not "
                         "a stop code this collection knows")
        elif not label_clean:
            notes.append(f"the label before it was misread too ({label!r})")
    return _Candidate(code=code, read_as=f"{label} {value}".strip(), notes=tuple(notes), context=context,
                      value=value, is_name=is_name), ""


def _stop_candidates(lines: list[str]) -> tuple[list[_Candidate], list[tuple[str, str]]]:
    """Every reading of a stop code on a stop screen's lines, and what could not be read."""
    candidates: list[_Candidate] = []
    failures: list[tuple[str, str]] = []
    for index, line in enumerate(lines):
        for context, label, exact in _LABELS:
            match = label.search(line)
            if not match:
                continue
            label_text = match.group(0).strip()
            rest = line[match.end():]
            if context == "ems_text" or not _strip_value(rest):
                # The value is on the next line (EMS text; a wrapped Windows 8 line). A "Stop code:"
                # line there is read on its own.
                following = lines[index + 1] if index + 1 < len(lines) else ""
                if not following or any(other.search(following) for _c, other, _e in _LABELS[:2]):
                    if context != "ems_text":
                        failures.append((label_text, "nothing was read after it"))
                    continue
                rest = following
            candidate, why = _candidate_from(rest, label_text, bool(exact.fullmatch(label_text)), context)
            if candidate is None:
                failures.append((f"{label_text} {rest.strip()}"[:120], why))
            else:
                candidates.append(candidate)
    text = "\n".join(lines)
    if _EMS_XML_MARK.search(text):
        for match in _EMS_XML_VALUE.finditer(text):
            code, notes, _failure, _digits = _hex_value(match.group(1))
            if code is not None:
                candidates.append(_Candidate(code=code, read_as=match.group(0).strip(), notes=tuple(notes),
                                             context="ems_xml", value=match.group(1)))
    return candidates, failures


def _status_code(lines: list[str]) -> str | None:
    for line in lines:
        match = _STATUS_LINE.search(line)
        if match:
            code, _corrections, _failure, _digits = _hex_value(match.group(1))
            if code is not None:
                return format_code(code)
    return None


def _parse(text: str) -> _Parsed:
    lines = _lines(text)
    joined = "\n".join(lines)
    if any(marker.search(joined) for marker in _STOP_MARKERS):
        candidates, failures = _stop_candidates(lines)
        return _Parsed("stop", candidates, failures, None)
    if any(marker.search(joined) for marker in _BOOT_MANAGER_MARKERS):
        return _Parsed("boot_manager", [], [], _status_code(lines))
    return _Parsed("other", [], [], None)


_CONTEXT_RANK = {"stop_code": 0, "this_error": 0, "ems_text": 1, "ems_xml": 1}


def _known_neighbours(code: int) -> list[int]:
    """Stop codes this collection knows that differ from `code` in exactly one hex digit."""
    digits = f"{code:08X}"
    return sorted(known for known in _KNOWN_CODES if known != code
                  and sum(a != b for a, b in zip(f"{known:08X}", digits)) == 1)


def _doubt(candidate: _Candidate, clean: list[_Candidate]) -> str | None:
    """Why a reading is not high confidence, or None when it is."""
    if candidate.notes:
        return "; ".join(candidate.notes)
    if candidate.is_name:
        return None  # an exact match in the names table is its own check
    # Another reading of the same code: another OCR run, or another place on the screen.
    agreeing = [other for other in clean if other is not candidate and other.code == candidate.code
                and (other.read != candidate.read or other.context != candidate.context)]
    if candidate.code in _KNOWN_CODES:
        return None if candidate.unsure is None or agreeing else candidate.unsure
    neighbours = _known_neighbours(candidate.code)
    if neighbours:
        return (f"{format_code(candidate.code)} is not a stop code this collection knows, and one misread digit "
                f"away from {format_code(neighbours[0])} ({bugcheck_name(neighbours[0]) or 'known'})")
    if not agreeing:
        return (f"{format_code(candidate.code)} is not a stop code this collection knows, and no second reading "
                "confirmed it")
    if candidate.unsure is not None and all(other.unsure is not None for other in agreeing):
        return candidate.unsure
    return None


def _choose(candidates: list[_Candidate],
            failures: list[tuple[str, str]]) -> tuple[dict[str, t.Any] | None, str | None]:
    """The stop code to report from all readings, and the reason when it is low or missing.

    High confidence needs a clean reading (nothing corrected) of a known code that tesseract was
    sure of or that a second reading confirmed, or an exact name; an unknown 8-digit code needs two
    agreeing readings and must not be one digit away from a known code. Any other clean reading of
    a different code makes it low.
    """
    if not candidates:
        if failures:
            shown, why = max(failures, key=lambda failure: len(failure[0]))
            return None, f"the stop screen's code could not be read: {shown!r} ({why})"
        return None, "the screenshot shows a stop screen, but no stop code could be read on it"
    clean = [c for c in candidates if not c.notes]
    doubts = {id(c): _doubt(c, clean) for c in candidates}
    best = sorted(candidates, key=lambda c: (doubts[id(c)] is not None, bool(c.notes), c.code not in _KNOWN_CODES,
                                             c.unsure is not None, len(c.notes), _CONTEXT_RANK[c.context]))[0]
    notes = [doubts[id(best)]] if doubts[id(best)] else []
    rivals = sorted({c.code for c in (clean if not notes else candidates) if c.code != best.code})
    if rivals:
        # Two places, or two runs, disagree: report the better reading, never as sure.
        notes.append("another reading gave " + ", ".join(format_code(code) for code in rivals))
    confidence = "low" if notes else "high"
    stop_code = {
        "code": format_code(best.code),
        "name": bugcheck_name(best.code) or DEBUGGER_NAMES.get(best.code),
        "source": "screenshot_ocr",
        "confidence": confidence,
        "read_as": best.read_as[:200],
    }
    reason = None
    if confidence == "low":
        reason = (f"the stop code was read from the screenshot as {best.read_as[:200]!r} and taken as "
                  f"{format_code(best.code)}, not for sure: {'; '.join(notes)}; check the screenshot")
    return stop_code, reason


def _screen_result(parsed: _Parsed, stop_code: dict[str, t.Any] | None, reason: str | None) -> dict[str, t.Any]:
    if parsed.screen == "stop":
        return {"screen": "stop", "stop_code": stop_code, "reason": reason, "status_code": None}
    if parsed.screen == "boot_manager":
        status = parsed.status_code
        named = ""
        if status:
            name = ntstatus_name(status)
            named = f" (status {status}{' ' + name if name else ''})"
        return {"screen": "boot_manager", "stop_code": None, "status_code": status,
                "reason": f"the screenshot shows the Windows Boot Manager error screen{named}, not a stop screen: "
                          "Windows did not start, so there is no stop code to read"}
    return {"screen": "other", "stop_code": None, "status_code": None,
            "reason": "the screenshot is not a stop screen"}


def parse_screen_text(text: str) -> dict[str, t.Any]:
    """What OCR text of a console says: {screen, stop_code, reason, status_code}.

    screen is "stop", "boot_manager" or "other" (blank and unreadable come from the image, not
    the text); stop_code and reason are as in read_screenshot().
    """
    parsed = _parse(text)
    stop_code, reason = _choose(parsed.candidates, parsed.failures) if parsed.screen == "stop" else (None, None)
    return _screen_result(parsed, stop_code, reason)


# ---------------------------------------------------------------------------------------------
# Image -> text (Pillow + tesseract)
# ---------------------------------------------------------------------------------------------

_ENGINES: dict[str, str] = {}  # tesseract command -> "tesseract 5.3.0", once found


def ocr_engine() -> str | None:
    """"tesseract 5.3.0", or None when pytesseract or the tesseract program is missing."""
    if pytesseract is None:
        return None
    command = str(pytesseract.pytesseract.tesseract_cmd)
    if command not in _ENGINES:
        try:
            _ENGINES[command] = f"tesseract {pytesseract.get_tesseract_version()}"
        except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, OSError, ValueError):
            return None
    return _ENGINES[command]


def _decode(data: bytes) -> t.Any:
    """A loaded Pillow image, or ValueError saying why the bytes are not one."""
    if Image is None:
        raise ValueError(f"Pillow is not installed, so the screenshot cannot be decoded: {INSTALL_HINT}")
    if not data:
        raise ValueError("the screenshot is empty (0 bytes)")
    head = bytes(data[:64]).lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<error", b"{")):
        raise ValueError("the screenshot download is a text document (an error page?), not an image")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise ValueError(f"the screenshot is {image.width}x{image.height} pixels, far larger than a console")
        image.load()
    except ValueError:
        raise
    except Exception as error:  # pylint: disable=broad-except  # Pillow raises many types for damaged files
        raise ValueError(f"the screenshot is not an image Pillow can decode ({type(error).__name__}: "
                         f"{str(error)[:120]})") from None
    return image


def to_png(data: bytes, max_width: int | None = None, colors: int | None = None) -> bytes:
    """The screenshot as a PNG (for reports), scaled down to max_width keeping its aspect ratio; lossless
    unless `colors` asks for a palette of that many colours (thumbnails: a fleet report embeds hundreds)."""
    if max_width is not None and (isinstance(max_width, bool) or not isinstance(max_width, int) or max_width < 1):
        raise ValueError(f"max_width must be a positive number of pixels, not {max_width!r}")
    if colors is not None and not 2 <= colors <= 256:
        raise ValueError(f"colors must be from 2 to 256, not {colors!r}")
    image = _decode(data)
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    if max_width is not None and image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        if image.mode in ("P", "1"):
            image = image.convert("RGB")
        image = image.resize((max_width, height), Image.LANCZOS)
    if colors is not None:
        image = _rgb(image).quantize(colors)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=colors is not None)
    return out.getvalue()


def _rgb(image: t.Any) -> t.Any:
    if image.mode == "RGB":
        return image
    if "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        base = Image.new("RGB", rgba.size, (0, 0, 0))
        base.paste(rgba, mask=rgba.getchannel("A"))
        return base
    return image.convert("RGB")


def _background(image: t.Any) -> tuple[int, int, int]:
    """The most common colour, counted on a reduced copy."""
    small = image.copy()
    small.thumbnail((200, 200))
    return max(small.getcolors(small.width * small.height))[1]


class _Layout(t.NamedTuple):
    """How much of the image is its background colour, and where anything else is drawn."""

    background: tuple[int, int, int]
    share: float  # of pixels within a few levels of the background colour
    drawn: tuple[int, int, int, int] | None  # bounding box of what differs clearly from it


def _layout(image: t.Any) -> _Layout:
    colour = _background(image)
    red, green, blue = ImageChops.difference(image, Image.new("RGB", image.size, colour)).split()
    difference = ImageChops.lighter(red, ImageChops.lighter(green, blue))  # the largest channel difference
    share = sum(difference.histogram()[:41]) / (image.width * image.height)
    return _Layout(colour, share, difference.point(lambda value: 255 if value > 40 else 0).getbbox())


def _is_blank(image: t.Any, layout: _Layout) -> bool:
    # Nothing but the background colour, or a speck no bigger than a text cursor: nothing drawn yet.
    # (A single short line such as "login:" is content, however few pixels it has.)
    box = layout.drawn
    if box is None:
        return True
    return box[2] - box[0] <= max(4, image.width // 50) and box[3] - box[1] <= max(4, image.height // 50)


def _prepare(image: t.Any, colour: tuple[int, int, int], contrast: bool = False) -> t.Any:
    """Dark text on a light background, one channel: what tesseract reads best.

    colour is the background colour. contrast=False: luminance. contrast=True: on a dark coloured
    background, the channel where the background is darkest (red for the blue stop screens): the
    most contrast for white text, which reads small, blurred lines better once they are cut out
    and scaled up.
    """
    if sum(colour) / 3 >= 128:
        return image.convert("L")
    if contrast and max(colour) - min(colour) > 40:
        grey = image.getchannel("RGB"[min(range(3), key=lambda i: colour[i])])
    else:
        grey = image.convert("L")
    return ImageOps.invert(grey)


class _Ocr(t.NamedTuple):
    """Words and lines of one tesseract run, boxes in the coordinates of the prepared image."""

    lines: list[dict[str, t.Any]]  # {"text", "words": [{"text", "conf", "box"}], "box"}


def _tesseract(image: t.Any, psm: int, scale: float, offset: tuple[int, int] = (0, 0)) -> _Ocr:
    # tesseract's OpenMP threads cost more than they gain on an image this size (3-4x slower on 2 cores).
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    with _TESSERACT_SLOTS:  # a fleet triage runs many VMs in threads: no more tesseracts than CPUs
        data = pytesseract.image_to_data(image, config=f"--psm {psm}", output_type=pytesseract.Output.DICT,
                                         timeout=TESSERACT_TIMEOUT)
    lines: dict[tuple[int, int, int], dict[str, t.Any]] = {}
    for i, word in enumerate(data["text"]):
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        if data["level"][i] != 5 or not word.strip():
            continue
        box = (offset[0] + data["left"][i] / scale, offset[1] + data["top"][i] / scale,
               offset[0] + (data["left"][i] + data["width"][i]) / scale,
               offset[1] + (data["top"][i] + data["height"][i]) / scale)
        line = lines.setdefault(key, {"words": []})
        line["words"].append({"text": word.strip(), "conf": float(data["conf"][i]), "box": box})
    result = []
    for line in lines.values():
        words = line["words"]
        result.append({"text": " ".join(w["text"] for w in words), "words": words,
                       "box": (min(w["box"][0] for w in words), min(w["box"][1] for w in words),
                               max(w["box"][2] for w in words), max(w["box"][3] for w in words))})
    return _Ocr(result)


def _scaled(image: t.Any, factor: float) -> t.Any:
    if abs(factor - 1) < 0.01:
        return image
    return image.resize((max(1, round(image.width * factor)), max(1, round(image.height * factor))), Image.LANCZOS)


def _ink_extent(prepared: t.Any, top: int, bottom: int, left: int, right: int, gap: int) -> tuple[int, int]:
    """Grows [left, right] along the band to the ink next to it, stopping at a gap wider than `gap`."""
    band = prepared.crop((0, top, prepared.width, bottom))
    pixels, width = band.tobytes(), band.width  # mode L: one byte a pixel
    # A column has ink when its darkest pixel is well below the (light) background.
    ink = [min(pixels[x::width]) < 128 for x in range(width)]
    start, run = left, 0
    for x in range(min(left, width - 1), -1, -1):
        if ink[x]:
            start, run = x, 0
        else:
            run += 1
            if run > gap:
                break
    end, run = right, 0
    for x in range(max(0, right), width):
        if ink[x]:
            end, run = x, 0
        else:
            run += 1
            if run > gap:
                break
    return start, end


def _word_height(line: dict[str, t.Any]) -> float:
    heights = sorted(w["box"][3] - w["box"][1] for w in line["words"])
    return heights[len(heights) // 2]


def _label_bands(ocr: _Ocr, prepared: t.Any) -> list[tuple[int, int, int, int, float]]:
    """Boxes (left, top, right, bottom, word height) of the lines where pass 1 saw a code's label."""
    ordered = sorted(ocr.lines, key=lambda line: line["box"][1])
    picked: list[tuple[dict[str, t.Any], int]] = []  # (line, index of the word the label starts in)
    for index, line in enumerate(ordered):
        for context, label, _exact in _LABELS:
            match = label.search(line["text"])
            if not match:
                continue
            # Start at the label's word, so that junk before it (the QR code) is left out.
            offset, first = 0, 0
            for number, word in enumerate(line["words"]):
                if offset + len(word["text"]) > match.start():
                    first = number
                    break
                offset += len(word["text"]) + 1
            picked.append((line, first))
            rest = line["text"][match.end():].strip(" :;.,")
            if (context == "ems_text" or not rest) and index + 1 < len(ordered):
                picked.append((ordered[index + 1], 0))
            break
    bands = []
    for line, first in picked:
        words = line["words"][first:]
        height = _word_height({"words": words})
        words = [w for w in words if w["box"][3] - w["box"][1] <= 2 * height] or words
        top, bottom = min(w["box"][1] for w in words), max(w["box"][3] for w in words)
        height = bottom - top  # the row's extent: what the scale for the second read is based on
        pad = max(2.0, 0.45 * height)
        top, bottom = max(0, int(top - pad)), min(prepared.height, int(bottom + pad + 1))
        left, right = int(min(w["box"][0] for w in words)), int(max(w["box"][2] for w in words))
        left, right = _ink_extent(prepared, top, bottom, left, right, gap=max(3, int(1.6 * height)))
        margin = int(max(2, height))
        band = (max(0, left - margin), top, min(prepared.width, right + margin + 1), bottom, height)
        # One read a row: the line after "give them this info:" is often the "Stop code:" line itself.
        if not any(min(bottom, other[3]) - max(top, other[1]) > 0.5 * (bottom - top) for other in bands):
            bands.append(band)
    return bands


def _rows_below(ocr: _Ocr, prepared: t.Any) -> list[tuple[int, int, int, int, float]]:
    """Text rows under the lowest stop-screen line pass 1 read, in its column.

    Small text beside the QR code is sometimes not found at all by tesseract's layout analysis; the
    stop code is below the stop screen's other text, so the rows of ink there are read one by one.
    """
    ordered = sorted(ocr.lines, key=lambda line: line["box"][1])
    known = [line for line in ordered if any(marker.search(line["text"]) for marker in _STOP_MARKERS)
             or re.search(r"complete|information|support|restart", line["text"], re.I)]
    if not known:
        return []
    anchor = known[-1]
    height = _word_height(anchor)
    # The column: the leftmost of the lines just above it (its own first word may be misread).
    column = [line for line in known if anchor["box"][1] - 3 * height <= line["box"][1] <= anchor["box"][1]]
    # Only a hair left of the text: the QR code ends a few pixels before it on Windows 10 and later.
    left = max(0, int(min(line["box"][0] for line in column) - max(2.0, 0.3 * height)))
    top = min(prepared.height - 1, int(anchor["box"][3] + 1))
    bottom = min(prepared.height, int(anchor["box"][3] + 14 * height))
    if bottom - top < 3 or prepared.width - left < 3:
        return []
    region = prepared.crop((left, top, prepared.width, bottom))
    pixels, width = region.tobytes(), region.width
    rows = [sum(1 for value in pixels[y * width:(y + 1) * width] if value < 128) for y in range(region.height)]
    bands, start, gap = [], None, 0
    for y, count in enumerate(rows + [0, 0, 0]):
        if count >= 2:
            start, gap = (y if start is None else start), 0
        elif start is not None:
            gap += 1
            if gap > max(1, int(0.25 * height)):
                bands.append((start, y - gap + 1))
                start, gap = None, 0
    result = []
    for y0, y1 in bands:
        band_height = y1 - y0
        if band_height < 3 or band_height > 3 * height:
            continue
        columns = [x for x in range(width) if min(pixels[y * width + x] for y in range(y0, y1)) < 128]
        pad = max(2, int(0.45 * band_height))
        result.append((left + max(0, columns[0] - band_height // 2), max(0, top + y0 - pad),
                       min(prepared.width, left + columns[-1] + band_height + 1),
                       min(prepared.height, top + y1 + pad), float(band_height)))
    return result[:5]


def _read_lines(prepared: t.Any, bands: list[tuple[int, int, int, int, float]], target: int,
                ) -> tuple[list[str], list[dict[str, t.Any]]]:
    texts, words = [], []
    for left, top, right, bottom, height in bands:
        crop = prepared.crop((left, top, right, bottom))
        factor = max(1.0, min(8.0, target / max(1.0, height)))
        crop = ImageOps.expand(_scaled(crop, factor), border=12, fill=255)
        ocr = _tesseract(crop, 7, factor, offset=(left - 12 / factor, top - 12 / factor))
        for line in ocr.lines:
            texts.append(line["text"])
            words.extend(line["words"])
    return texts, words


def _word_confidence(value: str, words: list[dict[str, t.Any]]) -> float | None:
    """The lowest tesseract confidence among the words the value was read from."""
    confidences = []
    for token in value.split():
        matches = [w["conf"] for w in words if w["text"].strip(_TRAILING + "|") == token.strip(_TRAILING + "|")
                   or token in w["text"]]
        if matches:
            confidences.append(max(matches))
    return min(confidences) if confidences else None


def _checked(candidates: list[_Candidate], words: list[dict[str, t.Any]], read: str) -> list[_Candidate]:
    """Candidates of one OCR run, marked with the run and with tesseract's doubts about hex digits.

    A hex code read cleanly may still have one digit wrong (a blurred 'a' read as '8') and give
    another valid code; a name that matches the table exactly is its own check, so only hex values
    are held to tesseract's word confidence.
    """
    checked = []
    for candidate in candidates:
        candidate = candidate._replace(read=read)
        if not candidate.is_name and not candidate.notes:
            confidence = _word_confidence(candidate.value, words)
            if confidence is not None and confidence < MIN_WORD_CONFIDENCE:
                candidate = candidate._replace(
                    unsure=f"tesseract was unsure of {candidate.value!r} ({confidence:.0f}% confidence) and no "
                           "second reading confirmed it")
        checked.append(candidate)
    return checked


def _settled(candidates: list[_Candidate], failures: list[tuple[str, str]]) -> bool:
    stop_code, _reason = _choose(candidates, failures)
    return bool(stop_code) and stop_code["confidence"] == "high"


def _unreadable(reason: str, image_info: dict[str, t.Any] | None = None, engine: str | None = None,
                seconds: float | None = None) -> dict[str, t.Any]:
    return {"screen": "unreadable", "stop_code": None, "reason": reason, "status_code": None, "text": "",
            "image": image_info, "ocr": {"engine": engine, "seconds": seconds} if engine else None}


def read_screenshot(data: bytes) -> dict[str, t.Any]:
    """Classify a boot-diagnostics screenshot and read its stop code.

    {
      "screen": "stop" | "boot_manager" | "other" | "blank" | "unreadable",
      "stop_code": None | {"code": "0xC000021A", "name": "STATUS_SYSTEM_PROCESS_TERMINATED" or None,
                           "source": "screenshot_ocr", "confidence": "high" | "low", "read_as": "..."},
      "reason": None | str,        # why stop_code is None, or why its confidence is low
      "status_code": None | str,   # boot manager screens: the Status line ("0xC0000017")
      "text": str,                 # the OCR text, whitespace-normalised, at most 2000 chars
      "image": {"format": "BMP", "width": 800, "height": 600} | None,
      "ocr": {"engine": "tesseract 5.3.0", "seconds": 0.42} | None,
    }
    Never raises for bad input: what cannot be read is "unreadable" with a reason.
    """
    try:
        image = _decode(bytes(data or b""))
    except ValueError as error:
        return _unreadable(str(error))
    image_info = {"format": image.format or "unknown", "width": image.width, "height": image.height}
    started = time.perf_counter()
    rgb = _rgb(image)
    layout = _layout(rgb)
    # Neither of these needs OCR.
    if _is_blank(rgb, layout):
        return {"screen": "blank", "stop_code": None, "status_code": None, "text": "", "image": image_info,
                "ocr": None,
                "reason": f"the screenshot is blank (one colour, RGB {layout.background}): the VM shows nothing "
                          "yet; it may still be starting, or its display is off"}
    if layout.share < MIN_BACKGROUND_SHARE:
        return {"screen": "other", "stop_code": None, "status_code": None, "text": "", "image": image_info,
                "ocr": None,
                "reason": f"the screenshot is not a stop screen: it has no plain background (only "
                          f"{layout.share:.0%} of it is one colour), so it is a picture or noise, not text on a "
                          "console"}
    if pytesseract is None:
        return _unreadable(f"pytesseract is not installed, so the screenshot cannot be read: {INSTALL_HINT}",
                           image_info)
    engine = ocr_engine()
    if engine is None:
        return _unreadable(f"the tesseract program was not found, so the screenshot cannot be read: {INSTALL_HINT}",
                           image_info)
    try:
        prepared = _prepare(rgb, layout.background)
        scale = max(1.0, min(4.0, PASS1_WIDTH / prepared.width))
        first = _tesseract(_scaled(prepared, scale), 3, scale)
        texts = [line["text"] for line in sorted(first.lines, key=lambda line: line["box"][1])]
        words = [w for line in first.lines for w in line["words"]]
        if len("".join(texts)) < 20:
            # Next to nothing read: sparse-text segmentation finds text that block layout misses.
            sparse = _tesseract(_scaled(prepared, scale), 11, scale)
            texts = [line["text"] for line in sorted(sparse.lines, key=lambda line: line["box"][1])]
            words = [w for line in sparse.lines for w in line["words"]]
            first = sparse
        text = "\n".join(texts)
        parsed = _parse(text)
        candidates = _checked(parsed.candidates, words, "page")
        failures = list(parsed.failures)
        if parsed.screen == "stop" and not _settled(candidates, failures):
            # The code's line again, cut out and scaled up: small text beside a QR code reads far
            # better alone. Where pass 1 saw no label, the rows under the text it did read.
            bands = _label_bands(first, prepared) or _rows_below(first, prepared)
            contrast = _prepare(rgb, layout.background, contrast=True)
            for target in LINE_HEIGHTS:
                if not bands:
                    break
                line_texts, line_words = _read_lines(contrast, bands[:6], target)
                more, more_failures = _stop_candidates(_lines("\n".join(line_texts)))
                candidates += _checked(more, line_words, f"lines@{target}")
                failures += more_failures
                if _settled(candidates, failures):
                    break
    except (pytesseract.TesseractError, RuntimeError, OSError) as error:
        return _unreadable(f"tesseract failed on the screenshot: {str(error)[:200]}", image_info, engine,
                           round(time.perf_counter() - started, 3))
    stop_code, reason = _choose(candidates, failures) if parsed.screen == "stop" else (None, None)
    result = _screen_result(parsed, stop_code, reason)
    if parsed.screen == "other" and not text.strip():
        result["reason"] = "the screenshot is not a stop screen: no text could be read on it"
    result.update(text=normalise_text(text), image=image_info,
                  ocr={"engine": engine, "seconds": round(time.perf_counter() - started, 3)})
    return result
