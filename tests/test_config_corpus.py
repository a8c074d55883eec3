"""A corpus of broken configurations and mappings, run through the real CLI: each must exit with its code (2 for
every configuration problem) and a message that names the file, the key and what is allowed — never a traceback.

`{url}` is the served fake CRM, `{tmp}` the test's folder, `{mapping}` the mapping file of the case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support import TOKEN_VAR, Served
from typer.testing import CliRunner

from crmsync.cli import cli
from crmsync.testing.fake import MAPPING_PATH

pytestmark = pytest.mark.usefixtures("fake_discovery")

BASE = """[store]
url = "sqlite:///{tmp}/state.db"

[connections.fake]
connector = "fake"
mapping = "{mapping}"

[connections.fake.settings]
base_url = "{url}"
token = "${CRMSYNC_TEST_FAKE_TOKEN}"
max_retries = 0
"""
MAPPING = MAPPING_PATH.read_text(encoding="utf-8")


@dataclass
class Case:
    id: str
    fragments: list[str]
    config: str = BASE
    mapping: str | bytes = MAPPING
    args: list[str] = field(default_factory=lambda: ["check"])
    code: int = 2
    raw: bytes | None = None  # the config file's bytes, when not text


def swap(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def mswap(old: str, new: str) -> str:
    return swap(old, new, MAPPING)


SETTING = "max_retries = 0\n"
CONN = 'connector = "fake"\n'

CASES = [
    # -- the file itself ---------------------------------------------------------------------------------------
    Case("config-not-utf8", ["crmsync.toml", "UTF-8"], raw="# caf\xe9\n".encode("latin-1") + BASE.encode()),
    Case("config-bad-toml", ["crmsync.toml", "not valid TOML", "line 1"], config="[store\n" + BASE),
    Case("config-duplicate-key", ["crmsync.toml", "not valid TOML"], config=swap(CONN, CONN + CONN)),
    Case("config-duplicate-table", ["crmsync.toml", "not valid TOML"], config=BASE + "\n[store]\nurl = 'x'\n"),
    Case(
        "config-missing",
        ["does-not-exist.toml", "file not found"],
        args=["--config", "{tmp}/does-not-exist.toml", "check"],
    ),
    Case(
        "mapping-missing",
        ["nothing-here.toml"],
        config=swap('mapping = "{mapping}"', 'mapping = "{tmp}/nothing-here.toml"'),
    ),
    Case("mapping-not-utf8", ["fake.toml", "UTF-8"], mapping="# caf\xe9\n".encode("latin-1") + MAPPING.encode()),
    Case("mapping-bad-toml", ["fake.toml", "not valid TOML"], mapping="[[stages]\n" + MAPPING),
    Case(
        "mapping-duplicate-key",
        ["fake.toml", "not valid TOML"],
        mapping=mswap('connector = "fake"\n', 'connector = "fake"\nconnector = "fake"\n'),
    ),
    # -- structure ---------------------------------------------------------------------------------------------
    Case(
        "connection-is-a-string",
        ["connections.fake", "table"],
        config='[store]\nurl = "sqlite:///{tmp}/s.db"\n[connections]\nfake = "hubspot"\n',
    ),
    Case("connections-is-a-list", ["connections", "must be a table", "not a list"], config='connections = ["fake"]\n'),
    Case(
        "settings-is-a-string",
        ["connections.fake.settings"],
        config=BASE.split("[connections.fake.settings]")[0] + 'settings = "none"\n',
    ),
    Case("unknown-top-level-key", ["colour", "unknown key", "allowed:"], config='colour = "blue"\n' + BASE),
    Case(
        "unknown-connection-key", ["connections.fake.retries", "unknown key"], config=swap(CONN, CONN + "retries = 3\n")
    ),
    Case("unknown-setting", ["connections.fake.settings.tokn", "tokn"], config=swap(SETTING, SETTING + 'tokn = "x"\n')),
    Case("owners-not-a-list", ["owners"], config='owners = "anna"\n' + BASE),
    Case(
        "owner-unknown-key",
        ["owners[0].phone", "unknown key"],
        config='[[owners]]\nname = "A"\nemail = "a@x.nl"\nphone = "1"\n' + BASE,
    ),
    Case("labels-unknown-category", ["labels", "maybe"], config='[labels]\nmaybe = "Misschien"\n' + BASE),
    Case(
        "store-not-a-table", ["store"], config=swap('[store]\nurl = "sqlite:///{tmp}/state.db"\n', 'store = "sqlite"\n')
    ),
    Case("store-url-a-number", ["store.url"], config=swap('url = "sqlite:///{tmp}/state.db"', "url = 5")),
    Case("connector-missing", ["connections.fake.connector", "required"], config=swap(CONN, "")),
    Case(
        "connector-unknown",
        ["no connector named 'hubspt'", "installed: fake"],
        config=swap(CONN, 'connector = "hubspt"\n'),
    ),
    # -- URLs --------------------------------------------------------------------------------------------------
    Case(
        "base-url-bad-ipv6",
        ["connections.fake.settings.base_url", "http://[::1"],
        config=swap('base_url = "{url}"', 'base_url = "http://[::1"'),
    ),
    Case(
        "base-url-ftp",
        ["connections.fake.settings.base_url", "http", "ftp://crm.example"],
        config=swap('base_url = "{url}"', 'base_url = "ftp://crm.example"'),
    ),
    Case(
        "base-url-not-a-url",
        ["connections.fake.settings.base_url", "not a url"],
        config=swap('base_url = "{url}"', 'base_url = "not a url"'),
    ),
    Case("base-url-empty", ["connections.fake.settings.base_url"], config=swap('base_url = "{url}"', 'base_url = ""')),
    Case(
        "store-mysql-no-driver",
        ["store.url", "mysql"],
        config=swap('url = "sqlite:///{tmp}/state.db"', 'url = "mysql://x/y"'),
    ),
    Case(
        "store-not-a-url",
        ["store.url", "sqlite:///"],
        config=swap('url = "sqlite:///{tmp}/state.db"', 'url = "not a url"'),
    ),
    Case(
        "store-missing-folder",
        ["store.url", "does not exist"],
        config=swap('url = "sqlite:///{tmp}/state.db"', 'url = "sqlite:///{tmp}/nope/state.db"'),
    ),
    # -- values ------------------------------------------------------------------------------------------------
    Case(
        "cron-out-of-range",
        ["connections.fake.schedule", "cron"],
        config=swap(CONN, CONN + 'schedule = "61 * * * *"\n'),
    ),
    Case("cron-words", ["connections.fake.schedule", "cron"], config=swap(CONN, CONN + 'schedule = "every night"\n')),
    Case(
        "cron-seven-fields",
        ["connections.fake.schedule", "5 fields"],
        config=swap(CONN, CONN + 'schedule = "0 0 2 * * * *"\n'),
    ),
    Case("timezone-unknown", ["timezone", "Mars/Base"], config='timezone = "Mars/Base"\n' + BASE),
    Case(
        "connection-timezone-unknown",
        ["connections.fake.timezone", "IANA"],
        config=swap(CONN, CONN + 'timezone = "Europe/Amsterdm"\n'),
    ),
    Case(
        "writeback-unknown",
        ["connections.fake.writeback", "dry-run"],
        config=swap(CONN, CONN + 'writeback = "maybe"\n'),
    ),
    Case("overlap-negative", ["connections.fake.overlap_minutes"], config=swap(CONN, CONN + "overlap_minutes = -5\n")),
    Case("overlap-text", ["connections.fake.overlap_minutes"], config=swap(CONN, CONN + 'overlap_minutes = "ten"\n')),
    Case("currency-lowercase", ["base_currency"], config='base_currency = "euro"\n' + BASE),
    Case("rate-zero", ["rates", "positive"], config="[rates]\nUSD = 0\n" + BASE),
    Case("rate-bad-code", ["rates", "three-letter"], config="[rates]\nusd = 0.9\n" + BASE),
    Case("rate-text", ["rates"], config='[rates]\nUSD = "lots"\n' + BASE),
    Case(
        "target-unknown-owner",
        ["targets[0].owner", "bram@x.nl"],
        config='[[targets]]\nowner = "bram@x.nl"\nperiod = "2026"\namount = 5\n' + BASE,
    ),
    Case(
        "target-bad-period",
        ["targets[0]", "2026-Q5"],
        config='[[owners]]\nname = "A"\nemail = "a@x.nl"\n'
        + '[[targets]]\nowner = "a@x.nl"\nperiod = "2026-Q5"\namount = 5\n'
        + BASE,
    ),
    Case(
        "env-not-set",
        ["connections.fake.settings.token", "CRMSYNC_UNSET_VAR"],
        config=swap("${CRMSYNC_TEST_FAKE_TOKEN}", "${CRMSYNC_UNSET_VAR}"),
    ),
    Case(
        "secret-missing",
        ["connections.fake.settings.token", "required"],
        config=swap('token = "${CRMSYNC_TEST_FAKE_TOKEN}"\n', ""),
    ),
    Case("retries-too-many", ["connections.fake.settings.max_retries"], config=swap(SETTING, "max_retries = 99\n")),
    Case(
        "timeout-zero",
        ["connections.fake.settings.timeout_seconds"],
        config=swap(SETTING, SETTING + "timeout_seconds = 0\n"),
    ),
    Case(
        "deal-url-without-id", ["deal_urls"], config='[report.deal_urls]\nfake = "https://crm.example/deals"\n' + BASE
    ),
    # -- mappings ----------------------------------------------------------------------------------------------
    Case("mapping-other-connector", ["hubspot", "fake"], mapping=mswap('connector = "fake"', 'connector = "hubspot"')),
    Case(
        "mapping-unknown-category",
        ["stages[0].category", "maybe"],
        mapping=mswap('category = "pipeline"', 'category = "maybe"'),
    ),
    Case(
        "mapping-probability-over-one",
        ["stages[0].probability"],
        mapping=mswap("probability = 0.10", "probability = 1.5"),
    ),
    Case("mapping-stage-missing", ["stages[0].stage", "required"], mapping=mswap('stage = "Lead"\n', "")),
    Case("mapping-unknown-top-key", ["fake.toml", "stagez"], mapping="stagez = 1\n" + MAPPING),
    Case(
        "mapping-unknown-option",
        ["options.pipline_label", "unknown option"],
        mapping=MAPPING + '\n[options]\npipline_label = "x"\n',
    ),
    Case("mapping-unknown-field", ["fields", "colour"], mapping=MAPPING + '\n[fields]\ncolour = "x"\n'),
    Case(
        "mapping-stage-crm-lacks",
        ["stages[3].stage 'Negotation' does not exist"],
        mapping=mswap('stage = "Negotiation"', 'stage = "Negotation"'),
    ),
    Case(
        "mapping-pipeline-crm-lacks",
        ["stages[0].pipeline 'Salez' does not exist"],
        mapping=mswap('pipeline = "Sales"', 'pipeline = "Salez"'),
    ),
    Case(
        "sync-stage-crm-lacks",
        ["Negotation"],
        mapping=mswap('stage = "Negotiation"', 'stage = "Negotation"'),
        args=["sync"],
    ),
    Case(
        "sync-pipeline-crm-lacks",
        ["Salez"],
        mapping=mswap('pipeline = "Sales"', 'pipeline = "Salez"'),
        args=["sync", "--dry-run"],
    ),
    # -- command line --------------------------------------------------------------------------------------------
    Case(
        "report-output-missing-folder",
        ["--output", "no/such/folder"],
        args=["report", "--output", "{tmp}/no/such/folder/r.html", "--format", "html"],
    ),
    Case("report-bad-period", ["unknown period 'someday'"], args=["report", "--period", "someday"]),
    Case("report-bad-from", ["--from/--to must be YYYY-MM-DD"], args=["report", "--from", "01-02-2026"]),
    Case("report-bad-format", ["--format must be terminal, json, csv or html"], args=["report", "--format", "pdf"]),
    Case("history-bad-format", ["--format must be terminal or json"], args=["history", "--format", "xml"]),
    Case("sync-unknown-connection", ["nope", "fake"], args=["sync", "--connection", "nope"]),
    Case("bad-log-level", ["--log-level"], args=["--log-level", "loud", "check"]),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_broken_configuration_exits_with_its_code_and_names_the_problem(
    case: Case, served: Served, tmp_path: Path
) -> None:
    mapping = tmp_path / "fake.toml"
    mapping.write_bytes(case.mapping if isinstance(case.mapping, bytes) else case.mapping.encode("utf-8"))
    config = tmp_path / "crmsync.toml"
    values = {"{url}": served.base_url, "{tmp}": tmp_path.as_posix(), "{mapping}": mapping.as_posix()}

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    if case.raw is not None:
        config.write_bytes(
            case.raw.replace(b"{url}", served.base_url.encode())
            .replace(b"{tmp}", values["{tmp}"].encode())
            .replace(b"{mapping}", values["{mapping}"].encode())
        )
    else:
        config.write_text(fill(case.config), encoding="utf-8")
    args = [fill(arg) for arg in case.args]
    if "--config" not in args:
        args = ["--config", str(config), *args]
    env = {TOKEN_VAR: served.box.token, "COLUMNS": "250", "NO_COLOR": "1", "CRMSYNC_CONFIG": None}
    result = CliRunner().invoke(cli, args, env=env)
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), f"traceback: {result.exception!r}"
    assert "Traceback" not in output
    assert result.exit_code == case.code, output
    for fragment in case.fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output}"


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)
