"""Resolutions, and rounding to them, for drivers and controllers alike.

A float32 register, a scale factor of 0.1 or a sum of measured powers gives
digits no device measured (232.451904296875 V, 968.000000000004 W,
-4.09e-12 W). Every figure the library hands out is rounded to what it is
worth, and a rounded zero is +0, never -0.
"""

# The resolution of each kind of figure, in decimals: as fine as a home's
# meters, inverters and BMSes measure (0.1 W, 1 Wh, 0.1 V, 0.01 A, 0.1 %,
# 1 mAh, 0.001 of a power factor), no finer.
WATT_DECIMALS = 1
WATT_HOUR_DECIMALS = 0
VOLT_DECIMALS = 1
AMPERE_DECIMALS = 2
PERCENT_DECIMALS = 1
CELSIUS_DECIMALS = 1
HERTZ_DECIMALS = 2
AMPERE_HOUR_DECIMALS = 3
RATIO_DECIMALS = 3


def rounded(value: float, decimals: int) -> float:
    """Return ``value`` rounded to ``decimals`` places, -0.0 as 0.0."""
    # Adding +0.0 turns the -0.0 that round() keeps for a tiny negative into 0.0.
    return round(value, decimals) + 0.0


def rounded_or_none(value: float | None, decimals: int) -> float | None:
    """Return ``value`` rounded as ``rounded`` does, or None for None."""
    return None if value is None else rounded(value, decimals)
