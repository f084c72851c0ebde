"""A markdown table of rows (dicts with the same keys), for the experiments' results files
(pandas' ``to_markdown`` needs ``tabulate``, which hbo does not install)."""

from __future__ import annotations


def markdown(rows: list[dict]) -> str:
    """A markdown table of dicts with the same keys: a column per key, in the first row's order."""
    head = "| " + " | ".join(rows[0]) + " |"
    lines = [head, "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(str(v) for v in row.values()) + " |" for row in rows]
    return "\n".join(lines)
