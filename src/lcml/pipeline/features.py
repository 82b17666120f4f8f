"""A release's training features, computed a batch at a time (``lcml data features``).

A training reads its splits whole and computes the baseline's features on the way
(:func:`lcml.features.extract.cached`); for a survey-size release that is where the hours go. This
flow computes the same feature matrices ahead, streaming the release ``SCAN_ROWS`` curves at a time,
so memory holds one batch of curves and the (small) matrices, and stores them in the training's feature
cache under the key a training of the same release and settings computes: that training then reads
them instead of searching periods again. ``train`` and ``val`` are done (what the search and its refit
read); the test split is scored through the registered model, which computes its own.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from lcml.config import context
from lcml.data import release as rel
from lcml.errors import InputError
from lcml.pipeline.data import release_features

log = logging.getLogger("lcml.pipeline")
#: the splits whose features a training computes from the curves
SPLITS = ("train", "val")


def featurize_release(release: str, family: str = "baseline", profile: str | None = None,
                      overrides: dict | None = None) -> dict[str, Any]:
    """Compute ``family``'s features of the ``train`` and ``val`` splits of ``release`` into the feature cache.

    Returns per split the number of curves, the cache entry and whether it was there already. Only the
    feature baseline's inputs are cached this way (the networks' folds and images are cheap next to
    their training).
    """
    from lcml.features.baseline import baseline_matrix
    from lcml.features.extract import CurveDigest, store
    from lcml.families.baseline import feature_settings

    if family != "baseline":
        raise InputError(f"only the baseline's features are computed ahead (got family {family!r})")
    params, paths = context(profile, overrides)
    folder = rel.release_dir(paths, release)
    if not (folder / rel.LIGHTCURVES).is_file():
        raise InputError(f"release {release} not found at {folder} (dvc pull, or build it first)")
    settings = feature_settings(release_features(params, folder, release), params.search.of(family).options)
    # pass 1, hashing only (seconds): the entries a training of this release would look up
    digests = {s: CurveDigest(settings.key) for s in SPLITS}
    counts = dict.fromkeys(SPLITS, 0)
    for split, curves in _split_batches(folder, params):
        digests[split].update(curves)
        counts[split] += len(curves)
    entries = {s: paths.feature_cache / f"{digests[s].key()}.npz" for s in SPLITS}
    out: dict[str, Any] = {"release": release, "family": family, "cache": str(paths.feature_cache)}
    for split in SPLITS:
        if not counts[split]:
            raise InputError(f"release {release}: the {split} split is empty")
        out[split] = {"n_curves": counts[split], "entry": entries[split].name, "cached": entries[split].is_file()}
    missing = [s for s in SPLITS if not entries[s].is_file()]
    if not missing:
        return out
    # pass 2: the features of the splits not cached yet, a batch at a time
    parts: dict[str, list[np.ndarray]] = {s: [] for s in missing}
    todo, done, started = sum(counts[s] for s in missing), 0, time.monotonic()
    for split, curves in _split_batches(folder, params):
        if split in parts:
            parts[split].append(baseline_matrix(curves, **settings.kwargs, periods=settings.periods(len(curves)),
                                                n_jobs=settings.n_jobs))
            done += len(curves)
            log.info("features of %s: %s of %s curves, %.0f curves/s", release, f"{done:,}", f"{todo:,}",
                     done / max(time.monotonic() - started, 1e-9))
    for split in missing:
        store(entries[split], {"x": np.concatenate(parts[split])})
    return out


def _split_batches(folder, params):
    """``(split, curves)`` of each batch of a release's usable labelled rows, in file order (the order a
    training's frames have), for the splits of :data:`SPLITS`."""
    for frame in rel.scan_release(folder, ["object_id", "label", "time", "flux", "flux_err"], usable_only=True):
        frame = frame.loc[frame["label"].notna()]
        which = frame["object_id"].map(lambda oid: rel.split_of(oid, params.data.split))
        for split in SPLITS:
            chosen = frame.loc[which == split]
            if len(chosen):
                yield split, list(zip(chosen["time"], chosen["flux"], chosen["flux_err"]))
