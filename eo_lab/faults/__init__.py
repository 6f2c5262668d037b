"""Faults injected between a client and a simulated device (issue 26).

``proxy.FaultProxy`` is a Modbus TCP proxy that drops, refuses, stalls,
garbles, truncates, slows, answers exception codes and swaps the device
behind it on command; ``campaign`` runs every fault against Home Assistant
and measures what a user would see (``eo faults``).
"""
