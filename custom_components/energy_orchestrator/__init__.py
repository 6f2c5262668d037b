"""Energy Orchestrator: a site's inverters, batteries, meters and wallboxes.

This package is Home Assistant's integration and also holds ``lib``, the
library of drivers and control that never imports Home Assistant, which the
``eo`` lab and remote nodes import on machines without it. Importing
``lib`` runs this file first, so this file imports nothing of Home
Assistant: its hooks live in ``hooks.py`` and are looked up here when Home
Assistant asks for them.
"""

from importlib import import_module
from typing import Any

# What Home Assistant looks up on an integration, all defined in hooks.py.
_HOOKS = frozenset(
    {
        "CONFIG_SCHEMA",
        "async_setup",
        "async_setup_entry",
        "async_unload_entry",
        "async_remove_entry",
        "async_migrate_entry",
    }
)


def __getattr__(name: str) -> Any:
    """Return one of Home Assistant's hooks from ``hooks.py``."""
    if name in _HOOKS:
        return getattr(import_module(".hooks", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
