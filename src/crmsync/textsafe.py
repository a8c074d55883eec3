"""Terminal safety: CRM text (a deal name, an owner, a reason) must not drive the operator's terminal.

A deal named "\\x1b[2J…" would clear the screen, an OSC sequence retitle the window, a carriage return overwrite a
line in cron mail. `safe()` replaces every control character (C0 but tab and newline, DEL, C1) by U+FFFD, so
the escape sequence shows as text; `SafeConsole` applies it to every piece of text a Rich console writes, while
Rich's own styling (emitted after this step) still works.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
REPLACEMENT = "\ufffd"


def safe(text: str) -> str:
    """`text` with every control character but tab and newline replaced by U+FFFD."""
    return _CONTROL.sub(REPLACEMENT, text)


class SafeConsole(Console):
    """A Rich console that never writes a control character it did not make itself."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(safe(segment.text), segment.style, segment.control)
            for segment in buffer
        )
