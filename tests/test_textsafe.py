"""CRM text cannot drive the operator's terminal: control characters never leave a crmsync console."""

from __future__ import annotations

import io

import pytest
from rich.table import Table

from crmsync.textsafe import REPLACEMENT, SafeConsole, safe

EVIL = [
    "\x1b[2J\x1b[H",  # clear the screen
    "\x1b]0;owned\x07",  # retitle the window (OSC … BEL)
    "fine\rFAKE",  # overwrite the line
    "\x9b31m",  # a C1 control sequence introducer
    "a\x00b\x7f",
]


@pytest.mark.parametrize("text", EVIL)
def test_safe_keeps_no_control_character(text: str) -> None:
    cleaned = safe(text)
    assert all(ch in "\t\n" or (ord(ch) >= 0x20 and not 0x7F <= ord(ch) <= 0x9F) for ch in cleaned)
    assert REPLACEMENT in cleaned


def test_tab_newline_and_text_stay() -> None:
    assert safe("Deal\tÅngström\n€ 1.000") == "Deal\tÅngström\n€ 1.000"


def test_a_console_writes_crm_text_harmlessly_but_keeps_its_own_colours() -> None:
    buffer = io.StringIO()
    console = SafeConsole(file=buffer, force_terminal=True, width=80)
    table = Table(title="deals")
    table.add_column("name", style="bold")
    for text in EVIL:
        table.add_row(text)
    console.print(table)
    out = buffer.getvalue()
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\x07" not in out and "\r" not in out
    assert "\x1b[1m" in out, "Rich's own styling still reaches the terminal"
