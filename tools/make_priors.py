#!/usr/bin/env python
"""Print per-class period and amplitude quantile tables for :mod:`lcml.data.simulate.priors`.

Run from the repository root::

    .venv/bin/python tools/make_priors.py > /tmp/priors.txt

and paste the printed ``PRIOR_TABLES`` literal into ``src/lcml/data/priors.py``. The product never
reads the catalogs: only these small tables are baked into the code.

Inputs, under ``$LCML_REAL_DATA`` (default ``../shared/data``; see its README):

- ``ogle3/catalog.parquet``: OGLE-III Catalog of Variable Stars (``type``, ``subtype``, ``p_1`` days,
  ``a_1`` I-band peak-to-peak amplitude in mag). It holds no eclipsing binaries (no ECL type), so
  EB/EA/EW tables come from Catalina instead.
- ``kepler_starwhisper/labels.csv`` + ``periods_with_fap.csv``: the StarWhisper LightCurve Kepler sample
  (``kic, label``) and its Lomb-Scargle periods, several rows per star (one per data segment, some of
  them instrumental, e.g. ~167 d). No amplitudes.
- ``catalina_sss/train.parquet``: Catalina Sky Survey (SSS) periodic variables with catalog ``period``
  (days) and ``amplitude`` (V-band peak-to-peak mag), class from ``type_code``.

K2VARCAT (``k2/k2varcat_labels.csv``) holds labels only, and the K2SC curves are phase-folded and
normalised, so neither gives periods or amplitudes; they are not used.

Each table holds quantiles at :data:`PROBS` of log10(period / d) and of the amplitude (mag); the 0 and 1
quantiles are the minimum and maximum after the per-class plausibility cuts in ``CUTS`` (period) and
``AMPLITUDE_CUTS`` (amplitude).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

PROBS = (0.0, 0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99, 1.0)
MIN_STARS = 30  # fewer stars than this give quantiles too noisy to be a prior

#: Period windows (days) that keep what a class can physically be and drop catalog artefacts (e.g.
#: instrumental ~167 d Kepler peaks, or an EW "period" of 577 d).
CUTS: dict[str, tuple[float, float]] = {
    "RRab": (0.3, 1.0), "RRc": (0.2, 0.5), "T2CEP": (1.0, 25.0), "BLHer": (1.0, 4.0), "WVir": (4.0, 25.0),
    "DSCT": (0.02, 0.25), "GDOR": (0.2, 5.0), "HYB": (0.02, 5.0), "EB": (0.1, 100.0),
    "EW": (0.2, 1.0), "EA": (0.2, 100.0), "Rot": (0.1, 100.0), "LPV": (20.0, 1500.0),
    "Mira": (80.0, 1500.0), "SRV": (20.0, 1500.0), "RR": (0.2, 1.0),
}
#: Amplitude windows (mag): catalog amplitudes beyond these are failed fits (e.g. a Catalina LPV with
#: 192 mag); a contact binary of two stars cannot vary by more than ~1.2 mag.
AMPLITUDE_CUTS: dict[str, tuple[float, float]] = {"EW": (0.0, 1.2), "Mira": (0.0, 10.0), "LPV": (0.0, 10.0)}
DEFAULT_AMPLITUDE_CUT = (0.0, 5.0)


def _quantiles(period: np.ndarray, amplitude: np.ndarray | None, source: str, band: str | None,
               cls: str) -> dict | None:
    lo, hi = CUTS[cls]
    keep = np.isfinite(period) & (period >= lo) & (period <= hi)
    if amplitude is not None:
        a_lo, a_hi = AMPLITUDE_CUTS.get(cls, DEFAULT_AMPLITUDE_CUT)
        keep &= np.isfinite(amplitude) & (amplitude > a_lo) & (amplitude <= a_hi)
    if keep.sum() < MIN_STARS:
        print(f"# skipped {source}: {int(keep.sum())} stars after cuts (< {MIN_STARS})", file=sys.stderr)
        return None
    entry = {
        "n": int(keep.sum()),
        "source": source,
        "log10_period": tuple(round(float(x), 4) for x in np.quantile(np.log10(period[keep]), PROBS)),
        "amplitude": None,
        "amplitude_band": None,
    }
    if amplitude is not None:
        entry["amplitude"] = tuple(round(float(x), 4) for x in np.quantile(amplitude[keep], PROBS))
        entry["amplitude_band"] = band
    return entry


def _robust_periods(periods: pd.DataFrame) -> pd.Series:
    """One period per star: the median of the largest cluster (within 0.01 dex) of its LS periods.

    A star's rows agree on its true period across segments, while instrumental and alias peaks
    scatter, so the most repeated value is the star's period.
    """
    out = {}
    for kic, group in periods.groupby("kic"):
        lp = np.log10(group["period"].to_numpy())
        near = np.abs(lp[:, None] - lp[None, :]) < 0.01
        best = int(np.argmax(near.sum(axis=1)))  # first of the largest clusters (file order)
        out[kic] = 10 ** float(np.median(lp[near[best]]))
    return pd.Series(out, name="period")


def ogle3_tables(root: Path) -> dict[str, dict]:
    cat = pd.read_parquet(root / "ogle3" / "catalog.parquet", columns=["type", "subtype", "p_1", "a_1"])
    sel = {
        "RRab": (cat.type == "RRLyr") & (cat.subtype == "RRab"),
        "RRc": (cat.type == "RRLyr") & (cat.subtype == "RRc"),
        # lcml's Kepler RR class: fundamental and first-overtone pulsators in their catalog proportion.
        "RR": (cat.type == "RRLyr") & cat.subtype.isin(["RRab", "RRc"]),
        # RV Tau stars (alternating minima, 20-70 d) are a separate light-curve family, left out.
        "T2CEP": (cat.type == "T2Cep") & cat.subtype.isin(["BLHer", "WVir", "pWVir"]),
        "BLHer": (cat.type == "T2Cep") & (cat.subtype == "BLHer"),
        "WVir": (cat.type == "T2Cep") & cat.subtype.isin(["WVir", "pWVir"]),
        "DSCT": cat.type == "DSCT",
        "Mira": (cat.type == "LPV") & (cat.subtype == "Mira"),
        "SRV": (cat.type == "LPV") & (cat.subtype == "SRV"),
    }
    tables = {}
    for cls, mask in sel.items():
        sub = cat[mask]
        what = f"OGLE-III {cls} ({', '.join(sorted(set(sub.type + '/' + sub.subtype)))}), p_1 and a_1"
        entry = _quantiles(sub.p_1.to_numpy(float), sub.a_1.to_numpy(float), what, "I", cls)
        if entry:
            tables[f"ogle3/{cls}"] = entry
    return tables


def starwhisper_tables(root: Path) -> dict[str, dict]:
    labels = pd.read_csv(root / "kepler_starwhisper" / "labels.csv")
    periods = pd.read_csv(root / "kepler_starwhisper" / "periods_with_fap.csv")
    periods.columns = ["kic", "period", "fap"]
    periods = periods[np.isfinite(periods["period"]) & (periods["period"] > 0)]
    star = labels.merge(_robust_periods(periods).rename_axis("kic").reset_index(), on="kic")
    tables = {}
    for cls in ("DSCT", "GDOR", "HYB", "EB", "RR", "T2CEP"):
        p = star.loc[star.label == cls, "period"].to_numpy(float)
        what = f"StarWhisper Kepler {cls}, most repeated Lomb-Scargle period per star"
        if cls == "EB":
            # Two minima per orbit: Lomb-Scargle peaks at half the orbital period of an eclipsing binary.
            p, what = 2.0 * p, what + " x 2 (orbital)"
        if cls not in CUTS:
            print(f"# skipped {what}: no cut window", file=sys.stderr)
            continue
        entry = _quantiles(p, None, what, None, cls)
        if entry:
            tables[f"starwhisper/{cls}"] = entry
    return tables


def catalina_tables(root: Path) -> dict[str, dict]:
    cat = pd.read_parquet(root / "catalina_sss" / "train.parquet", columns=["period", "amplitude", "type_code"])
    codes = {"RRab": 1, "RRc": 2, "EW": 5, "EA": 6, "Rot": 7, "LPV": 8, "DSCT": 9}
    tables = {}
    for cls, code in codes.items():
        sub = cat[cat.type_code == code]
        what = f"Catalina SSS type_code {code} ({cls}), period and V amplitude"
        entry = _quantiles(sub.period.to_numpy(float), sub.amplitude.to_numpy(float), what, "V", cls)
        if entry:
            tables[f"catalina/{cls}"] = entry
    return tables


def main() -> None:
    root = Path(os.environ.get("LCML_REAL_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    if not root.is_dir():
        sys.exit(f"error: real data not found at {root} (set LCML_REAL_DATA)")
    tables = {**ogle3_tables(root), **starwhisper_tables(root), **catalina_tables(root)}
    print(f"QUANTILE_PROBS: tuple[float, ...] = {PROBS!r}")
    print("PRIOR_TABLES: dict[str, dict] = {")
    for key, entry in tables.items():
        print(f"    {key!r}: {{")
        for field, value in entry.items():
            print(f"        {field!r}: {value!r},")
        print("    },")
    print("}")


if __name__ == "__main__":
    main()
