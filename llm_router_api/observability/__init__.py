"""What the gateway tells operators: Prometheus metrics and one structured log line per request."""
