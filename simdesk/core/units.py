"""Sizes and durations as people read them; shared by the CLI, the app and the core's messages."""

from __future__ import annotations


def format_bytes(count: float) -> str:
    """Decimal units, as file managers show them: 412.0 MB."""
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def format_duration(seconds: float | None) -> str:
    """m:ss or h:mm:ss; --:-- when unknown (or absurdly long, as a first ETA can be)."""
    if seconds is None or seconds != seconds or seconds > 360_000:
        return "--:--"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
