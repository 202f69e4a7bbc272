"""MQTT sync: the gateway's publisher and the community server's collector.

Sees the gateway only through `gateway.core` (values and the `Outbox` port).
"""
