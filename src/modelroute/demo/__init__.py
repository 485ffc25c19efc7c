"""The demo: a simulated routed workload against the local provider server."""
