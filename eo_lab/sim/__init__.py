"""A simulated site: physics of load, PV, battery and grid, served over Modbus.

No Home Assistant here: the simulator runs in tests, in ``eo simulate`` and in
benchmarks. ``profiles`` drives load and PV, ``battery`` and ``site`` are the
physics, ``servers`` puts device emulators (``devices``) on real Modbus TCP
sockets, ``simulated_site`` runs a site on a clock behind one, and ``fleet``
serves every emulator at once for ``eo simulate``.
"""
