"""Reading the stop code off a boot-diagnostics screenshot (plugins/module_utils/_screen_ocr.py).

Three layers: the text parser on crafted OCR text (misreads included), bad input that must never
give a stop code, and the real screenshots from Microsoft's Azure articles (../shared/realdata)
read with the real tesseract. Only the tests that run tesseract are skipped when it is missing.
"""
from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ansible_collections.vmrepair.azure.plugins.module_utils._screen_ocr import (
    normalise_text,
    ocr_engine,
    parse_screen_text,
    read_screenshot,
    to_png,
)

REALDATA = Path(__file__).resolve().parents[4].parent / "shared" / "realdata"
SCREENSHOTS = REALDATA / "screenshots"
SERIAL_CONSOLE_PNG = REALDATA / "serial" / "azure_serial_console_screenshot_bluescreen_0x80_NMI_win10-19041.png"
COLLECTIONS = Path(__file__).resolve().parents[4] / ".build" / "collections"

needs_tesseract = pytest.mark.skipif(
    ocr_engine() is None, reason="tesseract is not installed (Debian package tesseract-ocr, pip install pytesseract)")
needs_realdata = pytest.mark.skipif(
    not SCREENSHOTS.is_dir(), reason=f"real sample data not found at {REALDATA} (the shared/ tree beside the clone)")

WIN8 = ("Your PC ran into a problem and needs to restart. We're just collecting some error info, and then we'll "
        "restart for you. (5% complete)\n")
WIN10 = ("Your PC ran into a problem and needs to restart. We're just collecting some error info, and then we'll "
         "restart for you.\n80% complete\n"
         "For more information about this issue and possible fixes, visit https://www.windows.com/stopcode\n"
         "If you call a support person, give them this info:\n")


def _bmp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="BMP")
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# ---- the text parser ------------------------------------------------------------------------

def test_windows8_hex_code_read_cleanly_is_high_confidence() -> None:
    result = parse_screen_text(WIN8 + "If you'd like to know more, you can search online later for this error: "
                                      "0xc000021a")
    assert result["screen"] == "stop" and result["reason"] is None and result["status_code"] is None
    assert result["stop_code"] == {"code": "0xC000021A", "name": "STATUS_SYSTEM_PROCESS_TERMINATED",
                                   "source": "screenshot_ocr", "confidence": "high",
                                   "read_as": "for this error: 0xc000021a"}


def test_o_for_zero_is_corrected_with_low_confidence_and_a_reason() -> None:
    result = parse_screen_text(WIN8 + "you can search online later for this error: 0xCOOO021A")
    assert result["stop_code"]["code"] == "0xC000021A"
    assert result["stop_code"]["confidence"] == "low"
    assert result["stop_code"]["read_as"] == "for this error: 0xCOOO021A"
    assert "'O' -> '0' (3 places)" in result["reason"]


def test_l_for_one_and_a_misread_prefix_are_corrections_too() -> None:
    result = parse_screen_text(WIN10 + "Stop code: Oec0002lA")
    assert result["stop_code"]["code"] == "0xC00021A"  # one digit short: Windows prints all 8, so low
    assert result["stop_code"]["confidence"] == "low"
    assert "'Oe' read for the '0x' prefix" in result["reason"] and "'l' -> '1'" in result["reason"]
    assert "not a stop code this collection knows" in result["reason"]


@pytest.mark.parametrize("shown", ["CRITICAL_PROCESS_DIED", "CRITICAL PROCESS DIED"])
def test_windows10_name_with_underscores_or_spaces_maps_to_its_code(shown: str) -> None:
    result = parse_screen_text(WIN10 + f"Stop code: {shown}")
    assert result["stop_code"]["code"] == "0xEF"
    assert result["stop_code"]["name"] == "CRITICAL_PROCESS_DIED"
    assert result["stop_code"]["confidence"] == "high" and result["reason"] is None
    assert result["stop_code"]["read_as"] == f"Stop code: {shown}"


def test_name_one_letter_off_is_matched_with_low_confidence() -> None:
    result = parse_screen_text(WIN10 + "Stop code: CRITICAL PROCESS DED")
    assert result["stop_code"]["code"] == "0xEF" and result["stop_code"]["confidence"] == "low"
    assert "CRITICAL_PROCESS_DIED (1 letter differs)" in result["reason"]


def test_unknown_name_gives_no_code_and_quotes_what_was_read() -> None:
    result = parse_screen_text(WIN10 + "Stop code: CRITICAL PRCESS")
    assert result["screen"] == "stop" and result["stop_code"] is None
    assert result["reason"].startswith("the stop screen's code could not be read: 'Stop code: CRITICAL PRCESS'")
    assert "not a stop-code name this collection knows" in result["reason"]


def test_name_as_close_to_two_codes_is_not_guessed() -> None:
    # One letter from 0x7E's name and one from 0x1000007E's: either could be on the screen.
    result = parse_screen_text(WIN10 + "Stop code: SYSTEM THREAD EXCEPTION NOT HANDLEDM")
    assert result["stop_code"] is None
    assert "is as close to SYSTEM_THREAD_EXCEPTION_NOT_HANDLED" in result["reason"]


def test_longest_name_wins_over_its_prefix() -> None:
    result = parse_screen_text(WIN10 + "Stop code: SYSTEM THREAD EXCEPTION NOT HANDLED M")
    assert result["stop_code"]["code"] == "0x1000007E" and result["stop_code"]["confidence"] == "high"


def test_debugger_name_maps_through_the_debugger_table() -> None:
    result = parse_screen_text(WIN10 + "Stop code: WINLOGON_FATAL_ERROR")
    assert result["stop_code"]["code"] == "0xC000021A" and result["stop_code"]["confidence"] == "high"


def test_windows10_hex_code_and_short_codes() -> None:
    assert parse_screen_text(WIN10 + "Stop code: 0xc00002e2")["stop_code"]["code"] == "0xC00002E2"
    known_short = parse_screen_text(WIN10 + "Stop code: 0x7E")["stop_code"]
    assert known_short["code"] == "0x7E" and known_short["confidence"] == "high"
    unknown_short = parse_screen_text(WIN10 + "Stop code: 0x1234")
    assert unknown_short["stop_code"]["confidence"] == "low"
    assert "only 4 hex digits read" in unknown_short["reason"]


def test_unknown_full_code_needs_a_second_reading_and_no_known_neighbour() -> None:
    # One reading of a code the table does not know: a misread digit cannot be ruled out.
    unknown = parse_screen_text(WIN10 + "Stop code: 0xC0DE0001")
    assert unknown["stop_code"] == {"code": "0xC0DE0001", "name": None, "source": "screenshot_ocr",
                                    "confidence": "low", "read_as": "Stop code: 0xC0DE0001"}
    assert "no second reading confirmed it" in unknown["reason"]
    # 0xC0000222 is what a blurred 0xC0000221 (STATUS_IMAGE_CHECKSUM_MISMATCH) reads as.
    neighbour = parse_screen_text(WIN10 + "Stop code: 0xc0000222")
    assert neighbour["stop_code"]["code"] == "0xC0000222" and neighbour["stop_code"]["confidence"] == "low"
    assert "one misread digit away from 0xC0000221" in neighbour["reason"]


def test_value_wrapped_onto_the_next_line() -> None:
    result = parse_screen_text(WIN8 + "If you'd like to know more, you can search online later for this error:\n"
                                      "DRIVER_IRQL_NOT_LESS_OR_EQUAL")
    assert result["stop_code"]["code"] == "0xD1" and result["stop_code"]["confidence"] == "high"


def test_ems_text_on_the_serial_console_gives_the_name_but_not_the_parameters() -> None:
    text = ("!SAC>\nYour device ran into a problem and needs to restart.\n"
            "If you call a support person, give them this info:\nNMI_HARDWARE_FAILURE\n"
            "0x00000000004F4454\n0x0000000000000000\n")
    result = parse_screen_text(text)
    assert result["stop_code"]["code"] == "0x80" and result["stop_code"]["confidence"] == "high"
    parameters_only = parse_screen_text("Your device ran into a problem and needs to restart.\n"
                                        "If you call a support person, give them this info:\n0x00000000004F4454\n")
    assert parameters_only["stop_code"] is None and parameters_only["reason"]


def test_ems_xml_record_and_name_must_agree_for_high_confidence() -> None:
    record = '<INSTANCE CLASSNAME="BLUESCREEN">\n<PROPERTY NAME="STOPCODE" TYPE="string"><VALUE>"0x80"</VALUE>\n'
    agree = parse_screen_text(record + "give them this info:\nNMI_HARDWARE_FAILURE")
    assert agree["stop_code"]["code"] == "0x80" and agree["stop_code"]["confidence"] == "high"
    disagree = parse_screen_text(record + "give them this info:\nCRITICAL_PROCESS_DIED")
    assert disagree["stop_code"]["confidence"] == "low"
    assert "another reading gave" in disagree["reason"]


def test_sixteen_digits_are_a_parameter_never_a_stop_code() -> None:
    result = parse_screen_text(WIN10 + "Stop code: 0x00000000000000EF")
    assert result["stop_code"] is None
    assert "16 hexadecimal digits is too long for a stop code" in result["reason"]


def test_stopcode_url_is_not_a_label() -> None:
    result = parse_screen_text(WIN10.replace("If you call a support person, give them this info:\n", "")
                               + "visit https://www.windows.com/stopcode 0xC000021A")
    assert result["screen"] == "stop" and result["stop_code"] is None
    assert result["reason"] == "the screenshot shows a stop screen, but no stop code could be read on it"


def test_boot_manager_screen_reports_its_status_not_a_stop_code() -> None:
    text = ("Windows Boot Manager\nWindows failed to start. A recent hardware or software change might be the\n"
            "cause.\nFile: \\Windows\\system32\\winload.exe\nStatus: 0xc0000017\nInfo: The application or "
            "operating system couldn't be loaded because a required file is missing or contains errors.")
    result = parse_screen_text(text)
    assert result["screen"] == "boot_manager" and result["stop_code"] is None
    assert result["status_code"] == "0xC0000017"
    assert "Boot Manager" in result["reason"] and "STATUS_NO_MEMORY" in result["reason"]
    recovery = parse_screen_text("Recovery\nYour PC needs to be repaired\nError code: 0xc000000e")
    assert recovery["screen"] == "boot_manager" and recovery["status_code"] == "0xC000000E"


@pytest.mark.parametrize("text", ["Press Ctrl+Alt+Delete to unlock.\n9:41\nTuesday, March 5",
                                  "Ubuntu 22.04.4 LTS web-02 ttyS0\nweb-02 login:", ""])
def test_other_screens_have_no_stop_code(text: str) -> None:
    result = parse_screen_text(text)
    assert result == {"screen": "other", "stop_code": None, "status_code": None,
                      "reason": "the screenshot is not a stop screen"}


def test_text_is_whitespace_normalised_and_capped() -> None:
    assert normalise_text("  Your PC \t ran\r\n\n\n  into   a problem  \n") == "Your PC ran\ninto a problem"
    assert len(normalise_text("0x" * 5000)) == 2000


# ---- input that is not a readable screenshot ------------------------------------------------

@pytest.mark.parametrize("data, says", [
    (b"", "empty"),
    (bytes(random.Random(7).randrange(256) for _byte in range(4096)), "not an image"),
    (b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>", "text document"),
    (b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code></Error>', "text document"),
])
def test_bytes_that_are_not_an_image_are_unreadable(data: bytes, says: str) -> None:
    result = read_screenshot(data)
    assert result["screen"] == "unreadable" and result["stop_code"] is None and result["image"] is None
    assert says in result["reason"]
    with pytest.raises(ValueError, match=says):
        to_png(data)


def test_image_far_larger_than_a_console_is_refused() -> None:
    result = read_screenshot(_png(Image.new("1", (5000, 5000))))
    assert result["screen"] == "unreadable" and "5000x5000" in result["reason"]


@pytest.mark.parametrize("colour", [(0, 120, 215), (16, 113, 170), (0, 0, 0)])
def test_uniform_image_is_blank(colour: tuple[int, int, int]) -> None:
    image = Image.new("RGB", (800, 600), colour)
    image.paste((200, 200, 200), (40, 560, 52, 563))  # a text cursor does not make it a screen
    result = read_screenshot(_bmp(image))
    assert result["screen"] == "blank" and result["stop_code"] is None and result["text"] == ""
    assert result["image"] == {"format": "BMP", "width": 800, "height": 600}
    assert "blank" in result["reason"]


def test_random_noise_is_not_a_stop_screen() -> None:
    rng = random.Random(42)
    image = Image.frombytes("RGB", (640, 480), bytes(rng.randrange(256) for _byte in range(640 * 480 * 3)))
    result = read_screenshot(_png(image))
    assert result["screen"] == "other" and result["stop_code"] is None
    assert result["reason"].startswith("the screenshot is not a stop screen: it has no plain background")
    assert result["image"] == {"format": "PNG", "width": 640, "height": 480}


def test_to_png_is_lossless_and_scales_keeping_the_aspect_ratio() -> None:
    rng = random.Random(3)
    image = Image.frombytes("RGB", (800, 600), bytes(rng.randrange(256) for _byte in range(800 * 600 * 3)))
    png = to_png(_bmp(image))
    decoded = Image.open(io.BytesIO(png))
    assert decoded.format == "PNG" and decoded.size == (800, 600)
    assert decoded.convert("RGB").tobytes() == image.tobytes()
    thumbnail = Image.open(io.BytesIO(to_png(_bmp(image), max_width=320)))
    assert thumbnail.size == (320, 240)
    assert Image.open(io.BytesIO(to_png(_bmp(image), max_width=1024))).size == (800, 600)  # never scaled up
    with pytest.raises(ValueError, match="max_width"):
        to_png(_bmp(image), max_width=0)


_WITHOUT = """
import json, sys
sys.path.insert(0, {collections!r})
for name in {blocked!r}:
    sys.modules[name] = None  # import fails as if the package were not installed
{setup}
from ansible_collections.vmrepair.azure.plugins.module_utils import _screen_ocr
data = sys.stdin.buffer.read()
result = _screen_ocr.read_screenshot(data)
try:
    _screen_ocr.to_png(data)
    png = "ok"
except ValueError as error:
    png = str(error)
print(json.dumps({{"result": result, "engine": _screen_ocr.ocr_engine(), "png": png}}))
"""


def _run_without(blocked: list[str], setup: str = "") -> dict:
    image = Image.new("RGB", (320, 240), (0, 120, 215))
    image.paste((255, 255, 255), (20, 100, 300, 120))
    code = _WITHOUT.format(collections=str(COLLECTIONS), blocked=blocked, setup=setup)
    done = subprocess.run([sys.executable, "-c", code], input=_bmp(image), capture_output=True, check=True,
                          timeout=120)
    return json.loads(done.stdout)


def test_without_pillow_and_pytesseract_the_module_imports_and_says_what_to_install() -> None:
    out = _run_without(["PIL", "PIL.Image", "PIL.ImageOps", "pytesseract"])
    assert out["engine"] is None
    assert out["result"]["screen"] == "unreadable" and out["result"]["stop_code"] is None
    for hint in ("pip install pillow pytesseract", "tesseract-ocr", "tesseract"):
        assert hint in out["result"]["reason"]
    assert "Pillow is not installed" in out["png"]


def test_without_pytesseract_the_image_is_decoded_but_not_read() -> None:
    out = _run_without(["pytesseract"])
    assert out["result"]["screen"] == "unreadable"
    assert out["result"]["image"] == {"format": "BMP", "width": 320, "height": 240}
    assert out["result"]["reason"].startswith("pytesseract is not installed")
    assert out["png"] == "ok"


def test_without_the_tesseract_program_the_reason_names_the_package() -> None:
    out = _run_without([], setup="import pytesseract\npytesseract.pytesseract.tesseract_cmd = '/nonexistent/tesseract'")
    assert out["engine"] is None
    assert out["result"]["screen"] == "unreadable"
    assert "tesseract program was not found" in out["result"]["reason"] and "tesseract-ocr" in out["result"]["reason"]


# ---- real screenshots from Microsoft's Azure troubleshooting articles ---------------------

REAL_STOP_SCREENS = [
    ("stop_0xC000021A_azure_bootdiag_cropped.png", "0xC000021A", "STATUS_SYSTEM_PROCESS_TERMINATED"),
    ("stop_CRITICAL_PROCESS_DIED_0xEF_azure_bootdiag.jpg", "0xEF", "CRITICAL_PROCESS_DIED"),
    ("stop_SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_0x7E_azure_bootdiag.png", "0x7E", "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED"),
    ("stop_DRIVER_IRQL_NOT_LESS_OR_EQUAL_0xD1_myfault_azure_bootdiag_cropped.png", "0xD1",
     "DRIVER_IRQL_NOT_LESS_OR_EQUAL"),
    ("stop_BAD_SYSTEM_CONFIG_INFO_0x74_azure_bootdiag_cropped.png", "0x74", "BAD_SYSTEM_CONFIG_INFO"),
    ("stop_0xC00002E2_azure_bootdiag_cropped.png", "0xC00002E2", "STATUS_DS_INIT_FAILURE"),
]


@needs_tesseract
@needs_realdata
@pytest.mark.parametrize("name, code, bugcheck", REAL_STOP_SCREENS, ids=[case[1] for case in REAL_STOP_SCREENS])
def test_real_stop_screen(name: str, code: str, bugcheck: str) -> None:
    data = (SCREENSHOTS / name).read_bytes()
    result = read_screenshot(data)
    with Image.open(io.BytesIO(data)) as image:
        assert result["image"] == {"format": image.format, "width": image.width, "height": image.height}
    assert result["screen"] == "stop" and result["status_code"] is None
    stop_code = result["stop_code"]
    assert stop_code is not None, result["reason"]
    assert (stop_code["code"], stop_code["name"], stop_code["source"]) == (code, bugcheck, "screenshot_ocr")
    assert stop_code["confidence"] in ("high", "low")  # OCR is never "certain"
    assert (result["reason"] is None) == (stop_code["confidence"] == "high")
    assert stop_code["read_as"]
    assert "ran into a problem" in result["text"] and len(result["text"]) <= 2000
    assert result["ocr"]["engine"].startswith("tesseract ") and result["ocr"]["seconds"] > 0


@needs_tesseract
@needs_realdata
def test_real_boot_manager_screen_is_not_a_stop_screen() -> None:
    result = read_screenshot((SCREENSHOTS / "not_a_stop_screen_bootmgr_0xc0000017_azure_bootdiag.png").read_bytes())
    assert result["screen"] == "boot_manager" and result["stop_code"] is None
    assert result["status_code"] == "0xC0000017"
    assert "not a stop screen" in result["reason"]
    assert "Windows failed to start" in result["text"]


@needs_tesseract
@needs_realdata
def test_real_serial_console_capture_reads_nmi_hardware_failure() -> None:
    result = read_screenshot(SERIAL_CONSOLE_PNG.read_bytes())
    assert result["screen"] == "stop"
    assert result["stop_code"] is not None and result["stop_code"]["code"] == "0x80"
    assert result["stop_code"]["name"] == "NMI_HARDWARE_FAILURE"
    # The parameters below the name (0x00000000004F4454 ...) are never taken for the code.
    assert "4F4454" not in result["stop_code"]["read_as"]
