"""Boot-diagnostics screenshots as Azure serves them: 800x600 BMP of the VM's console."""
from __future__ import annotations

import io
from datetime import datetime
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

SIZE = (800, 600)
STOP_BLUE = (16, 113, 170)  # the darker blue of the Windows 8 / Server 2012 R2-style stop screen
LOCK_BACKGROUND = (16, 37, 66)
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF")


@lru_cache(maxsize=16)
def _font(size: int, mono: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    name = "DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf"
    for directory in _FONT_DIRS:
        try:
            return ImageFont.truetype(f"{directory}/{name}", size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)  # Pillow's bundled font when no DejaVu is installed


def _bmp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="BMP")
    return out.getvalue()


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if draw.textlength(candidate, font=font) <= width:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def stop_screen(stop_code: str, percent: int = 100) -> bytes:
    """The Windows stop screen with the stop code in the "search online later" line."""
    image = Image.new("RGB", SIZE, STOP_BLUE)
    draw = ImageDraw.Draw(image)
    left, width = 70, SIZE[0] - 140
    draw.text((left, 70), ":(", font=_font(110), fill="white")
    y = 230
    body = _font(22)
    for line in _wrap(draw, "Your PC ran into a problem and needs to restart. We're just collecting some error "
                            "info, and then we'll restart for you.", body, width):
        draw.text((left, y), line, font=body, fill="white")
        y += 32
    y += 16
    draw.text((left, y), f"{percent}% complete", font=body, fill="white")
    y += 60
    small = _font(16)
    for line in _wrap(draw, "If you'd like to know more, you can search online later for this error: "
                            f"{stop_code}", small, width):
        draw.text((left, y), line, font=small, fill="white")
        y += 24
    return _bmp(image)


def lock_screen(moment: datetime | None = None) -> bytes:
    """A healthy Windows VM: the lock screen with the clock and the Ctrl+Alt+Delete hint."""
    moment = moment or datetime.now()
    image = Image.new("RGB", SIZE, LOCK_BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((40, 400), moment.strftime("%H:%M"), font=_font(96), fill="white")
    draw.text((44, 510), moment.strftime("%A, %B %d").replace(" 0", " "), font=_font(28), fill="white")
    hint = "Press Ctrl+Alt+Delete to unlock."
    font = _font(18)
    draw.text(((SIZE[0] - draw.textlength(hint, font=font)) / 2, 300), hint, font=font, fill="white")
    return _bmp(image)


def linux_console(lines: list[str]) -> bytes:
    """A Linux VM: the text console (black, light grey monospace)."""
    image = Image.new("RGB", SIZE, (0, 0, 0))
    draw = ImageDraw.Draw(image)
    font = _font(14, mono=True)
    y = 8
    for line in lines[-36:]:
        draw.text((8, y), line, font=font, fill=(192, 192, 192))
        y += 16
    return _bmp(image)
