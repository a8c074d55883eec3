"""`crmsync simulate`: the stored deals under a candidate mapping, worked out by hand."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmsync.cli import cli
from crmsync.config import load_config
from crmsync.errors import ConfigError
from crmsync.mapping import Mapping, load_mapping
from crmsync.model import Deal, DealStatus, ForecastCategory, Pipeline, Stage
from crmsync.rules import evaluate
from crmsync.simulate import simulate
from crmsync.store import Store
from crmsync.store.ledger import LedgerRow
from crmsync.store.vocabulary import Outcome
from crmsync.testing.fake import MAPPING_PATH

pytestmark = pytest.mark.usefixtures("fake_discovery")

TODAY = date.today()
SALES = Pipeline(id="sales", label="Sales")
STAGES = {
    "lead": Stage(id="lead", label="Lead", pipeline_id="sales", order=0, probability=D("0.1")),
    "proposal": Stage(id="proposal", label="Proposal", pipeline_id="sales", order=2, probability=D("0.5")),
    "negotiation": Stage(id="negotiation", label="Negotiation", pipeline_id="sales", order=3, probability=D("0.8")),
}


def deal(source_id: str, stage: str, amount: str, mapping: Mapping, probability: str | None = None) -> Deal:
    """A deal as the store holds it after a sync: remote values are what crmsync wrote (or a person set)."""
    base = Deal(
        connection="fake",
        source_id=source_id,
        name=f"Deal {source_id}",
        pipeline=SALES,
        stage=STAGES[stage],
        status=DealStatus.OPEN,
        amount=D(amount),
        currency="EUR",
        close_date=TODAY + timedelta(days=30),
    )
    forecast = evaluate(base, mapping, TODAY)
    wb = mapping.writeback
    return base.model_copy(
        update={
            "remote_category": wb.remote_category(forecast.category),
            "remote_probability": D(probability) if probability else wb.remote_probability(forecast.probability),
        }
    )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Store, Path]:
    config = tmp_path / "crmsync.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "state.db"}"\n\n[connections.fake]\nconnector = "fake"\n'
        f'mapping = "{MAPPING_PATH}"\n[connections.fake.settings]\nbase_url = "http://127.0.0.1:9"\n'
        'token = "${CRMSYNC_SIMULATE_TOKEN}"\n'
    )
    mapping = load_mapping(MAPPING_PATH)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    deals = [
        deal("N1", "negotiation", "1000", mapping),  # commit 80 %
        deal("P1", "proposal", "2000", mapping),  # best case at the stage's 50 %
        deal("L1", "lead", "500", mapping),  # pipeline 10 %
        deal("N2", "negotiation", "4000", mapping, probability="0.90"),  # a person set 90 % after we wrote 80 %
    ]
    run_id = store.start_run("fake", kind="sync", mode="apply", full=True, digest="d", cursor_before=None)
    pairs = []
    for d in deals:
        forecast = evaluate(d, mapping, TODAY)
        if d.source_id == "N2":  # the respected value is the forecast that stands
            forecast = forecast.model_copy(update={"probability": D("0.9"), "weighted_amount": D("3600.00")})
        pairs.append((d, forecast))
    store.save_page(run_id, "d", pairs, {})
    store.add_ledger([LedgerRow(run_id, "fake", "N2", "probability", "0.50", "0.80", Outcome.WRITTEN)])
    store.finish_run(run_id, "ok", {"fetched": 4, "stored": 4})

    candidate = tmp_path / "candidate.toml"
    text = MAPPING_PATH.read_text()
    text = text.replace(
        'stage = "Negotiation"\ncategory = "commit"\nprobability = 0.80',
        'stage = "Negotiation"\ncategory = "commit"\nprobability = 0.60',
    )
    text = text.replace('stage = "Proposal"\ncategory = "best_case"', 'stage = "Proposal"\ncategory = "commit"')
    assert text.count("0.60") == 1 and 'stage = "Proposal"\ncategory = "commit"' in text
    candidate.write_text(text)
    return config, store, candidate


def test_simulation_figures_worked_by_hand(setup: tuple[Path, Store, Path]) -> None:
    config_path, store, candidate = setup
    config = load_config(config_path, secrets=False)

    sim = simulate(store, config, candidate, [], TODAY)

    assert sim.connections == ["fake"] and sim.deals == 4
    c = ForecastCategory
    # before: commit N1 800 + N2 3600 (the person's 90 %), best case P1 1000, pipeline L1 50
    assert dict(sim.overall.before) == {c.COMMIT: D(4400), c.BEST_CASE: D(1000), c.PIPELINE: D(50)}
    # after: N1 at 60 % = 600, P1 moves to commit at 50 % = 1000, N2 keeps the respected 90 %, L1 unchanged
    after = {k: v for k, v in sim.overall.after.items() if v}
    assert after == {c.COMMIT: D(5200), c.PIPELINE: D(50)}
    assert sim.overall.deals_after[c.COMMIT] == 3
    moves = {m.source_id: (m.before, m.after) for m in sim.moves}
    assert moves == {
        "N1": ((c.COMMIT, D("0.8")), (c.COMMIT, D("0.6"))),
        "P1": ((c.BEST_CASE, D("0.5")), (c.COMMIT, D("0.5"))),
    }
    assert sim.moves[0].source_id == "N1"  # the largest weighted change (−200) first
    quarter = f"{(TODAY + timedelta(days=30)).year}-Q{((TODAY + timedelta(days=30)).month - 1) // 3 + 1}"
    assert set(sim.by["quarter"]) == {quarter}
    assert sim.by["connection"]["fake"].total("after") - sim.by["connection"]["fake"].total("before") == D(-200)


def test_a_mapping_for_another_connector_is_refused(setup: tuple[Path, Store, Path], tmp_path: Path) -> None:
    config_path, store, _ = setup
    other = tmp_path / "other.toml"
    other.write_text(MAPPING_PATH.read_text().replace('connector = "fake"', 'connector = "hubspot"'))
    with pytest.raises(ConfigError, match="no configured connection uses connector 'hubspot'"):
        simulate(store, load_config(config_path, secrets=False), other, [], TODAY)
    with pytest.raises(ConfigError, match="connection 'fake' uses 'fake'"):
        simulate(store, load_config(config_path, secrets=False), other, ["fake"], TODAY)


def test_cli_simulate_json_html_and_terminal(setup: tuple[Path, Store, Path], tmp_path: Path) -> None:
    config_path, _, candidate = setup
    runner = CliRunner()
    env = {"COLUMNS": "200", "NO_COLOR": "1", "CRMSYNC_CONFIG": None}  # no CRM secret needed

    out = runner.invoke(cli, ["-c", str(config_path), "simulate", "-m", str(candidate), "-f", "json"], env=env)
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["changed"] == 2 and data["overall"]["commit"]["weighted_after"] == "5200.00"
    assert data["overall"]["total"] == {"weighted_before": "5450.00", "weighted_after": "5250.00"}
    assert [m["source_id"] for m in data["moves"]] == ["N1", "P1"]

    page = tmp_path / "sim.html"
    out = runner.invoke(cli, ["-c", str(config_path), "simulate", "-m", str(candidate), "-f", "html", "-o", str(page)])
    assert out.exit_code == 0, out.output
    html = page.read_text()
    assert "Deal N1" in html and "<script" not in html and "default-src 'none'" in html

    out = runner.invoke(cli, ["-c", str(config_path), "simulate", "-m", str(candidate)], env=env)
    assert out.exit_code == 0, out.output
    assert "2 would change" in out.stdout and "Deal P1" in out.stdout

    missing = runner.invoke(cli, ["-c", str(config_path), "simulate", "-m", str(tmp_path / "nope.toml")], env=env)
    assert missing.exit_code == 2 and "nope.toml" in missing.stderr
