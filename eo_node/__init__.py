"""``eo node``: the agent that runs on a remote node (a Raspberry Pi in a shed).

It reads the node's devices with the integration's own drivers (``lib``),
publishes them to an MQTT broker, answers requests in the JSON envelope of
docs/node-protocol.md, and releases every control it wrote when the
controller's heartbeat stops. It needs the project's Python package alone:
Home Assistant is never imported (tests/test_layers.py fences it).
"""
