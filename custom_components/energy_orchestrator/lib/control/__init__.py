"""The brains: battery manager, peak shaving, wallbox phases. No Home Assistant.

Everything here is deterministic: the clock and every input are passed in,
so the same code runs live in Home Assistant, in tests and in backtests that
replay a month in well under a second.
"""
