"""Backtests behind `eo backtest`, `eo backtest-bound` and `eo backtest-ev`.

- ``profile``: a measured profile onto a regular grid, and its warm-up.
- ``battery``: the simulated battery every strategy runs.
- ``strategies``: ``eo backtest``'s peak-shaving strategies and their tally.
- ``bound``: the causal bound, what any controller seeing only the past can reach.
- ``branches``: the orchestrator on the bound's branches.
- ``report``: the figures as text.
- ``ev``: ``eo backtest-ev``, the car.
"""
