"""Where the store is: relative SQLite paths belong to the config file, a missing folder and a newer schema are
clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crmsync.config import anchored, load_config
from crmsync.errors import ConfigError, StoreError
from crmsync.store import Store


def test_a_relative_sqlite_path_resolves_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    (folder / "state").mkdir(parents=True)
    config = folder / "crmsync.toml"
    config.write_text('[store]\nurl = "sqlite:///state/crmsync.db"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # run from elsewhere
    assert load_config(config).store.url == f"sqlite:///{folder / 'state' / 'crmsync.db'}"


@pytest.mark.parametrize(
    "url",
    ["sqlite:////var/lib/crmsync.db", "sqlite:///:memory:", "postgresql+psycopg://u:p@h/db", "sqlite://"],
)
def test_other_urls_are_left_alone(url: str) -> None:
    assert anchored(url, Path("/etc/crmsync")) == url


def test_a_store_in_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"store's folder .* does not exist") as info:
        Store(f"sqlite:///{tmp_path / 'missing' / 'crmsync.db'}", config_file="crmsync.toml")
    assert info.value.key == "store.url" and info.value.exit_code == 2


def test_a_store_made_by_a_newer_crmsync_says_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crmsync.db'}"
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"made by a newer crmsync .* upgrade crmsync"):
        Store(url)
