"""Finds connector plugins through the `crmsync.connectors` entry-point group.

A plugin that fails to import is reported by name with its error; the other connectors still work.
Tests build a `Registry` with explicit classes so installed plugins do not leak into them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import httpx
from pydantic import ValidationError

from crmsync import redact
from crmsync.config import error_from_validation
from crmsync.connector import Connector, ConnectorSettings
from crmsync.errors import ConfigError, ConnectorLoadError
from crmsync.mapping import Mapping

GROUP = "crmsync.connectors"


@dataclass(frozen=True)
class ConnectorInfo:
    """One installed connector, or the reason it could not be loaded."""

    name: str
    distribution: str | None
    version: str | None
    cls: type[Connector] | None
    error: str | None = None


def discover() -> dict[str, ConnectorInfo]:
    """Load every connector registered under the entry-point group; never raises."""
    found: dict[str, ConnectorInfo] = {}
    for entry in entry_points(group=GROUP):
        dist = entry.dist
        dist_name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        try:
            cls = entry.load()
            if not (isinstance(cls, type) and issubclass(cls, Connector)):
                raise TypeError(f"{entry.value} is not a crmsync.connector.Connector subclass")
        except Exception as exc:  # a broken plugin must not take the core down
            found[entry.name] = ConnectorInfo(entry.name, dist_name, version, None, f"{type(exc).__name__}: {exc}")
            continue
        found[entry.name] = ConnectorInfo(entry.name, dist_name, version, cls)
    return found


def url_problem(url: str) -> str | None:
    """What is wrong with a CRM's base URL, or None: it must be an http(s) URL with a host."""
    try:
        parsed = httpx.URL(url)
        parsed.port  # noqa: B018  (a bad port is only found when read)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        return f"{url!r} is not a URL ({exc}); give https://host/path"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return f"{url!r} is not an http(s) URL with a host; give https://host/path"
    return None


class Registry:
    """Name → connector class. Built from entry points unless given explicit classes."""

    def __init__(self, connectors: dict[str, type[Connector]] | None = None) -> None:
        if connectors is None:
            self.infos = discover()
        else:
            self.infos = {name: ConnectorInfo(name, None, None, cls) for name, cls in connectors.items()}

    def names(self) -> list[str]:
        return sorted(name for name, info in self.infos.items() if info.cls is not None)

    def get(self, name: str) -> type[Connector]:
        info = self.infos.get(name)
        if info is None:
            raise ConnectorLoadError(
                f"no connector named {name!r} is installed; installed: {', '.join(self.names()) or 'none'}"
            )
        if info.cls is None:
            raise ConnectorLoadError(f"connector {name!r} failed to load: {info.error}")
        return info.cls

    def settings(self, name: str, raw: dict[str, Any], *, file: str | None, key: str) -> ConnectorSettings:
        """Validate a connection's settings against its connector's model; register its secrets."""
        cls = self.get(name)
        try:
            settings = cls.Settings.model_validate(raw)
        except ValidationError as exc:
            raise error_from_validation(exc, file or "settings", prefix=key, model=cls.Settings) from None
        redact.register_model(settings)
        problem = url_problem(settings.base_url)
        if problem is not None:
            raise ConfigError(problem, file=file, key=f"{key}.base_url")
        return settings

    def build(
        self,
        name: str,
        connection: str,
        raw_settings: dict[str, Any],
        mapping: Mapping,
        *,
        file: str | None = None,
    ) -> Connector:
        """Create a connector for one connection, validating its settings and mapping."""
        cls = self.get(name)
        if mapping.connector != name:
            raise ConfigError(
                f"mapping is for connector {mapping.connector!r} but the connection uses {name!r}",
                file=mapping.path,
                key="connector",
            )
        mapping.check_fields(set(cls.canonical_fields))
        settings = self.settings(name, raw_settings, file=file, key=f"connections.{connection}.settings")
        return cls(connection, settings, mapping)
