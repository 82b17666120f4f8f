"""Multimodal training inputs of a release (AstroM3): light curve, spectrum and metadata, split by hash.

What CLIP pretraining (:mod:`lcml.pipeline.pretrain`) and the label-fraction study
(:mod:`lcml.studies.label_fraction`) both read: :func:`load_study_data` loads a release's three splits as
:class:`~lcml.training.clip.MultimodalData`, with light-curve aux features measured on each curve
(:func:`light_curve_aux`, never a catalog's) and the metadata modality the release has
(:func:`study_metadata`).

Metadata
    A release with the AstroM3 catalog columns (:data:`~lcml.data.sources.astrom3.ASTROM3_METADATA_COLUMNS`,
    e.g. ``astrom3/sim-*``) uses those 34 columns. A catalog with sky positions only (Catalina SSS:
    ``ra``, ``dec``, ``vmag``) uses the Galactic position and the catalog magnitude
    (:data:`SKY_METADATA_COLUMNS`). Class labels and catalog light-curve features (``type_code``,
    ``period``, ``amplitude``, ``lksl_statistic``, ``rfr_score``) are never model inputs: the catalog
    period and amplitude were measured knowing the class (Catalina doubles binaries' periods), and the
    simulator's are the noise-free truth.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lcml.errors import InputError
from lcml.features.extract import ASTROM3_AUX

#: Metadata built from a catalog's sky position and magnitude (:func:`sky_metadata`).
SKY_METADATA_COLUMNS: tuple[str, ...] = ("gal_x", "gal_y", "gal_z", "vmag")
#: Columns that are never model inputs: the label and catalog quantities derived knowing it.
FORBIDDEN_COLUMNS: tuple[str, ...] = ("label", "type_code", "period", "amplitude", "lksl_statistic", "rfr_score")
#: Auxiliary photometry features, both computed from the light curve, in the encoder's input order
#: (:data:`lcml.features.extract.ASTROM3_AUX`, shared with the astrom3 family).
AUX_NAMES: tuple[str, ...] = tuple(name.replace("log10_", "log10_lc_") for name in ASTROM3_AUX)


def galactic_coordinates(ra: Sequence[float] | np.ndarray, dec: Sequence[float] | np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Galactic longitude and latitude (degrees) of ICRS ``ra``, ``dec`` (degrees), via astropy."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    ra = np.asarray(ra, np.float64)
    dec = np.asarray(dec, np.float64)
    ok = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90.0)
    l_deg = np.full(ra.shape, np.nan)
    b_deg = np.full(ra.shape, np.nan)
    if ok.any():
        gal = SkyCoord(ra=ra[ok] * u.deg, dec=dec[ok] * u.deg, frame="icrs").galactic
        l_deg[ok], b_deg[ok] = gal.l.deg, gal.b.deg
    return l_deg, b_deg


def sky_metadata(objects: pd.DataFrame) -> pd.DataFrame:
    """Metadata from a catalog's sky position (and magnitude): ``object_id`` + :data:`SKY_METADATA_COLUMNS`.

    The position enters as the Galactic unit vector ``(cos b cos l, cos b sin l, sin b)``, not as
    ``l, b``: longitude wraps at 0/360 deg (the Galactic centre would sit at both ends of a scaled
    ``l``) and is undefined at the poles, where the vector is continuous; its three components carry
    what classes differ in: the height above the plane (``sin b``, thin-disc binaries versus halo RR Lyrae)
    and the direction to the bulge or anticentre (``cos b cos l``). ``vmag`` is the catalog's mean
    magnitude (left out when the frame has none). Nothing else of the frame is read: labels,
    ``type_code`` and the catalog ``period``/``amplitude`` never become inputs.

    Raises
    ------
    InputError
        Without ``object_id``, ``ra`` and ``dec`` columns.
    """
    missing = [c for c in ("object_id", "ra", "dec") if c not in objects.columns]
    if missing:
        raise InputError(f"sky metadata needs object_id, ra and dec; the objects table lacks {', '.join(missing)}")
    l_deg, b_deg = galactic_coordinates(pd.to_numeric(objects["ra"], errors="coerce"),
                                        pd.to_numeric(objects["dec"], errors="coerce"))
    l_rad, b_rad = np.radians(l_deg), np.radians(b_deg)
    out = pd.DataFrame({"object_id": objects["object_id"].astype(str).to_numpy(),
                        "gal_x": np.cos(b_rad) * np.cos(l_rad), "gal_y": np.cos(b_rad) * np.sin(l_rad),
                        "gal_z": np.sin(b_rad)})
    if "vmag" in objects.columns:
        out["vmag"] = pd.to_numeric(objects["vmag"], errors="coerce").to_numpy(np.float64)
    return out


def study_metadata(objects: pd.DataFrame | None) -> tuple[pd.DataFrame | None, str]:
    """The metadata modality of a release's objects table: ``(frame, kind)``.

    ``kind`` is ``"astrom3"`` (the 34 AstroM3 catalog columns), ``"sky"`` (:func:`sky_metadata`, for
    catalogs with ``ra``/``dec``) or ``"none"`` (frame ``None``). The frame holds ``object_id`` and the
    metadata columns only.
    """
    from lcml.data.sources.astrom3 import ASTROM3_METADATA_COLUMNS

    if objects is None or "object_id" not in objects.columns:
        return None, "none"
    if set(ASTROM3_METADATA_COLUMNS) <= set(objects.columns):
        frame = objects[["object_id", *ASTROM3_METADATA_COLUMNS]].copy()
        frame["object_id"] = frame["object_id"].astype(str)
        return frame, "astrom3"
    if {"ra", "dec"} <= set(objects.columns):
        return sky_metadata(objects), "sky"
    return None, "none"


def _aux_chunk(curves: list, params: Any) -> np.ndarray:
    from lcml.features.extract import AUX_FEATURES, featurize

    out = np.full((len(curves), len(AUX_NAMES)), np.nan)
    for i, (t, f, e) in enumerate(curves):
        try:
            _, aux = featurize(t, f, e, params)
        except ValueError:  # < 3 points, or a corrupt time span: no period; the scaler maps NaN to the mean
            continue
        out[i] = aux[[AUX_FEATURES.index(name) for name in ASTROM3_AUX]]
    return out


def light_curve_aux(lightcurves: pd.DataFrame, features: Any, n_jobs: int = 1) -> np.ndarray:
    """``(N, 2)`` log10 amplitude and log10 period (:data:`AUX_NAMES`) of each light curve, measured on it.

    The Lomb-Scargle period search of ``features`` (:class:`lcml.config.FeatureParams`, the survey's
    settings applied), as the product's feature extraction runs it; NaN where a curve has no period.
    ``n_jobs > 1`` spreads chunks over processes.
    """
    curves = list(zip(lightcurves["time"], lightcurves["flux"], lightcurves["flux_err"]))
    if not curves:
        return np.zeros((0, len(AUX_NAMES)))
    size = max(1, math.ceil(len(curves) / max(1, 4 * n_jobs)))
    from lcml.features.parallel import in_processes

    tasks = [(curves[i:i + size], features) for i in range(0, len(curves), size)]
    return np.concatenate(in_processes(_aux_chunk, tasks, max(1, n_jobs)))


def study_config(n_metadata: int, embed_dim: int = 64, **overrides: Any):
    """Small CPU encoders, as :func:`lcml.pipeline.pretrain.pretrain_release` uses (AstroM3's own sizes are the defaults)."""
    from lcml.models.astrom3 import AstroM3Config

    sizes = dict(embed_dim=embed_dim, phot_dim=64, phot_layers=2, phot_ff=128, spec_bins=640,
                 spec_channels=(16, 16, 16), meta_hidden=128, n_metadata=n_metadata, n_aux=len(AUX_NAMES))
    sizes.update(overrides)
    return AstroM3Config(**sizes)


@dataclass
class StudyData:
    """One release, ready for the study: three splits in memory and what they hold."""

    release: str
    train: Any  # MultimodalData: every train object, unlabelled ones with label -1
    val: Any
    test: Any
    cfg: Any  # AstroM3Config
    classes: list[str]
    modalities: tuple[str, ...]
    metadata_kind: str
    metadata_columns: list[str]
    manifest_hash: str
    seconds: dict[str, float]


def load_study_data(release: str, *, profile: str | None = None, overrides: dict | None = None,
                    embed_dim: int = 64, config: Mapping[str, Any] | None = None, feature_jobs: int = 1,
                    progress: Callable[[str], None] | None = None) -> StudyData:
    """Load ``release`` split by ``data.split``, with light-curve aux features and its metadata modality.

    Raises
    ------
    InputError
        The release does not exist, has no light curves, or has one modality only.
    """
    from lcml.data import release as rel
    from lcml.config import context
    from lcml.models.astrom3 import MODALITIES

    say = progress or (lambda _msg: None)
    params, paths = context(profile, overrides)
    folder = rel.release_dir(paths, release)
    if not (folder / rel.MANIFEST).is_file():
        raise InputError(f"release {release} not found at {folder}")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    curves, objects, spectra = _tables(release, folder)
    metadata, kind = study_metadata(objects)
    have = {"photometry": True, "spectra": spectra is not None, "metadata": metadata is not None}
    modalities = tuple(m for m in MODALITIES if have[m])
    if len(modalities) < 2:
        raise InputError(
            f"release {release} has one modality only ({', '.join(modalities)}); the label-fraction study "
            "compares CLIP pretraining across modalities and needs a second one: spectra.parquet, or "
            "objects.parquet with the AstroM3 metadata columns or a sky position (ra, dec)")
    columns = [c for c in metadata.columns if c != "object_id"] if metadata is not None else []
    assert not set(columns) & set(FORBIDDEN_COLUMNS), columns  # never the label or catalog light-curve features
    seconds["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say(f"{release}: measuring period and amplitude of {len(curves)} light curves")
    features = params.features.for_survey(release.split("/")[0])  # e.g. Catalina: periods up to 1500 d (LPVs)
    aux_raw = light_curve_aux(curves, features, n_jobs=feature_jobs)
    seconds["aux_features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cfg = study_config(len(columns) or 1, embed_dim, **dict(config or {}))
    build_cfg = dataclasses.replace(cfg, n_aux=0)  # aux comes from the light curves, set below
    split = curves["object_id"].map(lambda oid: rel.split_of(oid, params.data.split)).to_numpy()
    labels = curves["label"]
    classes = sorted({str(v) for v in labels if isinstance(v, str) and v})
    if not classes:
        raise InputError(f"release {release} has no labelled object")
    frames = _splits(curves, metadata, spectra, aux_raw, split, build_cfg, columns, classes)
    seconds["inputs"] = time.perf_counter() - t0
    if len(frames["train"]) == 0:
        raise InputError(f"release {release} has no object in its train split")
    return StudyData(release=release, train=frames["train"], val=frames["val"], test=frames["test"], cfg=cfg,
                     classes=classes, modalities=modalities, metadata_kind=kind, metadata_columns=columns,
                     manifest_hash=rel.manifest_hash(folder), seconds=seconds)


def _tables(release: str, folder) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """The release's usable light curves (labelled or not), objects table and spectra (``None`` when absent)."""
    from lcml.data import release as rel

    curves = rel.load_release(folder, labelled_only=False)
    if curves.empty:
        raise InputError(f"release {release} has no usable light curves")
    curves["object_id"] = curves["object_id"].astype(str)
    objects = pd.read_parquet(folder / rel.OBJECTS) if (folder / rel.OBJECTS).is_file() else None
    spectra = pd.read_parquet(folder / rel.SPECTRA) if (folder / rel.SPECTRA).is_file() else None
    return curves, objects, (None if spectra is not None and spectra.empty else spectra)


def _splits(curves: pd.DataFrame, metadata, spectra, aux_raw: np.ndarray, split: np.ndarray, build_cfg,
            columns: list[str], classes: list[str]) -> dict[str, Any]:
    """Train, val and test as MultimodalData; metadata and aux scalers fitted on the train split only."""
    from lcml.models.astrom3 import Standardizer
    from lcml.training.clip import MultimodalData

    frames: dict[str, Any] = {}
    meta_scaler = aux_scaler = None
    for name in ("train", "val", "test"):
        rows = split == name
        part = curves.loc[rows].reset_index(drop=True)
        ids = set(part["object_id"])
        spec_part = spectra[spectra["object_id"].astype(str).isin(ids)] if spectra is not None else None
        data = MultimodalData.from_frames(part, metadata, spec_part, cfg=build_cfg, metadata_columns=columns,
                                          aux_columns=(), metadata_scaler=meta_scaler, classes=classes)
        meta_scaler = data.metadata_scaler
        aux_frame = pd.DataFrame(aux_raw[rows], columns=list(AUX_NAMES))
        aux_scaler = aux_scaler or Standardizer.fit(aux_frame, list(AUX_NAMES))
        frames[name] = dataclasses.replace(data, aux=aux_scaler.transform(aux_frame), aux_scaler=aux_scaler)
    return frames
