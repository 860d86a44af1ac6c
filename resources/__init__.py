"""simdesk's data files: the app icon (SVG and PNG sizes), the desktop entry and the AppStream
metainfo.

This folder is installed as the package ``simdesk._resources`` (see ``[tool.setuptools.package-dir]``
in pyproject.toml). Read its files through :mod:`simdesk.resources`, never by path.
"""
