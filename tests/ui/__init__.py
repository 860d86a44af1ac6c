# A package, so that its conftest is "ui.conftest" and `import conftest` still finds tests/conftest.py.
