"""Shared by the StarWhisper studies: the paper's grids, their arguments, and the model scoring many variants of many curves."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import numpy as np
import pandas as pd

from lcml.errors import InputError

#: the paper's phase windows: starts on the phase axis [-1, 1), 0.1 apart
PAPER_PHASE_STARTS: tuple[float, ...] = tuple(float(np.round(-1.0 + 0.1 * i, 1)) + 0.0 for i in range(20))
#: the paper's sampling intervals in days (0.02 d is Kepler long cadence)
PAPER_INTERVALS: tuple[float, ...] = tuple(float(np.round(0.02 * i, 2)) for i in range(1, 11))
#: fraction of each cycle kept by one paper-shaped phase window (0.1 of the two-unit axis)
PAPER_WINDOW: float = 0.05
#: kept fractions of the cycle swept for the observation-time summary
DEFAULT_WINDOWS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0)
#: the paper's criterion: at most this relative accuracy loss against the full curve
MAX_RELATIVE_LOSS: float = 0.10

STAR = "Star"
FULL = "full"
#: fewer finite points than this cannot be scored (lcml.features.extract.featurize needs 3)
MIN_POINTS = 3
#: light-curve variants per pyfunc call: large enough to batch the network, small enough for memory
_BATCH = 2048

StudyKind = Literal["phase", "sampling"]


def column_name(value: float) -> str:
    """Column label of a window start or interval as the paper writes it (``-1``, ``0``, ``0.02``, ``0.1``)."""
    return f"{float(value) + 0.0:g}"  # + 0.0 turns -0.0 into 0.0, so no "-0" column


PHASE_COLUMNS: list[str] = [STAR, *map(column_name, PAPER_PHASE_STARTS)]
SAMPLING_COLUMNS: list[str] = [STAR, *map(column_name, PAPER_INTERVALS)]


# ---------------------------------------------------------------- arguments and inputs


def _fractions(values: Iterable[float], what: str) -> list[float]:
    out = sorted({float(v) for v in values})
    if not out:
        raise InputError(f"{what}: give at least one value")
    bad = [v for v in out if not (math.isfinite(v) and 0.0 < v <= 1.0)]
    if bad:
        raise InputError(f"{what} must be fractions of the cycle in (0, 1], got {bad}")
    return out


def _starts(values: Iterable[float]) -> list[float]:
    out = sorted({float(v) + 0.0 for v in values})
    if not out:
        raise InputError("phase window starts: give at least one value")
    bad = [v for v in out if not (math.isfinite(v) and -1.0 <= v < 1.0)]
    if bad:
        raise InputError(f"phase window starts must lie in [-1, 1), got {bad}")
    if len({column_name(v) for v in out}) != len(out):
        raise InputError(f"phase window starts {out} collide once written as column names")
    return out


def _intervals(values: Iterable[float]) -> list[float]:
    out = sorted({float(v) for v in values})
    if not out:
        raise InputError("sampling intervals: give at least one value")
    bad = [v for v in out if not (math.isfinite(v) and v > 0.0)]
    if bad:
        raise InputError(f"sampling intervals must be positive numbers of days, got {bad}")
    if len({column_name(v) for v in out}) != len(out):
        raise InputError(f"sampling intervals {out} collide once written as column names")
    return out


def _check_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The raw light curves, one labelled row per star, or one clear error."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a DataFrame of light curves, got {type(frame).__name__}")
    if frame.empty:
        raise InputError("no light curves to study: the frame is empty")
    missing = [c for c in ("object_id", "label", "time", "flux") if c not in frame]
    if missing:
        raise InputError(f"light curves lack columns {missing} (need object_id, label, time, flux[, flux_err])")
    unlabelled = int(frame["label"].isna().sum())
    if unlabelled:
        raise InputError(f"{unlabelled} light curves have no label; a study needs each star's true class")
    dup = frame["object_id"][frame["object_id"].duplicated()].astype(str).unique()
    if len(dup):
        raise InputError(f"object_id must be unique (one row per star); repeated: {list(dup[:5])}")
    return frame.reset_index(drop=True)


def star_name(label: str, object_id: Any) -> str:
    """The paper's star name ``<CLASS>_<id>``; an all-digit id (a KIC number) is zero-padded to 9 digits."""
    oid = str(object_id)
    return f"{label}_{oid.zfill(9) if oid.isdigit() else oid}"


# ---------------------------------------------------------------- model


class _Model:
    """A registered pyfunc loaded once, scoring many variants of many curves in batches."""

    def __init__(self, model_uri: str) -> None:
        from lcml.serving.loader import load_model

        self.pyfunc = load_model(model_uri)  # an unknown registered name or alias: InputError naming it
        self.uri = model_uri
        self.classes = [c.removeprefix("p_") for c in self._output_columns() if c.startswith("p_")]
        self.features = self._feature_params()

    def _output_columns(self) -> list[str]:
        outputs = self.pyfunc.metadata.get_output_schema()
        if outputs is None:
            raise InputError(f"model {self.uri} declares no output schema; lcml studies need its p_<class> columns")
        return list(outputs.input_names())

    def _feature_params(self):
        """The period search settings the model itself uses, so windows follow the period it would find."""
        from lcml.config import load_params

        try:
            found = getattr(self.pyfunc.unwrap_python_model(), "features", None)
        except Exception:  # noqa: BLE001 - not an lcml pyfunc: fall back to the project's settings
            found = None
        return found if found is not None else load_params().features

    def score(self, variants: list[dict[str, Any]]) -> pd.DataFrame:
        """Probabilities for ``variants`` (dicts with key, time, flux, flux_err); indexed by key."""
        if not variants:
            return pd.DataFrame(columns=["label_pred", *[f"p_{c}" for c in self.classes]])
        parts = []
        for start in range(0, len(variants), _BATCH):
            chunk = pd.DataFrame(variants[start : start + _BATCH])
            batch = chunk.rename(columns={"key": "object_id"})
            if batch["flux_err"].isna().all():
                batch = batch.drop(columns="flux_err")
            out = self.pyfunc.predict(batch)
            out.index = chunk["key"].to_numpy()
            parts.append(out)
        return pd.concat(parts)


def _valid(time: np.ndarray, flux: np.ndarray, err: np.ndarray | None) -> np.ndarray:
    """Points the model keeps (lcml.features.extract.clean): finite, and a positive finite error if given."""
    ok = np.isfinite(time) & np.isfinite(flux)
    if err is not None:
        ok &= np.isfinite(err) & (err > 0)
    return ok


def _curves(frame: pd.DataFrame) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]]:
    has_err = "flux_err" in frame
    for i, row in enumerate(frame.itertuples(index=False)):
        err = getattr(row, "flux_err") if has_err else None
        yield (i, np.asarray(row.time, float), np.asarray(row.flux),
               None if err is None else np.asarray(err))


def _variant(key: str, time: np.ndarray, flux: np.ndarray, err: np.ndarray | None,
             keep: np.ndarray | None) -> dict[str, Any] | None:
    """One curve to score, or None when too few points are left to classify at all."""
    if keep is not None:
        time, flux, err = time[keep], flux[keep], (None if err is None else err[keep])
    ok = _valid(time, flux, err)
    if ok.sum() < MIN_POINTS or np.ptp(time[ok]) <= 0:
        return None
    return {"key": key, "time": time, "flux": flux, "flux_err": err}


def _chunks(n: int, per_star: int) -> Iterator[range]:
    step = max(1, _BATCH // max(per_star, 1))
    for start in range(0, n, step):
        yield range(start, min(n, start + step))


def _check_labels(frame: pd.DataFrame, model: _Model) -> None:
    unknown = sorted(set(frame["label"].astype(str)) - set(model.classes))
    if unknown:
        raise InputError(f"labels {unknown} are not classes of {model.uri} ({model.classes}); "
                         "the probability of the true class is undefined for them")


def _p_true(scores: pd.DataFrame, key: str, label: str) -> tuple[float, Any]:
    if key not in scores.index:
        return float("nan"), None  # not scorable: no prediction, counted as a miss by summarise
    row = scores.loc[key]
    return float(row[f"p_{label}"]), row["label_pred"]


def _head(frame: pd.DataFrame) -> dict[str, list]:
    labels = frame["label"].astype(str).tolist()
    return {STAR: [star_name(lab, oid) for lab, oid in zip(labels, frame["object_id"])]}
