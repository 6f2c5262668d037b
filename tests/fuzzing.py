"""How long the fuzz tests run: a short default, a long run CI makes.

Every fuzz test takes the ``examples`` fixture (tests/conftest.py) and
hands its property to ``fuzz``: the default run tries QUICK examples of
each, ``scripts/test --slow`` (marker ``slow``) tries LONG.
"""

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

QUICK = 50
LONG = 1000


def fuzz(
    examples: int, check: Callable[..., None], *strategies: st.SearchStrategy[Any]
) -> None:
    """Run ``check`` on ``examples`` draws of ``strategies`` (positional)."""
    settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )(given(*strategies)(check))()
