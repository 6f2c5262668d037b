"""The orchestrator on the causal bound's branches: where it stands against the bound.

``eo backtest-bound`` says the most any controller seeing only the past can
be sure of over a measured profile and its branches (the profile up to a
branch point, then the 24 hours before that point repeated). This module
runs the orchestrator itself over the same profiles and judges it the same
way, so the two figures compare: the gap from the orchestrator's worst share
to the bound is the orchestrator's own, whatever the profile's surprise.

The orchestrator is one controller that sees only the past, so its worst
share can never be above the bound; a run where it is would prove the bound
wrong. Where it does well on the measured profile and badly on a branch, it
bet on the future that came; where it does badly on the measured profile
and well on every branch, it trusted its forecast more than the profile
allowed.

Every branch is judged as the bound judges it: the peak billed from the
start of the scored part to ``lookahead`` past the branch point, against
the whole branch's peaks without a battery and with perfect foresight. The
orchestrator runs the measured profile once and each branch from a copy of
itself at the branch point, so a year's profile costs one year's run and a
week per branch.
"""

import copy
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from custom_components.energy_orchestrator.lib.control.energy_planner import (
    BatteryLimits,
)
from eo_lab.backtest.bound import DAY, CausalBound
from eo_lab.backtest.profile import Series, split_warmup
from eo_lab.backtest.strategies import OrchestratorReplay


@dataclass(frozen=True)
class OrchestratorShares:
    """The orchestrator's share on the measured profile and on each branch."""

    measured_share: float
    # In the order of the bound's branches.
    branch_shares: tuple[float, ...]

    @property
    def worst_share(self) -> float:
        """Return the worst of the measured profile and the branches."""
        return min(self.measured_share, *self.branch_shares)

    @property
    def worst_branch_share(self) -> float:
        """Return the worst of the branches (what a measured share's bound limits)."""
        return min(self.branch_shares)

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as plain JSON values."""
        return {
            "measured_share": round(self.measured_share, 4),
            "worst_share": round(self.worst_share, 4),
            "worst_branch_share": round(self.worst_branch_share, 4),
            "branch_shares": [round(share, 4) for share in self.branch_shares],
        }


def _peak_w(grid_w: list[float], per: int) -> float:
    """Return the highest average of whole billing intervals of ``per`` steps."""
    count = len(grid_w) // per * per
    averages = (sum(grid_w[i : i + per]) / per for i in range(0, count, per))
    return max(averages, default=0.0)


def orchestrator_on_branches(
    series: Series,
    battery: BatteryLimits,
    bound: CausalBound,
    *,
    interval: timedelta,
) -> OrchestratorShares:
    """Return the orchestrator's shares on ``bound``'s measured profile and branches.

    ``series``, ``battery`` and ``interval`` must be the ones the bound was
    computed with; the profile is split into history and scored part as
    ``eo backtest`` splits it.
    """
    per = int(interval / series.step)
    history, scored = split_warmup(series, interval)
    # The scored part starts this many steps into the whole profile.
    load, pv = series.load_w, series.pv_w
    offset = len(history.load_w)
    # Whole billing intervals only, as the bound scores them.
    end = len(scored.load_w) // per * per
    day = int(DAY / series.step)
    ahead = int(bound.lookahead / series.step)
    replay = OrchestratorReplay(
        history,
        scored.start,
        limits=battery,
        per=per,
        import_limit=None,
        interval=interval,
    )
    done = 0

    def run_measured(until: int) -> None:
        """Run the measured profile's steps up to ``until`` (exclusive)."""
        nonlocal done
        for index in range(done, until):
            moment = scored.start + index * series.step
            replay.run(moment, load[offset + index], pv[offset + index])
        done = max(done, until)

    shares: list[float] = []
    point = 0
    for branch in bound.branches:
        point = int((branch.at - scored.start) / series.step)
        run_measured(point)
        on_branch = copy.deepcopy(replay)
        # The 24 hours before the branch point, from the branch point on.
        first = offset + point - day
        for index in range(point, min(point + ahead, end)):
            moment = scored.start + index * series.step
            repeated = first + (index - point) % day
            on_branch.run(moment, load[repeated], pv[repeated])
        shares.append(branch.reduction.share(_peak_w(on_branch.tally.grid, per)))
    run_measured(min(point + ahead, end))
    measured = bound.measured.share(_peak_w(replay.tally.grid, per))
    return OrchestratorShares(measured, tuple(shares))
