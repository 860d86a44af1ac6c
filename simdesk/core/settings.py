"""A library's settings (folders, model, pooling, reference folders, keep rule): read and written here only.

``settings.json`` is replaced atomically on every save, and the same text is then written to
``settings.json.bak``, the last good copy. Reading tries the file, then the copy; when neither can
be read the caller rebuilds the settings from the cache database, which keeps a copy of them too
(``meta.settings``) and the folder list itself, so no photo row is ever dropped because a settings
file was damaged.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

DEFAULT_POOLING = "avg"  # best mAP on imagenette-val (see README, Quality)
SETTINGS_NAME = "settings.json"
META_KEY = "settings"  # the cache's copy of them


@dataclass
class Settings:
    folders: list[str] = field(default_factory=list)
    # None: not chosen yet (DEFAULT_MODEL is used; the CLI and the first-run screen settle it once,
    # so a model installed later never switches a library silently).
    model: str | None = None
    pooling: str = DEFAULT_POOLING
    reference_folders: list[str] = field(default_factory=list)
    duplicate_keep_rule: list[str] | None = None
    # model name -> {"state": "int8" | "fp32" | ..., "reason", ...}: the guarded int8 decision
    precision: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # keys a newer simdesk wrote: kept as they are

    @classmethod
    def from_json(cls, data) -> "Settings":
        """Settings from parsed JSON; ValueError if its shape is wrong (then the file is unreadable)."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        known = {f.name for f in fields(cls)} - {"extra"}
        settings = cls(extra={k: v for k, v in data.items() if k not in known})
        for name in ("folders", "reference_folders"):
            value = data.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} is not a list of folders")
            setattr(settings, name, list(value))
        for name in ("model", "pooling"):
            value = data.get(name, getattr(settings, name))
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} is not a name")
            setattr(settings, name, value)
        if settings.pooling is None:
            settings.pooling = DEFAULT_POOLING
        rule = data.get("duplicate_keep_rule")
        if rule is not None and not (isinstance(rule, list) and all(isinstance(v, str) for v in rule)):
            rule = None  # a bad keep rule falls back to the default; it protects nothing
        settings.duplicate_keep_rule = rule
        precision = data.get("precision", {})
        settings.precision = precision if isinstance(precision, dict) else {}  # redecided if bad
        return settings

    def to_json(self) -> dict:
        data = asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)


def _backup(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def _read(path: Path) -> Settings:
    return Settings.from_json(json.loads(path.read_text(encoding="utf-8", errors="surrogateescape")))


@dataclass
class Loaded:
    settings: Settings
    found: bool  # False: neither the file nor its copy could be read; rebuild from the cache
    notices: list[str] = field(default_factory=list)


def load(path: Path) -> Loaded:
    """The settings from ``path``, else from its last good copy; a damaged file is moved aside."""
    notices: list[str] = []
    try:
        return Loaded(_read(path), True)
    except FileNotFoundError:
        problem = None
    except (OSError, ValueError) as exc:
        problem = exc
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(path, aside)
        except OSError:
            aside = path
        notices.append(f"The library settings were unreadable ({exc}); the file was moved to {aside}.")
    try:
        settings = _read(_backup(path))
    except (OSError, ValueError):
        return Loaded(Settings(), False, notices)
    if problem is not None or path.exists() is False:
        notices.append(f"The settings were taken from their last good copy, {_backup(path)}.")
    return Loaded(settings, True, notices)


def _write_synced(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save(path: Path, settings: Settings) -> None:
    """Write the settings, then the last good copy (the file is always whole: replaced atomically)."""
    text = settings.dumps()
    _write_synced(path, text)
    _write_synced(_backup(path), text)


def from_meta(text: str | None) -> Settings | None:
    """The cache's copy of the settings, if it has a readable one."""
    if not text:
        return None
    try:
        return Settings.from_json(json.loads(text))
    except ValueError:
        return None
