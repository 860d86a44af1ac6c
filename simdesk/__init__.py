"""simdesk: a desktop photo organizer that finds similar photos with a CNN."""

__version__ = "0.1.0"
