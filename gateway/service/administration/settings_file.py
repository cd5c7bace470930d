"""Settings from four places, highest first: the command line, ``SPGW_<NAME>`` environment
variables, one TOML file (``--config FILE`` or ``SPGW_CONFIG``), the defaults in ``Settings``.

Every field of ``Settings`` is a key of the file and has its variable (``home`` is ``SPGW_HOME``).
The names the gateway read before (``GATEWAY_HOME``, ``GATEWAY_DATABASE_URL``, ...) still count,
below their ``SPGW_`` twins, so existing deployments keep working. An unknown key in the file is
an error naming the key and the file (a typo must not fall back to a default silently); every
problem of the file is reported at once. ``deploy/spgw.example.toml`` documents every key.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.errors import InputInvalid, Issue
from gateway.service.runtime import Settings, _witnesses

ENV_PREFIX = "SPGW_"
CONFIG_ENV = "SPGW_CONFIG"
DEFAULT_HOME = "var"
# The variables read before SPGW_<NAME> existed.
LEGACY_ENV = {
    "home": "GATEWAY_HOME",
    "database_url": "GATEWAY_DATABASE_URL",
    "max_payload_bytes": "GATEWAY_MAX_PAYLOAD_BYTES",
    "max_bulk_payload_bytes": "GATEWAY_MAX_BULK_PAYLOAD_BYTES",
    "delivery_lease_seconds": "GATEWAY_DELIVERY_LEASE_SECONDS",
    "public_base_url": "GATEWAY_PUBLIC_URL",
    "denial_floor_ms": "GATEWAY_DENIAL_FLOOR_MS",
    "stale_after_seconds": "GATEWAY_STALE_AFTER_SECONDS",
    "checkpoint_every_entries": "GATEWAY_CHECKPOINT_EVERY_ENTRIES",
    "checkpoint_every_minutes": "GATEWAY_CHECKPOINT_EVERY_MINUTES",
    "audit_witnesses": "GATEWAY_AUDIT_WITNESSES",
    "retention_interval_seconds": "GATEWAY_RETENTION_INTERVAL_SECONDS",
    "jwks_refresh_seconds": "GATEWAY_JWKS_REFRESH_SECONDS",
}


def setting_names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Settings))


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def load_settings(
    *,
    cli: Mapping[str, Any] | None = None,
    config: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """The settings: ``cli`` holds only the options given on the command line; ``config`` is the
    file (else ``SPGW_CONFIG``, else none)."""
    environ = os.environ if env is None else env
    path = config or environ.get(CONFIG_ENV) or None
    values = read_file(Path(path)) if path else {}
    values.update(_from_env(environ))
    values.update({k: _cli_value(k, v) for k, v in (cli or {}).items() if v is not None})
    return _build(values)


def _cli_value(name: str, value: Any) -> Any:
    # Relative paths on the command line are the caller's: resolved against the working folder.
    return Path(value).resolve() if _types()[name] is Path else value


def _build(values: dict[str, Any]) -> Settings:
    home = Path(values.pop("home", None) or DEFAULT_HOME).resolve()
    url = values.pop("database_url", None) or f"sqlite:///{home / 'gateway.db'}"
    return Settings(home=home, database_url=url, **values)


def read_file(path: Path) -> dict[str, Any]:
    """The file's settings, typed; every unknown key and wrong value is reported at once."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputInvalid(
            "the configuration file cannot be read",
            [Issue(path=str(path), message=f"{exc.strerror or type(exc).__name__}: give a readable file")],
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputInvalid(
            "the configuration file is not TOML", [Issue(path=str(path), message=str(exc))]
        ) from exc
    values: dict[str, Any] = {}
    issues: list[Issue] = []
    for key, value in raw.items():
        problem = _unknown(key) if key not in _types() else None
        if problem is None:
            try:
                values[key] = _from_toml(key, value, path.parent)
                continue
            except ValueError as exc:
                problem = str(exc)
        issues.append(Issue(path=f"{path}: {key}", message=problem))
    if issues:
        raise InputInvalid(f"the configuration file {path} has {len(issues)} problem(s)", issues)
    return values


def _unknown(key: str) -> str:
    close = difflib.get_close_matches(key, setting_names(), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown setting '{key}'{hint}; deploy/spgw.example.toml lists every key"


def _from_toml(key: str, value: Any, folder: Path) -> Any:
    kind = _types()[key]
    if kind is Path and isinstance(value, str):
        # Relative paths in the file are the file's: the same file works from any folder.
        return (folder / value).resolve()
    if key == "audit_witnesses" and isinstance(value, dict):
        if not all(isinstance(v, str) and "," not in v for v in value.values()):
            raise ValueError(f"expected {_describe(kind)}")
        try:
            return _witnesses(",".join(f"{k}={v}" for k, v in value.items()))
        except InputInvalid as exc:
            raise ValueError('each witness is name = "http(s)://..."') from exc
    if _fits(kind, value):
        return float(value) if kind is float else value
    raise ValueError(f"expected {_describe(kind)}, found {type(value).__name__} {value!r}")


def _fits(kind: Any, value: Any) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(kind, type) and isinstance(value, kind)


def _describe(kind: Any) -> str:
    if kind is Path or kind is str:
        return "a string"
    if kind is int:
        return "an integer"
    if kind is float:
        return "a number"
    return 'a table of name = "https://..." strings'


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    issues: list[Issue] = []
    for name, kind in _types().items():
        variable = env_name(name) if env_name(name) in environ else LEGACY_ENV.get(name, "")
        text = environ.get(variable, "") if variable else ""
        if not text:
            continue  # an empty variable means "not set", as the gateway always read them
        try:
            found[name] = _parse_text(name, kind, text)
        except ValueError:
            issues.append(Issue(path=variable, message=f"expected {_describe(kind)} for {name}"))
    if issues:
        raise InputInvalid("an environment variable holds a wrong value", issues)
    return found


def _parse_text(name: str, kind: Any, text: str) -> Any:
    if kind is Path:
        return Path(text).resolve()
    if name == "audit_witnesses":
        return _witnesses(text)
    if kind is int or kind is float:
        return kind(text.strip())
    return text


def _types() -> dict[str, Any]:
    hints = typing.get_type_hints(Settings)
    return {f.name: _unwrapped(hints[f.name]) for f in dataclasses.fields(Settings)}


def _unwrapped(kind: Any) -> Any:
    """``Path | None`` is a Path that may be left out."""
    if isinstance(kind, types.UnionType):
        present = [k for k in typing.get_args(kind) if k is not type(None)]
        return present[0] if len(present) == 1 else kind
    return kind
