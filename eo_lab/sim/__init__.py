"""A simulated site: physics of load, PV, battery and grid, served over Modbus.

No Home Assistant here: the simulator runs in tests, in ``eo simulate`` and in
benchmarks. ``profiles`` drives load and PV, ``battery`` and ``site`` are the
physics, ``servers`` puts device emulators on real Modbus TCP sockets.
"""
