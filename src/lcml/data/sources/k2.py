"""K2: K2SC phase-folded light curves with K2VARCAT labels (Armstrong et al. 2016).

``k2sc_phasefolded_64bin.parquet`` holds one row per star: ``epic`` (int), ``campaign`` (int),
``label`` (K2VARCAT class) and ``flux`` (64 floats): the K2SC-detrended light curve folded on the
star's period and averaged in 64 phase bins, min-max scaled to [0, 1] with the faintest bin first.
There is no time axis and no error column, so :func:`read_k2_folded` returns a *folded* release:

- ``time`` = phase of each bin centre, ``(i + 0.5) / n_bins`` in [0, 1);
- ``flux`` = the file's values unchanged (already normalised);
- ``flux_err`` = an estimate of each star's bin-to-bin noise (see :data:`FLUX_ERR_METHOD`).

Bins with a NaN flux are dropped and counted in ``objects.n_dropped_points``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from lcml.data.sources import Ingested, check_accounted, lightcurve_table, rejected_frame
from lcml.errors import InputError

#: Floor of the flux error estimate, in the file's [0, 1] flux units (errors must be > 0).
FLUX_ERR_FLOOR = 1e-3
FLUX_ERR_METHOD = (
    "flux_err = max(1.4826*median(|diff(flux)|)/sqrt(2), 1e-3): robust bin-to-bin scatter of the star's "
    "folded curve, one value per star (the file has no errors)"
)
CONVERSION = (
    "flux = K2SC flux folded on the catalog period, mean in 64 phase bins, min-max scaled to [0, 1] "
    f"(as shipped); time = phase of the bin centre in [0, 1); {FLUX_ERR_METHOD}"
)


def estimate_flux_err(flux: np.ndarray) -> float:
    """Robust per-star noise estimate of a folded curve (see :data:`FLUX_ERR_METHOD`).

    Differences of neighbouring bins cancel the smooth signal and leave roughly ``sqrt(2)`` times the
    bin noise; the median absolute difference keeps eclipses and steep rises from inflating it.
    """
    flux = np.asarray(flux, dtype=np.float64)
    flux = flux[np.isfinite(flux)]
    if flux.size < 2:
        return FLUX_ERR_FLOOR
    sigma = 1.4826 * np.median(np.abs(np.diff(flux))) / np.sqrt(2.0)
    return float(max(sigma, FLUX_ERR_FLOOR))


def read_k2_folded(path: str | Path) -> Ingested:
    """Read the K2SC phase-folded 64-bin file as a folded release.

    Parameters
    ----------
    path
        ``k2/k2sc_phasefolded_64bin.parquet`` (columns ``epic``, ``campaign``, ``label``, ``flux``).

    Returns
    -------
    Ingested
        ``folded=True``; ``object_id`` is ``"EPIC <epic>"`` (the K2 FITS ``OBJECT`` form);
        ``objects`` holds ``object_id``, ``epic``, ``campaign``, ``n_bins``, ``n_points``,
        ``n_dropped_points`` and the estimated ``flux_err``. Stars whose bins are all NaN are rejected.

    Raises
    ------
    InputError
        Unreadable file, missing columns, or rows whose bin counts differ.
    """
    path = Path(path)
    try:
        frame = pq.read_table(path).to_pandas()
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = [c for c in ("epic", "campaign", "label", "flux") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected epic, campaign, label, flux")
    n_bins = {len(f) for f in frame["flux"] if f is not None}
    if len(n_bins) > 1:
        raise InputError(f"{path}: rows have different numbers of phase bins {sorted(n_bins)}; expected one")
    n = n_bins.pop() if n_bins else 0
    phase = (np.arange(n) + 0.5) / n if n else np.array([])

    ids, labels, times, fluxes, errors, rows, rejected = [], [], [], [], [], [], []
    columns = frame[["epic", "campaign", "label", "flux"]].itertuples(index=False)
    for i, (epic, campaign, label, flux) in enumerate(columns):
        oid = f"EPIC {int(epic)}" if pd.notna(epic) else None
        values = np.asarray(flux if flux is not None else [], dtype=np.float64)
        ok = np.isfinite(values)
        if oid is None or not ok.any():
            rejected.append({"object_id": oid, "source": f"{path} row {i}",
                             "reason": "no epic" if oid is None else f"no finite flux bin (of {values.size})"})
            continue
        err = estimate_flux_err(values)
        ids.append(oid)
        labels.append(label if isinstance(label, str) else None)
        times.append(phase[ok])
        fluxes.append(values[ok])
        errors.append(np.full(int(ok.sum()), err))
        rows.append({"object_id": oid, "epic": int(epic), "campaign": int(campaign) if pd.notna(campaign) else None,
                     "n_bins": int(values.size), "n_points": int(ok.sum()),
                     "n_dropped_points": int(values.size - ok.sum()), "flux_err": err})

    objects = pd.DataFrame(rows, columns=["object_id", "epic", "campaign", "n_bins", "n_points", "n_dropped_points",
                                          "flux_err"])
    result = Ingested(lightcurve_table(ids, labels, times, fluxes, errors), objects, rejected_frame(rejected),
                      CONVERSION, folded=True, source=f"k2 (K2SC, phase-folded {n} bins): {path}")
    return check_accounted(len(frame), result)


def read_k2varcat_labels(csv: str | Path) -> pd.DataFrame:
    """K2VARCAT labels as a DataFrame ``epic`` (int64), ``campaign`` (int64), ``label`` (str).

    Parameters
    ----------
    csv
        ``k2/k2varcat_labels.csv`` with header ``epic,campaign,label``.

    Raises
    ------
    InputError
        Unreadable file, missing columns, or a non-integer ``epic``.
    """
    csv = Path(csv)
    try:
        frame = pd.read_csv(csv, dtype={"label": str})
    except Exception as exc:
        raise InputError(f"{csv}: not a readable CSV file ({exc})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in ("epic", "campaign", "label") if c not in frame.columns]
    if missing:
        raise InputError(f"{csv}: missing column(s) {', '.join(missing)}; expected header epic,campaign,label")
    epic = pd.to_numeric(frame["epic"], errors="coerce")
    if epic.isna().any():
        row = int(np.flatnonzero(epic.isna().to_numpy())[0]) + 2
        raise InputError(f"{csv}: line {row}: epic {frame['epic'].iloc[row - 2]!r} is not an integer")
    return pd.DataFrame(
        {
            "epic": epic.astype("int64"),
            "campaign": pd.to_numeric(frame["campaign"], errors="coerce").astype("Int64"),
            "label": frame["label"].str.strip(),
        }
    )
