"""Boot-diagnostics screenshots as Azure serves them: 24-bit BMPs of the VM's console.

Azure captures the console at the VM's own resolution, so 640x480, 800x600 and 1024x768 are all
served; every layout here is drawn for 800x600 and scaled (positions and font sizes) to the size
asked for. The layouts follow real boot-diagnostics screenshots (../shared/realdata/screenshots):

- stop screens: "win8" (Windows 8 / Server 2012 R2: darker blue, the code in the "search online
  later for this error:" line), "win10" (Windows 10 / Server 2016+: brighter blue, QR code,
  "Stop code:" line), "win11" (the same layout on black);
- the Windows Boot Manager error screen ("Windows failed to start ... Status: 0xc0000017");
- a healthy lock screen, a Linux text console and a blank (black) console.

The stop-code names below are this emulated Windows' own table, kept apart from the collection's
so that a wrong name on either side shows up in the tests that read these screens back.
"""
from __future__ import annotations

import io
import random
from datetime import datetime
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

SIZE = (800, 600)
SIZES = ((640, 480), (800, 600), (1024, 768))
STYLES = ("win8", "win10", "win11")
STOP_BLUE = (16, 113, 170)  # the darker blue of the Windows 8 / Server 2012 R2-style stop screen
WIN10_BLUE = (0, 120, 215)
WIN11_BLACK = (0, 0, 0)
LOCK_BACKGROUND = (16, 37, 66)
BOOTMGR_GREY = (192, 192, 192)
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF")

# Names Windows prints on its stop screen (Microsoft's bug check code reference).
STOP_NAMES = {
    0x0000000A: "IRQL_NOT_LESS_OR_EQUAL",
    0x00000019: "BAD_POOL_HEADER",
    0x0000001A: "MEMORY_MANAGEMENT",
    0x0000001E: "KMODE_EXCEPTION_NOT_HANDLED",
    0x00000024: "NTFS_FILE_SYSTEM",
    0x0000003B: "SYSTEM_SERVICE_EXCEPTION",
    0x00000050: "PAGE_FAULT_IN_NONPAGED_AREA",
    0x00000074: "BAD_SYSTEM_CONFIG_INFO",
    0x0000007B: "INACCESSIBLE_BOOT_DEVICE",
    0x0000007E: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED",
    0x0000007F: "UNEXPECTED_KERNEL_MODE_TRAP",
    0x00000080: "NMI_HARDWARE_FAILURE",
    0x0000009F: "DRIVER_POWER_STATE_FAILURE",
    0x000000C2: "BAD_POOL_CALLER",
    0x000000D1: "DRIVER_IRQL_NOT_LESS_OR_EQUAL",
    0x000000E2: "MANUALLY_INITIATED_CRASH",
    0x000000ED: "UNMOUNTABLE_BOOT_VOLUME",
    0x000000EF: "CRITICAL_PROCESS_DIED",
    0x000000F4: "CRITICAL_OBJECT_TERMINATION",
    0x00000101: "CLOCK_WATCHDOG_TIMEOUT",
    0x00000109: "CRITICAL_STRUCTURE_CORRUPTION",
    0x00000124: "WHEA_UNCORRECTABLE_ERROR",
    0x00000133: "DPC_WATCHDOG_VIOLATION",
    0x00000139: "KERNEL_SECURITY_CHECK_FAILURE",
    0x00000154: "UNEXPECTED_STORE_EXCEPTION",
    0x1000007E: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M",
}


@lru_cache(maxsize=64)
def _font(size: float, mono: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    name = "DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf"
    for directory in _FONT_DIRS:
        try:
            return ImageFont.truetype(f"{directory}/{name}", size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)  # Pillow's bundled font when no DejaVu is installed


def _bmp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="BMP")  # RGB -> 24 bits per pixel, as Azure serves
    return out.getvalue()


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if not line or draw.textlength(candidate, font=font) <= width:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = (int(v) for v in size)
    if width < 320 or height < 240 or width > 4096 or height > 4096:
        raise ValueError(f"unsupported console size {width}x{height}")
    return width, height


class _Canvas:
    """An image of the given size with 800x600 design coordinates scaled onto it."""

    def __init__(self, size: tuple[int, int], background: tuple[int, int, int]) -> None:
        self.width, self.height = _check_size(size)
        self.k = min(self.width / SIZE[0], self.height / SIZE[1])
        self.image = Image.new("RGB", (self.width, self.height), background)
        self.draw = ImageDraw.Draw(self.image)

    def px(self, value: float) -> int:
        return round(value * self.k)

    def font(self, size: float, mono: bool = False) -> ImageFont.ImageFont:
        # Fractional sizes (Pillow >= 10.1), so that lines wrap at the same words at every size.
        return _font(max(6.0, round(size * self.k * 4) / 4), mono)

    def paragraph(self, x: float, y: float, text: str, size: float, spacing: float, right_margin: float = 40,
                  fill: object = "white") -> float:
        """Draws wrapped text at design (x, y); returns the design y below it."""
        font = self.font(size)
        for line in _wrap(self.draw, text, font, self.width - self.px(x) - self.px(right_margin)):
            self.draw.text((self.px(x), self.px(y)), line, font=font, fill=fill)
            y += spacing
        return y

    def bmp(self) -> bytes:
        return _bmp(self.image)


def stop_code_text(stop_code: str) -> str:
    """What a stop screen shows for a code: the name for a named bug check, else 0x + 8 hex digits.

    Windows 8 and later print the symbolic name of a bug check (below 0xC0000000) and the hex value
    of an NTSTATUS-style code such as 0xc000021a. Text that is not a hex code is shown as given.
    """
    try:
        code = int(str(stop_code).strip().strip('"'), 16)
    except ValueError:
        return str(stop_code)
    name = STOP_NAMES.get(code)
    if name and code < 0xC0000000:
        return name
    return f"0x{code:08x}"


def _qr_like(canvas: _Canvas, x: float, y: float, side: float, seed: str, ink: tuple[int, int, int]) -> None:
    """A square that looks like the stop screen's QR code: finder patterns and seeded modules."""
    modules = 25
    left, top, size = canvas.px(x), canvas.px(y), max(modules, canvas.px(side))
    cell = size / (modules + 2)  # one module of white quiet zone on each side
    canvas.draw.rectangle((left, top, left + size - 1, top + size - 1), fill="white")
    rng = random.Random(seed)
    finders = ((0, 0), (modules - 7, 0), (0, modules - 7))  # top-left corners of the 7x7 finder patterns

    def in_finder(col: int, row: int) -> bool:  # a finder pattern or the blank separator around it
        return any(fx - 1 <= col <= fx + 7 and fy - 1 <= row <= fy + 7 for fx, fy in finders)

    def module(col: int, row: int) -> None:
        x0, y0 = left + (col + 1) * cell, top + (row + 1) * cell
        canvas.draw.rectangle((round(x0), round(y0), round(x0 + cell) - 1, round(y0 + cell) - 1), fill=ink)

    for col in range(modules):
        for row in range(modules):
            if not in_finder(col, row) and rng.random() < 0.5:
                module(col, row)
    for fx, fy in finders:
        for i in range(7):
            for j in range(7):
                ring = max(abs(i - 3), abs(j - 3))
                if ring != 2:
                    module(fx + i, fy + j)


def _stop_win8(canvas: _Canvas, shown: str, percent: int) -> None:
    canvas.draw.text((canvas.px(70), canvas.px(70)), ":(", font=canvas.font(110), fill="white")
    y = canvas.paragraph(70, 230, "Your PC ran into a problem and needs to restart. We're just collecting some "
                                  "error info, and then we'll restart for you.", 22, 32, right_margin=70)
    y = canvas.paragraph(70, y + 16, f"{percent}% complete", 22, 32)
    canvas.paragraph(70, y + 28, f"If you'd like to know more, you can search online later for this error: {shown}",
                     16, 24, right_margin=70)


def _stop_win10(canvas: _Canvas, shown: str, percent: int, device: str, background: tuple[int, int, int],
                seed: str) -> None:
    left = 112
    canvas.draw.text((canvas.px(left), canvas.px(100)), ":(", font=canvas.font(80), fill="white")
    y = canvas.paragraph(left, 222, f"Your {device} ran into a problem and needs to restart. We're just collecting "
                                    "some error info, and then we'll restart for you.", 22, 32, right_margin=30)
    y = canvas.paragraph(left, y + 14, f"{percent}% complete", 22, 32)
    qr_top = y + 28
    _qr_like(canvas, left, qr_top, 96, seed, background)
    text_left = left + 108
    small = 12
    y = canvas.paragraph(text_left, qr_top, "For more information about this issue and possible fixes, visit "
                                            "https://www.windows.com/stopcode", small, 18, right_margin=20)
    y = canvas.paragraph(text_left, y + 18, "If you call a support person, give them this info:", small, 18)
    canvas.paragraph(text_left, y + 2, f"Stop code: {shown}", small, 18)


def stop_screen(stop_code: str, percent: int = 100, style: str = "win8", size: tuple[int, int] = SIZE) -> bytes:
    """A Windows stop screen for ``stop_code`` ("0xC000021A", "0xEF" ...) as a 24-bit BMP.

    style: "win8" (the code in the "search online later for this error:" line), "win10" (blue,
    QR code, "Stop code:" line), "win11" (the win10 layout on black, "Your device ...").
    """
    shown = stop_code_text(stop_code)
    percent = max(0, min(100, int(percent)))
    if style == "win8":
        canvas = _Canvas(size, STOP_BLUE)
        _stop_win8(canvas, shown, percent)
    elif style in ("win10", "win11"):
        background = WIN10_BLUE if style == "win10" else WIN11_BLACK
        canvas = _Canvas(size, background)
        _stop_win10(canvas, shown, percent, "PC" if style == "win10" else "device", background, str(stop_code))
    else:
        raise ValueError(f"unknown stop screen style {style!r}: expected one of {', '.join(STYLES)}")
    return canvas.bmp()


_BOOTMGR_TEXT = (
    "Windows failed to start. A recent hardware or software change might be the\n"
    "cause. To fix the problem:\n"
    "\n"
    "  1. Insert your Windows installation disc and restart your computer.\n"
    "  2. Choose your language settings, and then click \"Next.\"\n"
    "  3. Click \"Repair your computer.\"\n"
    "\n"
    "If you do not have this disc, contact your system administrator or computer\n"
    "manufacturer for assistance.\n"
)


def boot_manager_screen(status: str = "0xc0000017", size: tuple[int, int] = SIZE,
                        file: str = "\\Windows\\system32\\winload.exe",
                        info: str = "The application or operating system couldn't be loaded because a\n"
                                    "required file is missing or contains errors.") -> bytes:
    """The Windows Boot Manager error screen (black, grey text): not a stop screen."""
    canvas = _Canvas(size, (0, 0, 0))
    width, height = canvas.width, canvas.height
    columns = 80
    font = _font(max(6, int(width * 0.94 / columns / 0.602)), mono=True)  # DejaVu Sans Mono: 0.602 em a column
    line = round(font.size * 1.6)
    band = round(line * 1.25)
    margin = round(width * 0.02)
    canvas.draw.rectangle((0, round(line * 0.6), width - 1, round(line * 0.6) + band), fill=BOOTMGR_GREY)
    title = "Windows Boot Manager"
    title_y = round(line * 0.6) + (band - font.size) / 2
    canvas.draw.text(((width - canvas.draw.textlength(title, font=font)) / 2, title_y), title, font=font,
                     fill=(0, 0, 0))
    y = round(line * 0.6) + band + line
    info_lines = info.split("\n")
    details = ["", f"    File: {file}", "", f"    Status: {status}", "", f"    Info: {info_lines[0]}"]
    details += [f"          {rest}" for rest in info_lines[1:]]
    for text in _BOOTMGR_TEXT.split("\n") + details:
        canvas.draw.text((margin, y), text, font=font, fill=BOOTMGR_GREY)
        y += line
    canvas.draw.rectangle((0, height - band - round(line * 0.4), width - 1, height - round(line * 0.4)),
                          fill=BOOTMGR_GREY)
    footer_y = height - band - round(line * 0.4) + (band - font.size) / 2
    canvas.draw.text((margin, footer_y), "ENTER=OS Selection", font=font, fill=(0, 0, 0))
    right = "ESC=Recovery"
    canvas.draw.text((width - margin - canvas.draw.textlength(right, font=font), footer_y), right, font=font,
                     fill=(0, 0, 0))
    return canvas.bmp()


def blank_screen(size: tuple[int, int] = SIZE) -> bytes:
    """A console with nothing on it yet (a VM still starting): black."""
    return _Canvas(size, (0, 0, 0)).bmp()


def lock_screen(moment: datetime | None = None, size: tuple[int, int] = SIZE) -> bytes:
    """A healthy Windows VM: the lock screen with the clock and the Ctrl+Alt+Delete hint."""
    moment = moment or datetime.now()
    canvas = _Canvas(size, LOCK_BACKGROUND)
    draw = canvas.draw
    draw.text((canvas.px(40), canvas.px(400)), moment.strftime("%H:%M"), font=canvas.font(96), fill="white")
    draw.text((canvas.px(44), canvas.px(510)), moment.strftime("%A, %B %d").replace(" 0", " "), font=canvas.font(28),
              fill="white")
    hint = "Press Ctrl+Alt+Delete to unlock."
    font = canvas.font(18)
    draw.text(((canvas.width - draw.textlength(hint, font=font)) / 2, canvas.px(300)), hint, font=font, fill="white")
    return canvas.bmp()


def linux_console(lines: list[str], size: tuple[int, int] = SIZE) -> bytes:
    """A Linux VM: the text console (black, light grey monospace)."""
    canvas = _Canvas(size, (0, 0, 0))
    font = canvas.font(14, mono=True)
    step = canvas.px(16)
    rows = max(1, (canvas.height - canvas.px(16)) // step)
    y = canvas.px(8)
    for line in lines[-rows:]:
        canvas.draw.text((canvas.px(8), y), line, font=font, fill=(192, 192, 192))
        y += step
    return canvas.bmp()
