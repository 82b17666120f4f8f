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
    # Catalina Sky Survey, Siding Spring (Drake et al. 2017), as labelled in the Hosenie et al. 2020 split.
    "catalina-sss": ("EW", "EA", "RRab", "RRc", "Rot", "LPV", "RRd", "Blazhko", "Cep-II", "ACEP", "dSct"),
    # Catalina Real-Time Transient Survey periodic variables (Drake et al. 2014).
    "crts": (
        "EA", "EW", "RRc", "RRab", "RS_CVn", "LPV", "RRd", "beta_lyrae", "HADS", "ELL", "Cep_II", "PCEB",
        "Blazhko", "ACEP", "Hump", "LADS",
    ),
    # K2VARCAT (Armstrong et al. 2016); "Noise" and "OTHPER" are catalog classes too.
    "k2": ("DSCUT", "EA", "EB", "GDOR", "RRab", "OTHPER", "Noise"),
    # AstroM3 (Rizhko & Bloom 2024): ASAS-SN classes with LAMOST spectra.
    "astrom3": ("EW", "SR", "EA", "RRAB", "EB", "ROT", "RRC", "HADS", "M", "DSCT"),
}

#: Catalina SSS numeric ``type_code`` -> class name (shared data README; code 11 does not occur).
CATALINA_SSS_TYPE_CODES: dict[int, str] = {
    1: "RRab", 2: "RRc", 3: "RRd", 4: "Blazhko", 5: "EW", 6: "EA", 7: "Rot", 8: "LPV", 9: "dSct", 10: "ACEP",
    12: "Cep-II",
}


def classes_for(survey: str) -> tuple[str, ...]:
    """Return the class names of ``survey``; raise ``KeyError`` with the known surveys."""
    try:
        return TAXONOMIES[survey]
    except KeyError:
        raise KeyError(f"unknown survey {survey!r}; known: {', '.join(sorted(TAXONOMIES))}") from None
