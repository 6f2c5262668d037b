"""The lab: the `eo` command, the simulated site, the backtests and benchmarks.

Not shipped to Home Assistant users; it imports the integration's HA-free
library (`custom_components.energy_orchestrator.lib`) and never Home Assistant.
"""
