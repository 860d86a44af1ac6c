"""The PyInstaller entry point: the `simdesk` command (the desktop app when given no command)."""

from simdesk.cli import main

raise SystemExit(main())
