"""Home Assistant glue of the controllers: battery manager, peak shaving, wallbox.

A controller entry reads its inputs from entities (of this integration or
any other), runs HA-free control code from ``lib/control/`` on Home
Assistant's clock, persists the controller's state and writes its decisions
to output entities. The control code decides; this package only carries
values in and out.
"""
