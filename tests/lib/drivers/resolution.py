"""What a driver reports for a true value: the value, rounded to its resolution."""

from typing import Any

import pytest

from custom_components.energy_orchestrator.lib.drivers.values import quantity_of


def reported(key: str, truth: float, *, rel: float = 0.0) -> Any:
    """Return an approx of ``truth`` as the reading of ``key`` may show it.

    Within half the quantity's resolution, plus ``rel`` of the value for what
    the wire loses (a float32 keeps about 7 significant digits).
    """
    half_step = 0.5 * 10 ** -quantity_of(key).decimals
    return pytest.approx(truth, abs=half_step + rel * abs(truth) + 1e-9)
