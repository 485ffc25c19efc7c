"""modelroute_litellm adapter."""
