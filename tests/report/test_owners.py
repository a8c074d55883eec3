"""Owners the config does not name: one person per CRM user, merged across CRMs by email."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from test_funnel import entry

from crmsync.report.figures import OwnerIndex


def test_the_same_user_id_in_two_crms_is_two_people_and_the_same_email_is_one() -> None:
    base = entry("X", "s1", "open", date(2026, 1, 1)).row
    hub = replace(base, connection="hubspot", owner_id="103", owner_name="Anna")
    pd = replace(base, connection="pipedrive", owner_id="103", owner_name="Bram")
    index = OwnerIndex([])
    a, b = index.resolve(hub), index.resolve(pd)
    assert a.key != b.key and (a.name, b.name) == ("Anna", "Bram")

    nameless = index.resolve(replace(hub, owner_name=None))
    assert nameless.name == "103 (hubspot)"  # not a bare number that looks like any CRM's user 103

    same = [index.resolve(replace(r, owner_email="Eva@Example.com")) for r in (hub, pd)]
    assert same[0].key == same[1].key == "~eva@example.com"
    assert not same[0].configured


def test_the_same_id_and_name_with_different_emails_are_two_people() -> None:
    base = entry("X", "s1", "open", date(2026, 1, 1)).row
    index = OwnerIndex([])
    one = index.resolve(replace(base, connection="hubspot", owner_id="7", owner_name="Jan", owner_email="jan@a.nl"))
    two = index.resolve(replace(base, connection="pipedrive", owner_id="7", owner_name="Jan", owner_email="jan@b.nl"))
    assert one.key != two.key and (one.email, two.email) == ("jan@a.nl", "jan@b.nl")
    again = index.resolve(replace(base, connection="simplicate", owner_id="x", owner_email="JAN@a.nl"))
    assert again.key == one.key, "the email, not the CRM or id, names the person"
