"""Small utilities shared by the gateway and the guard service."""
