"""Which copy of a group to keep: an ordered rule of criteria, each one comparing two copies.

The default keeps the camera original: a file that names its camera and no editor beats an
exported copy; then the earlier capture (a copy that lost its EXIF date is not older for it), the
earlier file; only then the larger picture and the larger file. File size only counts between two
JPEGs saved at the same quality (or two non-JPEGs): a brightened copy saved at quality 98 is bigger
than its quality-85 original without holding more of the picture.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from typing import Sequence

from simdesk.core.provenance import Provenance
from simdesk.core.units import format_bytes

KEEP_CRITERIA = {
    "original": "camera original",
    "oldest": "older capture date",
    "newest": "newer capture date",
    "pixels": "largest pixel count",
    "size": "larger file",
    "shortest_path": "shorter path",
}
DEFAULT_KEEP_RULE = ("original", "oldest", "pixels", "size", "shortest_path")

# File times closer than this are one moment (copy tools and file systems round them).
SAME_FILE_TIME_NS = 2_000_000_000
# JPEG qualities this close count as the same setting (the estimate from the tables is exact for
# encoders that scale the standard tables, within one step for others).
SAME_QUALITY = 1


class KeepRuleError(ValueError):
    """A keep rule that names unknown or contradictory criteria; the message says which."""


@dataclass(frozen=True)
class Member:
    photo_id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: bytes
    width: int | None
    height: int | None
    capture_time: float | None
    reference: bool = False  # in a reference folder: never moved
    similarity: float = 1.0  # to the kept copy (1.0 for it and for byte-identical copies)
    provenance: Provenance = Provenance()

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    @property
    def folder(self) -> str:
        return os.path.dirname(self.path)

    @property
    def date(self) -> float:
        """Capture time when the photo has one, else the file's modification time."""
        return self.capture_time if self.capture_time is not None else self.mtime_ns / 1e9


def parse_keep_rule(rule: str | Sequence[str] | None) -> tuple[str, ...]:
    if rule is None:
        return DEFAULT_KEEP_RULE
    items = [r.strip() for r in (rule.split(",") if isinstance(rule, str) else rule) if r.strip()]
    unknown = [r for r in items if r not in KEEP_CRITERIA]
    if unknown or not items:
        raise KeepRuleError(
            f"unknown keep rule {', '.join(unknown) or '(empty)'}: use a comma-separated order of "
            f"{', '.join(KEEP_CRITERIA)}"
        )
    if "oldest" in items and "newest" in items:
        raise KeepRuleError("a keep rule cannot ask for both the oldest and the newest copy")
    return tuple(dict.fromkeys(items))


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _compare_dates(a: Member, b: Member, older_first: bool) -> int:
    if a.capture_time is not None and b.capture_time is not None:
        gap = a.capture_time - b.capture_time
    elif (a.capture_time is None) != (b.capture_time is None):
        return -1 if a.capture_time is not None else 1  # the copy that kept the camera's date
    else:
        gap = a.mtime_ns - b.mtime_ns
        if abs(gap) < SAME_FILE_TIME_NS:
            return 0
    return _sign(gap) if older_first else -_sign(gap)


def _comparable_sizes(a: Member, b: Member) -> bool:
    qa, qb = a.provenance.jpeg_quality, b.provenance.jpeg_quality
    if qa is None or qb is None:
        return qa is None and qb is None
    return abs(qa - qb) <= SAME_QUALITY


def compare(a: Member, b: Member, criterion: str) -> int:
    """Negative when ``a`` is the better copy to keep by ``criterion``, positive for ``b``, 0: a tie."""
    if criterion == "original":
        first = int(b.provenance.camera_original) - int(a.provenance.camera_original)
        if first or not a.provenance.camera_original:
            return first
        # Both name a camera and no known editor: the one a program did not sign is the camera's
        # file (the other's Software tag is an editor not on the list, or an export).
        return int(bool(a.provenance.software)) - int(bool(b.provenance.software))
    if criterion in ("oldest", "newest"):
        return _compare_dates(a, b, criterion == "oldest")
    if criterion == "pixels":
        return _sign(b.pixels - a.pixels)
    if criterion == "size":
        return _sign(b.size - a.size) if _comparable_sizes(a, b) else 0
    if criterion == "shortest_path":
        return _sign(len(a.path) - len(b.path))
    raise AssertionError(criterion)


def _describe(member: Member, criterion: str) -> str:
    if criterion == "original":
        software = member.provenance.software  # camera firmware here: an editor would not be kept
        return f"{member.provenance.camera}, " + (software if software else "no editing software")
    if criterion == "pixels":
        return f"{member.width}x{member.height}" if member.pixels else "size unknown"
    if criterion == "size":
        quality = member.provenance.jpeg_quality
        return format_bytes(member.size) + (f", same JPEG quality {quality}" if quality else "")
    if criterion in ("oldest", "newest"):
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(member.date))
        return when if member.capture_time is not None else f"no capture date; file time {when}"
    return member.path


def choose_keep(members: Sequence[Member], rule: Sequence[str] = DEFAULT_KEEP_RULE) -> tuple[Member, str]:
    """The member to keep by ``rule`` and the reason, in words ("camera original (Canon EOS 80D, ...)")."""
    pool = [m for m in members if m.reference] or list(members)

    def order(a: Member, b: Member) -> int:
        for criterion in rule:
            result = compare(a, b, criterion)
            if result:
                return result
        return (a.path > b.path) - (a.path < b.path)

    ranked = sorted(pool, key=functools.cmp_to_key(order))
    best = ranked[0]
    prefix = "in a reference folder; " if best.reference and len(pool) < len(members) else ""
    if len(ranked) == 1:
        return best, "in a reference folder (never deleted)" if best.reference else "the only copy"
    runner_up = ranked[1]
    for criterion in rule:
        if compare(best, runner_up, criterion) < 0:
            detail = "" if criterion == "shortest_path" else f" ({_describe(best, criterion)})"
            return best, f"{prefix}{KEEP_CRITERIA[criterion]}{detail}"
    return best, f"{prefix}first by name (the copies tie on {', '.join(KEEP_CRITERIA[c] for c in rule)})"
