"""The site report entry: the site's metrics from the recorder's statistics.

The metrics are computed HA-free in ``lib/reports``; this package reads the
statistics through the recorder and offers them as sensors and actions.
"""
