"""Deterministic seed data: Dutch statuses with chances, employees, forecast groups and forecasts."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

from crmsync_afas.sandbox.state import Forecast, Status, World

STATUSES = (
    Status("SUS", "Suspect", Decimal(10)),
    Status("PRO", "Prospect", Decimal(20)),
    Status("BEH", "Behoefte vastgesteld", Decimal(35)),
    Status("OFF", "Offerte uitgebracht", Decimal(50)),
    Status("ONH", "Onderhandeling", Decimal(70)),
    Status("MON", "Mondeling akkoord", Decimal(90)),
    Status("INT", "Intern overleg", None),  # a status without a chance: the percentage is set by hand
)
EMPLOYEES = {
    "KEESZ": "Kees de Zwart",
    "ANNEV": "Anne Visser",
    "JORISB": "Joris Bakker",
    "FATIMAE": "Fatima El Amrani",
}
GROUPS = {"NIEUW": "Nieuwe klanten", "BEST": "Bestaande klanten", "PART": "Partners"}
ORGANISATIONS = (
    "Bakkerij de Korenschoof",
    "Installatiebedrijf Smit",
    "Gemeente Zeewolde",
    "Stichting Zorgpunt",
    "Transport Van Dijk",
    "Drukkerij Hoogland",
    "Advocatenkantoor Meijer",
    "Kinderopvang De Regenboog",
    "Autobedrijf Jansen",
    "Hotel De Gouden Leeuw",
)
TOPICS = ("Website redesign", "Licentie-uitbreiding", "Implementatie", "Onderhoudscontract", "Training", "Migratie")
LOST_REASONS = ("PRIJS", "TIMING", "CONC")
COMPETITORS = ("Exact", "Visma", "Unit4")


def seed_world(*, deals: int, seed: int) -> World:
    """A world of `deals` forecasts, the same for the same `seed`: about 70 % open, 15 % scored, 15 % not."""
    rng = random.Random(seed)
    statuses = {s.code: s for s in STATUSES}
    relations = {str(10100 + 11 * i): name for i, name in enumerate(ORGANISATIONS)}
    world = World(statuses, dict(EMPLOYEES), dict(GROUPS), relations, {})
    sequences: dict[str, int] = {}
    base = datetime(2025, 1, 6, 9, 0, 0)
    for index in range(deals):
        relation = rng.choice(sorted(relations))
        sequences[relation] = sequences.get(relation, 0) + 1
        status = rng.choice(STATUSES)
        roll = rng.random()
        result = "O" if roll < 0.7 else ("G" if roll < 0.85 else "N")
        # Spread over 2025 whatever the count, so every seeded change lies in the past.
        created = base + timedelta(minutes=index * (300 * 24 * 60) // max(deals, 1) + rng.randrange(0, 600))
        # A spread that crosses both DST changes of 2025 (30 March, 26 October).
        modified = created + timedelta(days=rng.randrange(0, 40), minutes=rng.randrange(0, 1440))
        start = created.date()
        end = start + timedelta(days=rng.randrange(14, 200))
        forecast = Forecast(
            relation=relation,
            sequence=sequences[relation],
            description=f"{rng.choice(TOPICS)} {relations[relation].split()[0]}",
            employee=rng.choice(sorted(EMPLOYEES)),
            start=start,
            end=end if rng.random() > 0.1 else None,
            group=rng.choice(sorted(GROUPS)) if rng.random() > 0.1 else None,
            status=status.code,
            chance=status.chance if status.chance is not None else Decimal(rng.choice((15, 40, 60))),
            amount=Decimal(rng.randrange(10, 400) * 250) if rng.random() > 0.08 else None,
            currency="EUR" if rng.random() > 0.1 else "USD",
            result=result,
            created=created,
            modified=modified,
        )
        if result == "G":
            forecast.closed_on = min(end, date(2026, 1, 31))
            forecast.chance = Decimal(100)
        elif result == "N":
            forecast.closed_on = min(end, date(2026, 1, 31))
            forecast.chance = Decimal(0)
            forecast.reason = rng.choice(LOST_REASONS)
            forecast.lost_to = rng.choice(COMPETITORS) if forecast.reason == "CONC" else None
        world.forecasts[(relation, forecast.sequence)] = forecast
    return world
