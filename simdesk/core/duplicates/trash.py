"""Kept only until simdesk/cli.py imports from ``freedesktop_trash`` directly (its last two
import lines); everything else imports ``freedesktop_trash`` and ``journal``."""

from simdesk.core.duplicates.freedesktop_trash import TrashError, platform_support  # noqa: F401
