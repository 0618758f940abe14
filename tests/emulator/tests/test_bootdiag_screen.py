"""The emulator's boot-diagnostics screenshots (vmrepair_emulator/bootdiag/screen.py).

The renderer draws the screens Azure serves (24-bit BMP at the console's size); the proof that
they look like the real thing is that the collection's own OCR (plugins/module_utils/_screen_ocr.py)
reads the right stop code back from every style at every size, and tells the other screens apart.
The full matrix is in bench/ocr_bench.py; this file reads a diagonal of it, to stay fast.
"""
from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops

from vmrepair_emulator.bootdiag import screen
from vmrepair_emulator.testing import put_collection_on_path

put_collection_on_path()

from ansible_collections.vmrepair.azure.plugins.module_utils._bugcheck import (  # noqa: E402
    bugcheck_name,
    format_code,
    parse_code,
)
from ansible_collections.vmrepair.azure.plugins.module_utils._screen_ocr import (  # noqa: E402
    ocr_engine,
    read_screenshot,
)

needs_tesseract = pytest.mark.skipif(
    ocr_engine() is None, reason="tesseract is not installed (Debian package tesseract-ocr, pip install pytesseract)")

BACKGROUNDS = {"win8": screen.STOP_BLUE, "win10": screen.WIN10_BLUE, "win11": (0, 0, 0)}
CODES = ("0xC000021A", "0xEF", "0x7E", "0xD1", "0x50", "0xC00002E2", "0x133")
# Every style at every size once, the codes in turn: 9 reads instead of the bench's 63.
DIAGONAL = [(CODES[i % len(CODES)], screen.STYLES[i % 3], screen.SIZES[(i // 3) % 3]) for i in range(9)]


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _bits_per_pixel(bmp: bytes) -> int:
    return int.from_bytes(bmp[28:30], "little")  # BITMAPINFOHEADER biBitCount


@pytest.mark.parametrize("size", screen.SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@pytest.mark.parametrize("style", screen.STYLES)
def test_stop_screen_is_a_24_bit_bmp_of_the_console_size(style: str, size: tuple[int, int]) -> None:
    data = screen.stop_screen("0xC000021A", 40, style, size)
    image = _open(data)
    assert (image.format, image.size, image.mode) == ("BMP", size, "RGB")
    assert data[:2] == b"BM" and _bits_per_pixel(data) == 24
    assert image.getpixel((3, 3)) == BACKGROUNDS[style]
    assert (255, 255, 255) in {colour for _count, colour in image.getcolors(size[0] * size[1])}


@pytest.mark.parametrize("style", screen.STYLES)
def test_text_scales_with_the_console_size(style: str) -> None:
    # Where the drawing sits, as a fraction of the screen, is the same at every size.
    boxes = []
    for size in screen.SIZES:
        image = _open(screen.stop_screen("0xEF", 55, style, size))
        box = ImageChops.difference(image, Image.new("RGB", size, BACKGROUNDS[style])).getbbox()
        boxes.append([box[0] / size[0], box[1] / size[1], box[2] / size[0], box[3] / size[1]])
    for box in boxes[1:]:
        assert all(abs(a - b) < 0.02 for a, b in zip(box, boxes[0])), boxes


def test_default_stop_screen_is_unchanged_for_existing_callers() -> None:
    image = _open(screen.stop_screen("0xC000021A"))  # publish.py's call
    assert image.size == (800, 600)
    red, _green, blue = image.getpixel((5, 5))
    assert blue > 150 and red < 60


def test_stop_code_text_is_the_name_below_0xc0000000_else_hex() -> None:
    assert screen.stop_code_text("0xEF") == "CRITICAL_PROCESS_DIED"
    assert screen.stop_code_text("0x133") == "DPC_WATCHDOG_VIOLATION"
    assert screen.stop_code_text("0xC000021A") == "0xc000021a"
    assert screen.stop_code_text("0x0BADC0DE") == "0x0badc0de"  # no name known: the hex value
    assert screen.stop_code_text("MANUALLY_INITIATED_CRASH") == "MANUALLY_INITIATED_CRASH"
    with pytest.raises(ValueError, match="unknown stop screen style"):
        screen.stop_screen("0xEF", style="vista")


@pytest.mark.parametrize("size", screen.SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_other_screens_have_the_console_size(size: tuple[int, int]) -> None:
    for data in (screen.boot_manager_screen("0xc000000e", size), screen.blank_screen(size),
                 screen.lock_screen(size=size), screen.linux_console(["login:"], size=size)):
        image = _open(data)
        assert (image.format, image.size, image.mode) == ("BMP", size, "RGB") and _bits_per_pixel(data) == 24
    assert _open(screen.blank_screen(size)).getextrema() == ((0, 0), (0, 0), (0, 0))
    boot_manager = _open(screen.boot_manager_screen(size=size))
    assert boot_manager.getpixel((size[0] // 2, size[1] // 2)) == (0, 0, 0)
    assert screen.BOOTMGR_GREY in {colour for _count, colour in boot_manager.getcolors(size[0] * size[1])}


@needs_tesseract
@pytest.mark.parametrize("code, style, size", DIAGONAL,
                         ids=[f"{code}-{style}-{size[0]}x{size[1]}" for code, style, size in DIAGONAL])
def test_collection_reads_the_stop_code_back(code: str, style: str, size: tuple[int, int]) -> None:
    result = read_screenshot(screen.stop_screen(code, 35, style, size))
    assert result["screen"] == "stop"
    assert result["image"] == {"format": "BMP", "width": size[0], "height": size[1]}
    stop_code = result["stop_code"]
    assert stop_code is not None, result["reason"]
    value = parse_code(code)
    assert stop_code["code"] == format_code(value) and stop_code["name"] == bugcheck_name(value)
    if value < 0xC0000000:
        # Shown as its name, which matches the names table exactly when read cleanly.
        assert stop_code["confidence"] == "high", result["reason"]
    else:
        assert stop_code["confidence"] == "high" or result["reason"]


@needs_tesseract
def test_collection_tells_the_other_screens_apart() -> None:
    lock = read_screenshot(screen.lock_screen(size=(800, 600)))
    assert lock["screen"] == "other" and lock["stop_code"] is None
    assert lock["reason"] == "the screenshot is not a stop screen"

    boot_manager = read_screenshot(screen.boot_manager_screen("0xc000000e", size=(1024, 768)))
    assert boot_manager["screen"] == "boot_manager" and boot_manager["stop_code"] is None
    assert boot_manager["status_code"] == "0xC000000E"

    blank = read_screenshot(screen.blank_screen((640, 480)))
    assert blank["screen"] == "blank" and blank["stop_code"] is None and blank["reason"]

    linux = read_screenshot(screen.linux_console(["Ubuntu 22.04.4 LTS web-02 ttyS0", "", "web-02 login:"]))
    assert linux["screen"] == "other" and linux["stop_code"] is None
