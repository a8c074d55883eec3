"""The `crmsync` command line with the installed HubSpot (and Pipedrive) connector (moved from the core's
tests/test_cli.py, which now runs on the fake connector): discovery of the installed distribution, HubSpot's
mapping, and `crmsync sandbox` serving the bundled sandboxes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from hubspot_support import ROOT, Served, serve_hubspot
from typer.testing import CliRunner, Result

from crmsync.cli import cli

TOKEN_VAR = "CRMSYNC_TEST_HUBSPOT_TOKEN"


@pytest.fixture
def served() -> Iterator[Served]:
    yield from serve_hubspot()


def write_config(tmp_path: Path, base_url: str, *, mapping: Path | None = None, extra: str = "") -> Path:
    path = tmp_path / "crmsync.toml"
    path.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "state.db"}"

[connections.hubspot]
connector = "hubspot"
mapping = "{mapping or ROOT / "mappings" / "hubspot.toml"}"
{extra}
[connections.hubspot.settings]
base_url = "{base_url}"
token = "${{{TOKEN_VAR}}}"
max_retries = 0
"""
    )
    return path


class Cli:
    def __init__(self, config: Path, token: str) -> None:
        self.config = config
        self.token = token
        self.runner = CliRunner()

    def __call__(self, *args: str, token: str | None = None) -> Result:
        env = {TOKEN_VAR: token or self.token, "COLUMNS": "250", "NO_COLOR": "1", "CRMSYNC_CONFIG": None}
        result = self.runner.invoke(cli, ["--config", str(self.config), *args], env=env)
        for stream in (result.stdout, result.stderr):
            assert self.token not in stream, "the secret never appears in the output"
        return result


@pytest.fixture
def run(served: Served, tmp_path: Path) -> Cli:
    return Cli(write_config(tmp_path, served.base_url), served.box.token)


def test_connectors_lists_hubspot_with_its_version(run: Cli) -> None:
    result = run("connectors")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if " hubspot " in line)
    assert "crmsync-hubspot" in line
    assert version("crmsync-hubspot") in line
    assert "ok" in line


def test_check_lists_unmapped_stages(served: Served, tmp_path: Path) -> None:
    text = (ROOT / "mappings" / "hubspot.toml").read_text()
    without = re.sub(r'\[\[stages\]\]\npipeline = "default"\nstage = "contractsent"\n[^\[]*', "", text)
    assert without != text
    mapping = tmp_path / "hubspot.toml"
    mapping.write_text(without)
    run = Cli(write_config(tmp_path, served.base_url, mapping=mapping), served.box.token)

    result = run("check")

    assert result.exit_code == 0, result.output
    assert "unmapped stage: Sales Pipeline / Contract sent (contractsent)" in result.stdout


def test_sandbox_command_serves_every_connector_on_loopback_with_credentials() -> None:
    """`crmsync sandbox` prints each base URL and its credentials, and the URLs answer like the CRMs."""
    import re
    import subprocess
    import sys

    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "crmsync.cli", "sandbox", "hubspot", "pipedrive", "--deals", "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        served: dict[str, dict[str, str]] = {}
        current = ""
        for line in proc.stdout:
            if match := re.match(r"(\w+)\s+(http://127\.0\.0\.1:\d+)", line):
                current = match.group(1)
                served[current] = {"base_url": match.group(2)}
            elif match := re.match(r"\s+(\w+) = (\S+)", line):
                served[current][match.group(1)] = match.group(2)
            elif line.startswith("Serving"):
                break
        assert set(served) == {"hubspot", "pipedrive"}
        hubspot = served["hubspot"]
        answer = httpx.get(
            f"{hubspot['base_url']}/crm/v3/objects/deals",
            params={"limit": 2},
            headers={"Authorization": f"Bearer {hubspot['token']}"},
        )
        assert answer.status_code == 200
        assert len(answer.json()["results"]) == 2
        pipedrive = served["pipedrive"]
        answer = httpx.get(f"{pipedrive['base_url']}/api/v2/deals", headers={"x-api-token": pipedrive["api_token"]})
        assert answer.json()["success"] is True
        refused = httpx.get(f"{pipedrive['base_url']}/api/v2/deals", headers={"x-api-token": "wrong"})
        assert refused.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
