"""`crmsync sandbox simplicate` prints the base URL to configure, API prefix included."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx


def test_the_printed_base_url_carries_the_api_prefix() -> None:
    command = [str(Path(sys.executable).parent / "crmsync"), "sandbox", "simplicate", "--deals", "3"]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Serving"):
                break
        found = re.search(r"^simplicate\s+(\S+)", "".join(lines), re.MULTILINE)
        assert found, lines
        url = found.group(1)
        assert url.endswith("/api/v2"), url
        # the printed URL reaches the API: without credentials its endpoints answer 401, not 404
        assert httpx.get(url + "/sales/sales").status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
