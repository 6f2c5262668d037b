"""Emulators of device families, on real sockets.

Modbus ones are served by pymodbus' server (``sim.servers``); serial ones
are each a ``SerialPeer`` (``serial_peer``), reached as through ser2net.
"""
