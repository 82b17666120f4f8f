"""Canonical release schema (the taxonomies of the surveys are in :mod:`lcml.surveys`)."""

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

#: Catalina SSS numeric ``type_code`` -> class name (shared data README; code 11 does not occur).
CATALINA_SSS_TYPE_CODES: dict[int, str] = {
    1: "RRab", 2: "RRc", 3: "RRd", 4: "Blazhko", 5: "EW", 6: "EA", 7: "Rot", 8: "LPV", 9: "dSct", 10: "ACEP",
    12: "Cep-II",
}
