"""Routing strategies: rank a route's models for one request.

A strategy is pure: `rank(request, models, catalog) -> Ranking`. The ranking's order
becomes the request's fallback chain (models it leaves out are not tried); its score,
threshold and tier go into the `Decision`.
"""
