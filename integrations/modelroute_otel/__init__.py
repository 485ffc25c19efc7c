"""modelroute_otel adapter."""
