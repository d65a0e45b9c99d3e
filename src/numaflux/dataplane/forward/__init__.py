"""Forwarders: source → ISB, ISB → map UDF → ISB, ISB → sink; each acks its input only after the output
is confirmed (at-least-once)."""
