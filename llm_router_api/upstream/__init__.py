"""Talking to upstream model servers: transport, wire codecs, transport errors."""
