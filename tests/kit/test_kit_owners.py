"""`Reference.owners` and `crmsync.kit.owners`: names and emails filled from the CRM's users, never at any cost."""

from __future__ import annotations

import logging

import pytest
from support import make_deal

from crmsync.connector import Reference
from crmsync.errors import ApiError, AuthError
from crmsync.kit.owners import person, read_owners
from crmsync.model import Owner


def test_a_deal_gets_the_users_name_and_email_but_keeps_what_its_record_said() -> None:
    reference = Reference(
        pipelines={}, stages={}, owners={"7": Owner(id="7", name="Anne Visser", email="anne@example.com")}
    )
    bare = make_deal(owner=Owner(id="7"))
    assert reference.owner(bare).owner == Owner(id="7", name="Anne Visser", email="anne@example.com")
    named = make_deal(owner=Owner(id="7", name="A. Visser"))
    assert reference.owner(named).owner == Owner(id="7", name="A. Visser", email="anne@example.com")
    stranger = make_deal(owner=Owner(id="8"))
    assert reference.owner(stranger) is stranger
    nobody = make_deal(owner=None)
    assert reference.owner(nobody) is nobody
    again = reference.owner(make_deal(source_id="2", owner=Owner(id="7")))
    assert again.owner is reference.owner(bare).owner, "deals of one owner share the merged Owner"
    assert reference.owner(named).owner == Owner(id="7", name="A. Visser", email="anne@example.com")
    reference.owners = {"7": Owner(id="7", name="Anne de Vries", email="anne@example.com")}  # users read again
    assert reference.owner(bare).owner == Owner(id="7", name="Anne de Vries", email="anne@example.com")


def test_owner_of_gives_the_owner_the_engine_would_and_the_deal_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anne = Owner(id="7", name="Anne Visser", email="anne@example.com")
    reference = Reference(pipelines={}, stages={}, owners={"7": anne})
    listed = make_deal(owner=reference.owner_of("7"))
    assert listed.owner == anne
    with monkeypatch.context() as patched:  # known by identity, without comparing models (1.5 µs a deal)
        patched.setattr(Owner, "__eq__", lambda *_: pytest.fail("owners compared"))
        assert reference.owner(listed) is listed, "already complete: no copy of the deal"
    assert reference.owner_of("7") is listed.owner, "one shared Owner per id"
    assert reference.owner(make_deal(owner=Owner(id="7"))).owner is listed.owner
    assert reference.owner_of("8") == Owner(id="8"), "an id the users do not know"
    reference.owners = {"7": Owner(id="7", name="Anne de Vries")}  # users read again
    assert reference.owner_of("7") == Owner(id="7", name="Anne de Vries")


def test_person_keeps_only_plausible_values() -> None:
    assert person(5, "  Eva  ", "eva@x.nl") == Owner(id="5", name="Eva", email="eva@x.nl")
    assert person("5", "", "no email") == Owner(id="5")
    assert person(None, "Eva", "eva@x.nl") is None


async def test_a_refused_users_endpoint_costs_names_not_the_run(caplog: pytest.LogCaptureFixture) -> None:
    async def forbidden() -> dict[str, Owner]:
        raise AuthError("GET /users answered 403", connection="c", status=403)

    async def missing() -> dict[str, Owner]:
        raise ApiError("GET /users answered 404", status=404, method="GET", path="/users", connection="c")

    with caplog.at_level(logging.WARNING):
        assert await read_owners("c", "users need scope X", forbidden) == {}
        assert await read_owners("c", "users", missing) == {}
    assert "users need scope X" in caplog.text

    async def expired() -> dict[str, Owner]:
        raise AuthError("GET /users answered 401", connection="c", status=401)

    async def broken() -> dict[str, Owner]:
        raise ApiError("GET /users answered 500", status=500, method="GET", path="/users", connection="c")

    for failing in (expired, broken):
        with pytest.raises((AuthError, ApiError)):
            await read_owners("c", "users", failing)
