"""How much of a light curve a registered classifier needs: the StarWhisper LightCurve paper's two studies.

The paper (Li et al. 2024, arXiv:2404.10757) publishes two per-star catalogs for its Kepler sample,
kept in ``../shared/data/kepler_starwhisper/``:

``phase_importance_catalog.csv``
    ``Star`` (``<CLASS>_<KIC zero-padded to 9 digits>``, e.g. ``DSCT_001026294``) and 20 columns
    ``-1, -0.9, ..., 0, ..., 0.9``: the start of a 0.1-wide window on the phase axis ``[-1, 1)``,
    one value per window (min-max normalised per star in the published file, NaN for the 169 stars
    whose values are all equal). 6,851 rows, one per star.
``sampling_catalog.csv``
    ``Star`` and 10 columns ``0.02, 0.04, ..., 0.2``: the sampling interval in days (0.02 d is
    Kepler's 29.4-min long cadence), one value per interval: the probability of the star's true
    class. 6,851 rows, one per star.

Here the same two studies run on a registered pyfunc (raw light curves in, probabilities out), and
their catalogs keep the paper's layout: ``Star`` then the paper's window / interval columns, in its
order and with its names; the columns lcml adds (predicted labels, point counts, the sweep below)
come only after them.

Phase study (:func:`phase_study`)
    Each star is folded on its own Lomb-Scargle period (the model's own period search settings,
    on the whole curve) with minimum light at phase -1; one cycle maps onto ``[-1, 1)``. For a
    window that keeps a fraction ``w`` of the cycle starting at phase ``s`` (wrapping at 1), only the
    raw points inside it are scored. Observing a periodic star only during that part of each cycle
    takes ``w`` of the observing time, so ``1 - w`` is the observation time cut. The paper-shaped
    columns hold the probability of the true class for ``w = catalog_window`` (default 0.05: the
    paper's 0.1-wide windows on the two-unit axis) at each start; the sweep over ``windows``
    (averaged over the same starts) gives accuracy against the observation time kept.
Sampling study (:func:`sampling_study`)
    Each curve is decimated to a coarser sampling interval ``dt``: walking forward in time, a point is
    kept when it is at least ``dt`` after the last kept one (0.02 d keeps every Kepler long-cadence
    point, 0.04 d every second one, ..., 0.2 d every tenth). The paper-shaped columns hold the
    probability of the true class at each interval; ``n_<dt>`` the points kept, from which the
    sampling points cut ``1 - n_dt / n_points`` is measured.

:func:`summarise` turns a catalog into accuracy per window / interval (overall and per class, a star
counting as right when the model's most probable class is its true class) and the paper's headline:
the largest cut of observation time (phase) or of sampling points (sampling) whose accuracy is within
``max_loss`` (10%, relative) of the full curve's. :func:`write_catalog` writes the CSV and the summary
JSON next to it; :func:`run_study` does all of it for a split of a release (what ``lcml study`` calls).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lcml.errors import InputError
from lcml.studies.common import (  # noqa: F401 - the studies' public names, in one place for `lcml study`
    DEFAULT_WINDOWS, FULL, MAX_RELATIVE_LOSS, MIN_POINTS, PAPER_INTERVALS, PAPER_PHASE_STARTS, PAPER_WINDOW, PHASE_COLUMNS, SAMPLING_COLUMNS, STAR, StudyKind, column_name, star_name,
)
from lcml.studies.phase import phase_of, phase_study, phase_window  # noqa: F401
from lcml.studies.sampling import decimate, sampling_study  # noqa: F401
from lcml.studies.summary import (  # noqa: F401
    format_summary, grid_columns, infer_kind, paper_importance, read_catalog, summarise, summary_path, write_catalog, _json_safe,
)


def run_study(
    kind: StudyKind,
    model_uri: str,
    output: str | Path,
    *,
    release: str | None = None,
    split: str | None = "test",
    profile: str | None = None,
    windows: Sequence[float] | None = None,
    starts: Sequence[float] | None = None,
    intervals: Sequence[float] | None = None,
    max_loss: float = MAX_RELATIVE_LOSS,
    progress: bool = False,
) -> dict[str, Any]:
    """Run one study on a split of a release and write its catalog and summary.

    Parameters
    ----------
    kind : {"phase", "sampling"}
    model_uri : str
        e.g. ``models:/kepler-variable-star-classifier@champion``.
    output : str or Path
        Catalog CSV; the summary JSON goes beside it.
    release : str, optional
        ``<survey>/<version>``; default the one in params.yaml.
    split : {"train", "val", "test"} or None, default "test"
        None studies every labelled star of the release.

    Returns
    -------
    dict
        ``catalog`` and ``summary_path`` (str), ``release``, ``split``, and the ``summary``.
    """
    from lcml.data import release as rel
    from lcml.config import context

    if kind not in ("phase", "sampling"):
        raise InputError(f"study must be 'phase' or 'sampling', got {kind!r}")
    params, paths = context(profile)
    rid = release or rel.release_id(params.data.survey, params.data.release)
    folder = rel.release_dir(paths, rid)
    if not folder.is_dir():
        raise InputError(f"release {rid} not found at {folder} (build it with `lcml data build`)")
    if rel.read_manifest(folder).get("folded"):
        raise InputError(f"release {rid} holds phase-folded curves; the studies need raw light curves in time")
    try:
        frame = rel.load_release(folder, split, params.data.split)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if frame.empty:
        raise InputError(f"release {rid} has no labelled light curves in split {split!r}")
    if kind == "phase":
        catalog = phase_study(model_uri, frame, windows=windows or DEFAULT_WINDOWS,
                              starts=starts or PAPER_PHASE_STARTS, progress=progress)
    else:
        catalog = sampling_study(model_uri, frame, intervals=intervals or PAPER_INTERVALS, progress=progress)
    summary = summarise(catalog, kind=kind, max_loss=max_loss)
    summary.update({"model": model_uri, "release": rid, "split": split})
    csv, js = write_catalog(catalog, output, summary=summary)
    return {"catalog": str(csv), "summary_path": str(js), "release": rid, "split": split, "summary": summary}
