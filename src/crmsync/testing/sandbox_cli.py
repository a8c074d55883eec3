"""Run `crmsync sandbox NAME` as a user would, for connector tests of what the command prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def printed_base_url(connector: str, deals: int = 3) -> Iterator[str]:
    """Start `crmsync sandbox CONNECTOR` in a subprocess and yield the base URL it prints for it."""
    command = [str(Path(sys.executable).parent / "crmsync"), "sandbox", connector, "--deals", str(deals)]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Serving"):
                break
        found = re.search(rf"^{re.escape(connector)}\s+(\S+)", "".join(lines), re.MULTILINE)
        assert found, f"`crmsync sandbox {connector}` printed no base URL: {lines}"
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)
