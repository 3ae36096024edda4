"""Configuration: the seed's ``mcp_config.json`` schema, environment variables and their precedence.

Precedence, highest first: explicit arguments > environment (``MCP_WHATSAPP_*``) > the config file > defaults.
Each account of the file also reads its own variables, its name after the prefix (``MCP_WHATSAPP_SALES_AUTH_TOKEN``
for account ``sales``), so that tokens can stay out of the file.
Several WhatsApp accounts (one server per business number) go under ``whatsapp.accounts``; each inherits what it
does not set from the top-level block, except what identifies one server or number (:data:`NOT_INHERITED`).
The config file is the first that exists of: the ``path`` argument, ``$MCP_CONFIG_FILE``, ``./mcp_config.json``,
and ``mcp_config.json`` in the user's config directory. Every value remembers where it came from
(:attr:`LoadedConfig.sources`), so ``wamcp config show`` can say so. Invalid input raises :class:`ConfigError`
naming the file or variable, the key, the bad value and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError
from .redact import get_logger, register_secret

__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_ACCOUNT",
    "ENV_PREFIX",
    "ENV_VARS",
    "NOT_INHERITED",
    "SAMPLE_FILE_NAME",
    "LoadedConfig",
    "MCPConnectionType",
    "MCPServerConfig",
    "RateLimits",
    "ServerConfig",
    "WhatsAppConfig",
    "account_env_var",
    "accounts_selected",
    "default_config_paths",
    "flatten",
    "load_config",
    "sample_config",
    "write_sample_config",
]

logger = get_logger(__name__)

CONFIG_FILE_NAME = "mcp_config.json"
SAMPLE_FILE_NAME = "mcp_config_sample.json"
DEFAULT_SERVER_NAME = "github.com/lharries/whatsapp-mcp"

#: The name of the one account of a config without ``accounts`` (the seed's single ``whatsapp`` block).
DEFAULT_ACCOUNT = "default"
#: Keys an account never inherits from the top-level block: they identify one server or one business number, so
#: inheriting them would send one server's token to another, or sync two accounts from the same server.
NOT_INHERITED: tuple[tuple[str, ...], ...] = (
    ("phone_number",),
    ("server", "endpoint"),
    ("server", "endpoints"),
    ("server", "command"),
    ("server", "args"),
    ("server", "auth_token"),
)
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

#: The seed's environment variables and the key each one sets.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "MCP_WHATSAPP_ENDPOINT": ("server", "endpoint"),
    "MCP_WHATSAPP_CONNECTION_TYPE": ("server", "connection_type"),
    "MCP_WHATSAPP_AUTH_TOKEN": ("server", "auth_token"),
    "MCP_WHATSAPP_PHONE_NUMBER": ("phone_number",),
    "MCP_WHATSAPP_AUTO_AUTH": ("auto_authenticate",),
    "MCP_WHATSAPP_SERVER_TIMEZONE": ("server_timezone",),
    "MCP_WHATSAPP_PROFILE": ("profile",),
}
#: The prefix of every variable above; an account's own variables put its name after it (see :func:`account_env_var`).
ENV_PREFIX = "MCP_WHATSAPP_"


class MCPConnectionType(StrEnum):
    """How to reach an MCP server. ``http`` is accepted as an alias of ``streamable_http``."""

    SSE = "sse"
    WEBSOCKET = "websocket"
    STDIO = "stdio"
    STREAMABLE_HTTP = "streamable_http"
    AUTO = "auto"

    @classmethod
    def _missing_(cls, value: object) -> MCPConnectionType | None:
        if isinstance(value, str):
            normalized = value.strip().lower().replace("-", "_")
            aliases = {
                "http": cls.STREAMABLE_HTTP,
                "ws": cls.WEBSOCKET,
                "streamablehttp": cls.STREAMABLE_HTTP,
            }
            if normalized in aliases:
                return aliases[normalized]
            for member in cls:
                if member.value == normalized:
                    return member
        return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_enum_values=False)


class RateLimits(_Strict):
    """The seed's ``rate_limits``. ``0`` or ``null`` switches a limit off (sensible for a local server)."""

    messages_per_minute: float | None = Field(default=60, ge=0, description="message tools, per minute")
    chats_per_minute: float | None = Field(default=30, ge=0, description="chat and contact tools, per minute")
    requests_per_second: float | None = Field(default=2, ge=0, description="all calls, per second")
    burst_limit: int = Field(default=10, ge=1, description="bucket capacity: calls allowed back to back")
    cooldown_period: float = Field(default=300.0, ge=0, description="seconds to pause after the server says 429")

    @classmethod
    def disabled(cls) -> RateLimits:
        """No client-side limits at all (local or demo servers)."""
        return cls(messages_per_minute=0, chats_per_minute=0, requests_per_second=0)


def _default_headers() -> dict[str, str]:
    return {"User-Agent": "WhatsApp-MCP-Client/1.0", "Accept": "application/json"}


class ServerConfig(_Strict):
    """One MCP server: the seed's ``whatsapp.server`` block plus compatible extensions.

    Seconds are floats everywhere. For ``stdio`` the server is started from ``command`` + ``args`` (or, when
    ``command`` is empty, from ``endpoint`` split like a shell command line).
    """

    name: str = DEFAULT_SERVER_NAME
    endpoint: str = "http://localhost:3000"
    connection_type: MCPConnectionType = MCPConnectionType.SSE
    auth_token: SecretStr | None = None
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    retry_delay: float = Field(default=2.0, ge=0)
    health_check_interval: float = Field(default=30.0, ge=0, description="0 switches the background monitor off")
    session_timeout: float = Field(default=7200.0, ge=0, description="re-open sessions older than this; 0 = never")
    custom_headers: dict[str, str] = Field(default_factory=_default_headers, repr=False)
    # --- extensions (not in the seed) ---
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, repr=False)
    cwd: str | None = None
    connect_timeout: float = Field(default=10.0, gt=0)
    protocol: Literal["legacy", "auto", "2026-07-28"] = "legacy"
    verify_tls: bool | str = Field(default=True, description="False, True or a path to a CA bundle")
    endpoints: list[str] = Field(default_factory=list, description="extra endpoints for failover")
    max_connections: int = Field(
        default=1, ge=1, le=64, description="sessions in the pool (each its own process over stdio)"
    )
    max_concurrency: int = Field(default=64, ge=1, description="requests in flight per session")
    idempotent_tools: list[str] | None = Field(
        default=None, description="tools safe to retry; None lets the caller or profile decide"
    )
    cache_ttl: float = Field(
        default=0.0,
        ge=0,
        description="seconds a read-only (idempotent) tool's result is reused; 0 switches the cache off",
    )
    cache_max_entries: int = Field(
        default=1024, ge=1, description="results kept per server; the least recently used go first"
    )

    @field_validator("auth_token")
    @classmethod
    def _remember_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            register_secret(value.get_secret_value())
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return _checked_url(value.strip())

    @field_validator("endpoints")
    @classmethod
    def _endpoints_are_urls(cls, value: list[str]) -> list[str]:
        return [_checked_url(url.strip()) for url in value]

    def token(self) -> str | None:
        """The auth token in clear, for building the ``Authorization`` header (never log it)."""
        return self.auth_token.get_secret_value() if self.auth_token else None


def _checked_url(value: str) -> str:
    """``value`` if it is not a URL (``stdio``, ``demo``) or a URL whose host and port can be read; else a
    ValueError that says so (urllib's own, e.g. "Port out of range", would surface only when connecting)."""
    if "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - reading it validates it
    except ValueError as err:
        raise ValueError(f"not a valid URL ({err}); e.g. http://localhost:3000") from None
    if not parts.hostname:
        raise ValueError("the URL has no host; e.g. http://localhost:3000")
    return value


#: The seed's name for the server configuration used by ``MCPClient.add_server``.
MCPServerConfig = ServerConfig


class WhatsAppConfig(BaseSettings):
    """The seed's ``whatsapp`` block. Load it with :func:`load_config`, which applies precedence and tracks sources."""

    model_config = SettingsConfigDict(extra="forbid", validate_assignment=True)

    server: ServerConfig = Field(default_factory=ServerConfig)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    auto_authenticate: bool = False
    phone_number: str | None = Field(default=None, repr=False)
    session_persistence: bool = True
    export_format: Literal["json", "jsonl", "csv", "parquet", "txt"] = "json"
    include_media: bool = False
    # --- extensions ---
    profile: str = Field(
        default="auto",
        description="auto, lharries, structured, or a profile plugin's name (wamcp.profiles entry point)",
    )
    server_timezone: str | None = Field(
        default=None, description="IANA zone the server prints times in; default: this machine's zone"
    )
    chat_listing_interval: float = Field(
        default=3600.0,
        ge=0,
        description="seconds between extraction runs that list every chat; the runs in between list only the chats"
        " active lately (0: every run lists every chat)",
    )
    accounts: dict[str, WhatsAppConfig] = Field(
        default_factory=dict,
        description="several business numbers, one server each, by name; each inherits the keys above it sets not",
    )

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, data: Any) -> Any:
        """Give every account the top-level keys it does not set itself (except :data:`NOT_INHERITED`)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("accounts"), Mapping):
            return data
        base = {key: _plain(value) for key, value in data.items() if key != "accounts"}
        for path in NOT_INHERITED:
            _deep_pop(base, path)
        accounts = {
            name: _merge(base, own) if isinstance(own, Mapping) else own for name, own in data["accounts"].items()
        }
        return {**data, "accounts": accounts}

    @field_validator("accounts")
    @classmethod
    def _valid_accounts(cls, accounts: dict[str, WhatsAppConfig]) -> dict[str, WhatsAppConfig]:
        for name, account in accounts.items():
            if not _ACCOUNT_NAME.fullmatch(name):
                raise ValueError(
                    f"account name {name!r} is not valid: use letters, digits, '_', '.' or '-' (at most 64, "
                    "starting with a letter or digit)"
                )
            if account.accounts:
                raise ValueError(f"account {name!r} has its own accounts; accounts cannot be nested")
            if not {"endpoint", "command"} & account.server.model_fields_set:
                raise ValueError(
                    f"account {name!r} names no server: set whatsapp.accounts.{name}.server.endpoint "
                    "(or server.command for stdio); accounts do not inherit the top-level server's address"
                )
        return accounts

    def account_configs(self) -> dict[str, WhatsAppConfig]:
        """Every configured account by name: the ``accounts`` when there are any, else this block as
        :data:`DEFAULT_ACCOUNT`."""
        return dict(self.accounts) if self.accounts else {DEFAULT_ACCOUNT: self}

    @field_validator("phone_number")
    @classmethod
    def _remember_phone(cls, value: str | None) -> str | None:
        if value:
            register_secret(value)
            register_secret(value.lstrip("+"))
        return value

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        value = value.strip()
        if value in ("auto", "lharries", "structured"):
            return value
        # Plugins are only listed here, never imported: importing third-party code belongs to the WhatsApp layer,
        # which skips a broken plugin with a warning when it builds the profile.
        from importlib.metadata import entry_points

        installed = sorted({entry_point.name for entry_point in entry_points(group="wamcp.profiles")})
        if value not in installed:
            plugins = ", ".join(installed) or "none installed"
            raise ValueError(
                f"unknown profile {value!r}: expected auto, lharries, structured or a wamcp.profiles plugin ({plugins})"
            )
        return value

    @field_validator("server_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as err:
                raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/London") from err
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_config merges the layers itself (to know where each value came from) and passes the result as
        # init arguments; the generic MCP_WHATSAPP_<FIELD> env parsing of pydantic-settings would fight the
        # seed's flat variable names, so only init values are used here.
        return (init_settings,)


@dataclass(frozen=True)
class LoadedConfig:
    """The effective configuration, the file it came from (if any) and the source of every leaf value."""

    config: WhatsAppConfig
    path: Path | None
    sources: dict[str, str] = field(default_factory=dict)

    def redacted(self) -> dict[str, Any]:
        """The effective config as the seed's JSON shape, with tokens and phone numbers masked (``accounts`` only
        when there are some, each as its effective, inherited values)."""
        data = _redact_block(self.config.model_dump(mode="json"))
        accounts = data.pop("accounts")
        if accounts:
            data["accounts"] = {name: _redact_block(block) for name, block in accounts.items()}
            for block in data["accounts"].values():
                del block["accounts"]
        return {"whatsapp": data}


def _redact_block(data: dict[str, Any]) -> dict[str, Any]:
    from .redact import mask_phone, redact, redact_headers

    server = data["server"]
    # credentials in the URLs themselves (user:password@, ?token=)
    server["endpoint"] = redact(server["endpoint"], phones=False)
    server["endpoints"] = [redact(url, phones=False) for url in server["endpoints"]]
    if data["server"].get("auth_token"):
        data["server"]["auth_token"] = "***"
    if data.get("phone_number"):
        data["phone_number"] = mask_phone(str(data["phone_number"]))
    data["server"]["custom_headers"] = redact_headers(data["server"]["custom_headers"])
    data["server"]["env"] = {k: "***" for k in data["server"]["env"]}
    return data


def default_config_paths() -> list[Path]:
    """Where a config file is looked for, in order (the first that exists wins)."""
    paths: list[Path] = []
    env_path = os.environ.get("MCP_CONFIG_FILE")
    if env_path:
        paths.append(Path(env_path))
    paths.append(Path.cwd() / CONFIG_FILE_NAME)
    paths.append(Path(platformdirs.user_config_dir("wamcp")) / CONFIG_FILE_NAME)
    return paths


def flatten(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and key not in {"custom_headers", "env"}:
            flat.update(flatten(value, (*prefix, key)))
        else:
            flat[(*prefix, key)] = value
    return flat


def _deep_set(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _deep_pop(target: dict[str, Any], path: tuple[str, ...]) -> None:
    for key in path[:-1]:
        inner = target.get(key)
        if not isinstance(inner, dict):
            return
        target = inner
    target.pop(path[-1], None)


def _plain(value: Any) -> Any:
    """``value`` as plain data for merging: a model becomes the dict of the fields that were set on it."""
    if isinstance(value, BaseModel):
        return {key: _plain(getattr(value, key)) for key in value.model_fields_set}
    if isinstance(value, Mapping):
        return {key: _plain(inner) for key, inner in value.items()}
    return value


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}", hint="check the path") from err
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not UTF-8 text (bad byte at offset {err.start}); a config file is JSON",
            hint=f"regenerate one with `wamcp config init` ({SAMPLE_FILE_NAME})",
        ) from err
    try:
        raw = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{path}: line {err.lineno} column {err.colno}: invalid JSON ({err.msg})",
            hint=f"fix the file or regenerate one with `wamcp config init` ({SAMPLE_FILE_NAME})",
        ) from err
    if not isinstance(raw, dict):
        raise ConfigError(f'{path}: the top level must be a JSON object with a "whatsapp" key')
    if "whatsapp" not in raw:
        unknown = ", ".join(sorted(raw)) or "nothing"
        raise ConfigError(
            f'{path}: no "whatsapp" section (found {unknown})',
            hint='the file must look like {"whatsapp": {"server": {...}, "rate_limits": {...}}}',
        )
    section = raw["whatsapp"]
    if not isinstance(section, dict):
        raise ConfigError(f'{path}: "whatsapp" must be a JSON object, not {type(section).__name__}')
    _warn_if_world_readable(path, section)
    return section


def _has_token(section: Any) -> bool:
    server = section.get("server") if isinstance(section, Mapping) else None
    return isinstance(server, Mapping) and bool(server.get("auth_token"))


def _warn_if_world_readable(path: Path, section: Mapping[str, Any]) -> None:
    accounts = section.get("accounts")
    blocks = [section, *(accounts.values() if isinstance(accounts, Mapping) else ())]
    if not any(_has_token(block) for block in blocks):
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        logger.warning("%s holds an auth token and other users can read it; run: chmod 600 %s", path, path)


def account_env_var(account: str, var: str) -> str:
    """The variable setting ``var``'s key (one of :data:`ENV_VARS`) for one account: the account's name, upper-cased
    with every other character than a letter or digit as ``_``, after the prefix. ``("sales-eu",
    "MCP_WHATSAPP_AUTH_TOKEN")`` gives ``MCP_WHATSAPP_SALES_EU_AUTH_TOKEN``."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", account).upper() + "_" + var.removeprefix(ENV_PREFIX)


def _read_env(
    environ: Mapping[str, str], accounts: Iterable[str] = ()
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """The top-level block's variables, and for each account of the file its own (``account_env_var``)."""
    data: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for var, path in ENV_VARS.items():
        if var in environ and environ[var] != "":
            _deep_set(data, path, environ[var])
            origin[path] = f"env {var}"
    claimed: dict[str, str] = {}
    for account in accounts:
        for var, path in ENV_VARS.items():
            own = account_env_var(account, var)
            if environ.get(own, "") == "":
                continue
            if own in claimed:
                raise ConfigError(
                    f"env {own} could belong to account {claimed[own]!r} or {account!r}",
                    hint="rename one of the accounts so that their names differ in more than case and punctuation",
                )
            claimed[own] = account
            _deep_set(data, ("accounts", account, *path), environ[own])
            origin[("accounts", account, *path)] = f"env {own}"
    return data, origin


def _merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict) and key not in {"custom_headers", "env"}:
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _allowed_for(path: tuple[str, ...]) -> str | None:
    model: type[BaseModel] = WhatsAppConfig
    info = None
    for key in path:
        fields = model.model_fields
        if key not in fields:
            return None
        info = fields[key]
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    if info is None:
        return None
    annotation = info.annotation
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return ", ".join(str(m.value) for m in annotation) + " (http = streamable_http)"
    args = getattr(annotation, "__args__", ())
    literals = [a for a in args if isinstance(a, str)]
    if literals:
        return ", ".join(literals)
    return None


def _keys_at(path: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = WhatsAppConfig
    for key in path:
        annotation = model.model_fields[key].annotation if key in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _model_path(path: tuple[str, ...]) -> tuple[str, ...]:
    """The path of ``path``'s key in the model: an account's keys are the top-level block's keys."""
    while len(path) >= 2 and path[0] == "accounts":
        path = path[2:]
    return path


def _explain(err: ValidationError, origin: Mapping[tuple[str, ...], str]) -> ConfigError:
    first = err.errors()[0]
    path = tuple(str(p) for p in first["loc"])
    key = ".".join(("whatsapp", *path))
    where = origin.get(path, "configuration")
    value = first.get("input")
    if path == ("accounts",) and first["type"] == "value_error":
        # our own account checks: the message names the key; the value (every account, tokens too) is not shown
        where = next((o for p, o in origin.items() if p[:1] == ("accounts",)), where)
        return ConfigError(f"{where}: {first['msg'].removeprefix('Value error, ')}")
    if first["type"] == "extra_forbidden":
        known = [k for k in _keys_at(_model_path(path[:-1])) if not (k == "accounts" and path[:1] == ("accounts",))]
        close = difflib.get_close_matches(path[-1], known, n=1)
        suggestion = f"did you mean {close[0]!r}? " if close else ""
        return ConfigError(
            f"{where}: unknown key {key}",
            hint=f"{suggestion}known keys here: {', '.join(known)}",
        )
    shown = "***" if path[-1] in {"auth_token", "phone_number"} else json.dumps(value, default=str)
    allowed = _allowed_for(_model_path(path))
    reason = first["msg"]
    if allowed:
        reason = f"expected one of: {allowed}"
    return ConfigError(f"{where}: {key} = {shown} is not valid: {reason}")


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    use_file: bool = True,
) -> LoadedConfig:
    """Build the effective configuration.

    ``overrides`` uses the seed's nested shape (``{"server": {"endpoint": ...}}``); ``None`` values in it are
    ignored, so callers can pass optional arguments straight through.
    """
    environ = os.environ if environ is None else environ
    origin: dict[tuple[str, ...], str] = {}

    file_path: Path | None = None
    file_data: dict[str, Any] = {}
    if path is not None:
        file_path = Path(path)
        if not file_path.exists():
            raise ConfigError(
                f"config file {file_path} does not exist",
                hint=f"create one with `wamcp config init` and rename {SAMPLE_FILE_NAME}",
            )
    elif use_file:
        env_file = environ.get("MCP_CONFIG_FILE")
        if env_file and not Path(env_file).is_file():  # named on purpose: a typo must not fall back to other files
            raise ConfigError(
                f"MCP_CONFIG_FILE={env_file} is not a file",
                hint="point it at your mcp_config.json, or unset it to use ./mcp_config.json",
            )
        file_path = next((p for p in default_config_paths() if p.is_file()), None)
    if file_path is not None:
        file_data = _read_file(file_path)
        for key in flatten(file_data):
            origin[key] = f"file {file_path}"

    file_accounts = file_data.get("accounts")
    named = (
        [name for name, block in file_accounts.items() if isinstance(block, Mapping)]
        if isinstance(file_accounts, Mapping)
        else []
    )
    env_data, env_origin = _read_env(environ, named)
    origin.update(env_origin)

    clean_overrides = {k: v for k, v in flatten(overrides or {}).items() if v is not None}
    override_data: dict[str, Any] = {}
    for key, value in clean_overrides.items():
        _deep_set(override_data, key, value)
        origin[key] = "argument"

    merged = _merge(_merge(file_data, env_data), override_data)
    try:
        config = WhatsAppConfig(**merged)
    except ValidationError as err:
        raise _explain(err, origin) from err

    sources: dict[str, str] = {}
    for key in flatten(config.model_dump()):
        source = origin.get(key)
        if source is None and key[:1] == ("accounts",):
            inherited = origin.get(key[2:])
            source = f"inherited ({inherited})" if inherited and key[2:] not in NOT_INHERITED else None
        sources[".".join(key)] = source or "default"
    return LoadedConfig(config=config, path=file_path, sources=sources)


def sample_config() -> dict[str, Any]:
    """The seed's sample ``mcp_config.json`` content, every key at its default."""
    data = WhatsAppConfig().model_dump(mode="json")
    seed_server_keys = [
        "name",
        "endpoint",
        "connection_type",
        "auth_token",
        "timeout",
        "max_retries",
        "retry_delay",
        "health_check_interval",
        "session_timeout",
        "custom_headers",
    ]
    server = {k: data["server"][k] for k in seed_server_keys}
    for key in ("timeout", "health_check_interval", "session_timeout"):
        server[key] = int(server[key])
    limits = {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in data["rate_limits"].items()}
    top = ("auto_authenticate", "phone_number", "session_persistence", "export_format", "include_media")
    return {"whatsapp": {"server": server, "rate_limits": limits, **{k: data[k] for k in top}}}


def write_sample_config(directory: str | os.PathLike[str] = ".") -> Path:
    """Write ``mcp_config_sample.json`` into ``directory`` and return its path."""
    target = Path(directory) / SAMPLE_FILE_NAME
    target.write_text(json.dumps(sample_config(), indent=2) + "\n", encoding="utf-8")
    return target


def accounts_selected(available: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """``wanted`` (or every account when empty), in configured order; ValueError naming an unknown one."""
    if not wanted:
        return list(available)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise ValueError(f"no account named {unknown[0]!r} in the config (accounts: {', '.join(available)})")
    return [name for name in available if name in wanted]
