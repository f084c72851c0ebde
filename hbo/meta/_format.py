"""Number formats of metafor's printed output, shared by the ``summary()`` methods."""

from __future__ import annotations


def pval_text(p: float, eq: bool = True) -> str:
    """``"= 0.0016"`` or ``"< .0001"`` (``eq=False``: ``"0.0016"``, ``"<.0001"``), as metafor."""
    if p != p:  # NaN
        return "= NA" if eq else "NA"
    if p < 1e-4:
        return "< .0001" if eq else "<.0001"
    return f"= {p:.4f}" if eq else f"{p:.4f}"
