# A package, so that its conftest is "ui.conftest" and `import helpers` finds tests/helpers.py.
