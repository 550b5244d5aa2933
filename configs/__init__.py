"""Installed as the package data ``nlp.configs``: see pyproject.toml."""
