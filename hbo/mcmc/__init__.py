"""NUTS on one flat vector of unconstrained parameters (moved from hbo.hierarchy.models)."""
