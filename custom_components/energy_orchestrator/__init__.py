"""Energy Orchestrator: a site's inverters, batteries, meters and wallboxes.

This package is Home Assistant's integration and also holds ``lib``, the
library of drivers and control that never imports Home Assistant, which the
``eo`` lab and remote nodes import on machines without it. Importing
``lib`` runs this file first, so it takes Home Assistant's hooks from
``hooks.py`` only where Home Assistant runs: there, Home Assistant imports
this package in its import executor, and the hooks load with it, not later
in the event loop.
"""

import sys

if "homeassistant.loader" in sys.modules:
    from .hooks import (
        CONFIG_SCHEMA,
        async_migrate_entry,
        async_remove_config_entry_device,
        async_remove_entry,
        async_setup,
        async_setup_entry,
        async_unload_entry,
    )

    __all__ = [
        "CONFIG_SCHEMA",
        "async_migrate_entry",
        "async_remove_config_entry_device",
        "async_remove_entry",
        "async_setup",
        "async_setup_entry",
        "async_unload_entry",
    ]
