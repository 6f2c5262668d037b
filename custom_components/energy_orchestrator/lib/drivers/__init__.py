"""Device drivers: talk to hardware, return readings in the common value model.

Nothing in this package imports Home Assistant, so the same code runs in the
integration, in the ``eo`` command-line tool and in the tests.
"""
