"""Job files read and combined: TOML loading, deep merging of key tables, and validation errors as one line.

A config file's keys are read by :func:`load_toml`, command-line values are laid over them with
:func:`merge`, and :meth:`~rtseg.jobs.spec.JobSpec.from_dict` reports what pydantic rejects through
:func:`format_validation_error`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rtseg.errors import ConfigError


def format_validation_error(exc: ValidationError, source: str) -> str:
    """What pydantic rejected, as one line naming each key: ``SOURCE: unknown key 'x'; 'mask.low': ...``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{loc}'")
        elif err["type"] == "missing":
            parts.append(f"missing key '{loc}'")
        elif err["type"] in ("model_type", "dict_type"):
            parts.append(f"'{loc}' must be a table ([{loc}]) of keys, got {err.get('input')!r}")
        elif not err["loc"]:
            parts.append(msg)
        else:
            parts.append(f"'{loc}': {msg} (got {err.get('input')!r})")
    return f"{source}: " + "; ".join(dict.fromkeys(parts))


def load_toml(path: str | Path) -> dict[str, Any]:
    """The keys of a TOML file; a missing, unreadable or malformed file is one ConfigError saying which."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from exc


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into ``base`` (None values in ``override`` are ignored)."""
    out = dict(base)
    for key, value in override.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif isinstance(value, dict):
            out[key] = merge({}, value)
        else:
            out[key] = value
    return out
