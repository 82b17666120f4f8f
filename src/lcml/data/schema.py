"""Canonical release schema and the class taxonomy of each survey."""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

LIGHTCURVE_SCHEMA = pa.schema(
    [
        pa.field("object_id", pa.string(), nullable=False),
        pa.field("label", pa.string()),
        pa.field("time", pa.list_(pa.float64())),
        pa.field("flux", pa.list_(pa.float32())),
        pa.field("flux_err", pa.list_(pa.float32())),
    ]
)

#: Classes each survey's classifier predicts (StarWhisper LightCurve's Kepler classes first).
TAXONOMIES: dict[str, tuple[str, ...]] = {
    "kepler": ("T2CEP", "RR", "HYB", "GDOR", "EB", "DSCT"),
}


def classes_for(survey: str) -> tuple[str, ...]:
    """Return the class names of ``survey``; raise ``KeyError`` with the known surveys."""
    try:
        return TAXONOMIES[survey]
    except KeyError:
        raise KeyError(f"unknown survey {survey!r}; known: {', '.join(sorted(TAXONOMIES))}") from None
