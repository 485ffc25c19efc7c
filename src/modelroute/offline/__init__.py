"""Offline routing evidence: load recorded outcomes, train routers, replay and calibrate them.

Needs the `ml` extra (numpy, scikit-learn). Nothing here calls a model: every number comes
from recorded per-model answers, qualities and costs (RouterBench / RouteLLM layouts).
"""
