"""The backtests' figures as text: ``eo backtest`` and ``eo backtest-bound`` without ``--json``."""

from typing import Any

from eo_lab.backtest.bound import DAY, CausalBound
from eo_lab.backtest.branches import OrchestratorShares


def format_backtest(result: dict[str, Any]) -> str:
    """Return the scored window and the figures as a table."""
    names = list(result["strategies"])
    figures = list(next(iter(result["strategies"].values())))
    width = max(14, *(len(name) + 2 for name in names))
    lines = [
        scored_line(result),
        f"{'':24}" + "".join(f"{name:>{width}}" for name in names),
    ]
    for figure in figures:
        row = "".join(
            f"{result['strategies'][name][figure]:>{width}}" for name in names
        )
        lines.append(f"{figure:24}{row}")
    return "\n".join(lines)


def scored_line(result: dict[str, Any]) -> str:
    """Return the line that says which stretch of the profile was scored."""
    return f"scored from {result['scored_from']} to {result['scored_to']}"


def format_bound(
    bound: CausalBound, orchestrator: OrchestratorShares | None = None
) -> str:
    """Return the bound and its branches as lines of text, with the orchestrator's shares."""
    measured = bound.measured
    over = (
        "the measured profile and every branch"
        if bound.measured_share is None
        else f"every branch, reaching {bound.measured_share:.0%} on the measured profile"
    )
    lines = [
        f"causal bound: {100 * bound.share:.1f} % of the optimal's peak reduction"
        f" on {over}",
    ]
    if orchestrator is not None:
        worst = (
            f"{100 * orchestrator.worst_share:.1f} % on the worst of it and the branches"
            if bound.measured_share is None
            else f"{100 * orchestrator.worst_branch_share:.1f} % on the worst branch"
        )
        # Judged as the bound judges: only so far past the last branch point.
        days = bound.lookahead / DAY
        lines.append(
            f"orchestrator: {100 * orchestrator.measured_share:.1f} % on the"
            f" measured profile (to {days:g} days past the last branch point),"
            f" {worst}"
        )
    lines += [
        f"measured profile: none {measured.none_peak_w:.0f} W,"
        f" optimal {measured.optimal_peak_w:.0f} W, scored from"
        f" {bound.scored_from.isoformat()} to {bound.scored_to.isoformat()}",
        f"{'branch at':26}{'none':>8}{'optimal':>9}{'billed':>8}"
        + ("  orchestrator" if orchestrator is not None else ""),
    ]
    shares = orchestrator.branch_shares if orchestrator is not None else ()
    for index, (branch, billed) in enumerate(
        zip(bound.branches, bound.billed_peak_w, strict=True)
    ):
        line = (
            f"{branch.at.isoformat():26}{branch.reduction.none_peak_w:>8.0f}"
            f"{branch.reduction.optimal_peak_w:>9.0f}{billed:>8.0f}"
        )
        if shares:
            line += f"{100 * shares[index]:>12.1f} %"
        lines.append(line)
    return "\n".join(lines)
