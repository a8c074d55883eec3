"""The configuration file: store, currency, labels, owners, targets and connections.

Secrets are never written in the file itself: a value `${NAME}` is read from the environment variable NAME.
Every problem raises `ConfigError` naming the file, the key and what is allowed.
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crmsync import schedules
from crmsync.config_service import ServiceConfig, WebhookConfig
from crmsync.errors import ConfigError
from crmsync.model import DEFAULT_LABELS, ForecastCategory

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PERIOD = re.compile(r"^\d{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_timezone(value: str) -> str:
    """`value` when it is an IANA time zone name; a ValueError that says so otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Amsterdam'") from None
    return value


class StoreConfig(_Model):
    url: str = Field(default="sqlite:///crmsync.db", description="SQLAlchemy URL; sqlite:/// or postgresql+psycopg://")

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        allowed = "use sqlite:///path/crmsync.db or postgresql+psycopg://user:password@host/database"
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL; {allowed}") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"crmsync stores in SQLite or PostgreSQL, not {url.get_backend_name()}; {allowed}")
        return value


class Person(_Model):
    """`[[owners]]`: one person across CRMs (their owner id per connection). A deal's owner, as a CRM names it, is
    `crmsync.model.Owner`; the report matches it to a Person by id or email."""

    name: str
    email: str
    team: str | None = None
    ids: dict[str, str] = Field(default_factory=dict, description="connection name → owner id in that CRM")


class Target(_Model):
    owner: str = Field(description="the owner's email")
    period: str = Field(description="YYYY, YYYY-Qn or YYYY-MM")
    amount: Decimal = Field(ge=0)

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        if not _PERIOD.match(value):
            raise ValueError(f"period {value!r} must look like 2026, 2026-Q4 or 2026-11")
        return value


_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")


class ReportConfig(_Model):
    """`[report]`: how the HTML report formats numbers and dates, and where deal links point."""

    locale: str | None = Field(
        default=None, description="like nl-NL or en-GB; default nl-NL when the labels are Dutch, else en-GB"
    )
    deal_urls: dict[str, str] = Field(
        default_factory=dict, description="connection name → link to a deal in its CRM, with {id}"
    )

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        if value is not None and not _LOCALE.match(value):
            raise ValueError(f"locale {value!r} must look like nl-NL or en-GB")
        return value

    @field_validator("deal_urls")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if not url.startswith(("https://", "http://")) or "{id}" not in url:
                raise ValueError(f"deal_urls.{name} must be an http(s) URL with {{id}} in it, not {url!r}")
        return value


class Connection(_Model):
    connector: str
    mapping: Path
    settings: dict[str, Any] = Field(default_factory=dict)
    schedule: str = Field(default="0 2 * * *", description="cron expression: minute hour day month weekday [second]")
    timezone: str | None = None
    writeback: Literal["apply", "dry-run"] = "apply"
    overlap_minutes: int = Field(default=10, ge=0, le=1440)
    reconcile_every: int = Field(
        default=4, ge=0, description="every Nth run also sweeps for deleted deals (0 = only full runs)"
    )
    webhook: WebhookConfig | None = None
    max_daily_share: float = Field(
        default=0.5, gt=0, le=1, description="the share of the CRM's daily request budget one run may spend"
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return schedules.check(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class Config(_Model):
    """The whole configuration, as validated."""

    store: StoreConfig = Field(default_factory=StoreConfig)
    timezone: str = "Europe/Amsterdam"
    base_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    rates: dict[str, Decimal] = Field(default_factory=dict, description="1 unit of the key = value × base")
    labels: dict[ForecastCategory, str] = Field(default_factory=dict)
    owners: list[Person] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)
    connections: dict[str, Connection] = Field(default_factory=dict)
    report: ReportConfig = Field(default_factory=ReportConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for code, rate in value.items():
            if not re.match(r"^[A-Z]{3}$", code):
                raise ValueError(f"currency {code!r} must be a three-letter ISO code")
            if rate <= 0:
                raise ValueError(f"rate for {code} must be positive")
        return value

    @model_validator(mode="after")
    def _targets_name_owners(self) -> Config:
        emails = {owner.email for owner in self.owners}
        for index, target in enumerate(self.targets):
            if target.owner not in emails:
                known = ", ".join(sorted(emails)) or "none"
                raise ValueError(
                    f"targets[{index}].owner {target.owner!r} is not the email of any [[owners]] entry; known: {known}"
                )
        return self

    def label(self, category: ForecastCategory) -> str:
        """The display label of a category, as configured (for example 'Pijplijn')."""
        return self.labels.get(category, DEFAULT_LABELS[category])

    def connection(self, name: str) -> Connection:
        try:
            return self.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.connections)) or "none"
            raise ConfigError(f"no connection named {name!r}; configured: {known}") from None

    def schedule(self, name: str) -> schedules.Schedule:
        """The connection's cron in its own time zone (the config's when it names none)."""
        connection = self.connection(name)
        return schedules.Schedule(connection.schedule, connection.timezone or self.timezone)

    def mapping_path(self, name: str) -> Path:
        path = self.connection(name).mapping
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path


def _expand(value: Any, key: str, file: str, environ: dict[str, str] | os._Environ[str], secrets: bool = True) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                if not secrets and key.startswith("connections."):
                    return match.group(0)  # a CRM credential the command will never send
                raise ConfigError(f"environment variable {name} is not set", file=file, key=key)
            return environ[name]

        return _ENV_REF.sub(replace, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{key}.{k}" if key else k, file, environ, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{key}[{i}]", file, environ, secrets) for i, v in enumerate(value)]
    return value


def _unwrap(annotation: Any) -> Any:
    """X from `X | None`."""
    if get_origin(annotation) in (Union, UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def allowed_keys(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[str] | None:
    """The keys the table at `loc` (the location of an unknown key) accepts, when `model` tells."""
    current: Any = model
    for part in loc[:-1]:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            continue
        args = get_args(current)
        if get_origin(current) in (list, tuple, set, frozenset) and args:
            current = args[0]
        elif get_origin(current) is dict and len(args) == 2:
            current = args[1]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(name for name, field in current.model_fields.items() if not field.exclude)
    return None


def error_from_validation(
    exc: ValidationError,
    file: str,
    prefix: str = "",
    cls: type[ConfigError] = ConfigError,
    model: type[BaseModel] | None = None,
) -> ConfigError:
    """Turn pydantic's error into a ConfigError naming the first bad key and what is allowed.

    Give the validated `model` so an unknown key's message can list the keys that are allowed.
    """
    first = exc.errors()[0]
    parts = [prefix] if prefix else []
    for loc in first["loc"]:
        if isinstance(loc, int):
            parts[-1:] = [f"{parts[-1]}[{loc}]"] if parts else [f"[{loc}]"]
        else:
            parts.append(str(loc))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        allowed = allowed_keys(model, tuple(first["loc"]))
        message = f"unknown key; allowed: {', '.join(allowed)}" if allowed else "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    elif first["type"] in ("dict_type", "model_type", "model_attributes_type"):
        message = f"must be a table ([section] or {{ key = value }}), not {_toml_type(first.get('input'))}"
    elif first["type"] in ("enum", "literal_error") or ("input" in first and first["type"].endswith("_parsing")):
        message += f"; got {first.get('input')!r}"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return cls(message, file=file, key=".".join(parts) or None)


def _toml_type(value: Any) -> str:
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def parse_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning every I/O or syntax problem into a ConfigError naming the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}", file=str(path)) from None


def load_config(path: Path | str, environ: dict[str, str] | None = None, *, secrets: bool = True) -> Config:
    """Load and validate the configuration file at `path`.

    With `secrets=False` (commands that read only the store: report, history, ledger), an unset environment
    variable inside a connection's table stays as its `${NAME}` reference instead of being an error; such a
    config must never be used to build a connector.

    Raises:
        ConfigError: naming the file and key, for a missing file, bad TOML, an unknown key, a bad value or
            an environment variable that is not set.
    """
    path = Path(path)
    raw = _expand(parse_toml(path), "", str(path), environ if environ is not None else os.environ, secrets)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise error_from_validation(exc, str(path), model=Config) from None
    store = config.store.model_copy(update={"url": anchored(config.store.url, path.resolve().parent)})
    folder = sqlite_folder(store.url)
    if folder is not None and not folder.is_dir():
        raise ConfigError(
            f"the store's folder {str(folder)!r} does not exist; create it", file=str(path), key="store.url"
        )
    return config.model_copy(update={"path": path.resolve(), "store": store})


def sqlite_folder(url: str) -> Path | None:
    """The folder of a SQLite store file, or None (another database, in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).parent


def anchored(url: str, folder: Path) -> str:
    """A SQLite URL with a relative path made absolute against `folder` (the config file's), so that crmsync run
    from another working directory opens the same store instead of silently making a new, empty one."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    database, _, query = url[len(prefix) :].partition("?")
    if not database or database == ":memory:" or Path(database).is_absolute():
        return url
    return prefix + str(folder / database) + (f"?{query}" if query else "")
