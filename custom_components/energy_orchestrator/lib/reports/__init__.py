"""Site reports: hourly and daily metrics from the recorder's long-term statistics.

HA-free: the integration reads the statistics through the recorder's API,
``eo report`` through SQLAlchemy on the recorder's database; both hand the
rows to :func:`metrics.site_report`. The metrics are defined in docs/reports.md.
"""
