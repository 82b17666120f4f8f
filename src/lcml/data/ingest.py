"""From a survey's files to a release: pick the reader, apply labels, write the release.

``lcml data release SURVEY --source PATH`` calls :func:`ingest` then :func:`build_release`. Which
reader runs depends on the survey and on what ``PATH`` is, as the survey's row of
:data:`lcml.surveys.SURVEYS` says (the first of its readers that accepts the source):

===============  =============================================  =========================================
survey           source                                         reader
===============  =============================================  =========================================
kepler, k2,      folder of mission FITS files                   :func:`~lcml.data.sources.kepler.read_fits_folder`
tess             (labels from ``--labels CSV``)
k2               ``k2sc_phasefolded_64bin.parquet``             :func:`~lcml.data.sources.k2.read_k2_folded`
catalina-sss,    the shipped ``train.parquet``                  :func:`~lcml.data.sources.catalina.read_catalina_parquet`
crts             folder / files of ``<id>.dat`` or CRTS CSV     :func:`~lcml.data.sources.catalina_text.read_catalina_text`
astrom3          AstroM3 dataset folder                         :func:`~lcml.data.sources.astrom3.read_astrom3`
===============  =============================================  =========================================
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lcml.config import Paths
from lcml.data import release as rel
from lcml.data.sources import Ingested
from lcml.errors import InputError
from lcml.surveys import survey as survey_named

LABEL_ID_COLUMNS = ("object_id", "kic", "epic", "tic", "id")


def read_labels(path: str | Path) -> dict[str, str]:
    """Labels CSV → ``{id: label}``; the id column is the first of ``object_id, kic, epic, tic, id``.

    Raises
    ------
    InputError
        Missing or unreadable file, no id or ``label`` column, or one id given two different labels.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: labels file not found")
    try:
        frame = pd.read_csv(path, dtype=str, comment="#")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None
    columns = {c.lower().strip(): c for c in frame.columns}
    id_col = next((columns[c] for c in LABEL_ID_COLUMNS if c in columns), None)
    if id_col is None or "label" not in columns:
        raise InputError(f"{path}: needs a label column and an id column ({', '.join(LABEL_ID_COLUMNS)}); "
                         f"found {', '.join(frame.columns)}")
    pairs = frame[[id_col, columns["label"]]].dropna()
    pairs.columns = ["id", "label"]
    pairs["id"] = pairs["id"].str.strip()
    conflicting = pairs.groupby("id")["label"].nunique()
    conflicting = conflicting[conflicting > 1]
    if len(conflicting):
        raise InputError(f"{path}: ids with two different labels: {', '.join(conflicting.index[:5])}")
    return dict(zip(pairs["id"], pairs["label"].str.strip()))


def ingest(survey: str, source: str | Path, *, labels: str | Path | None = None, limit: int | None = None,
           sample_seed: int | None = None) -> Ingested:
    """Read ``source`` with the reader for ``survey`` (table in the module docstring).

    ``limit`` (with ``sample_seed``) takes a random sample of a Catalina/CRTS Parquet file.

    Raises
    ------
    InputError
        Missing source, unknown survey, ``limit`` for a source that cannot be sampled, a reader's own
        error, or an input of which nothing at all could be ingested (the message names the rejected
        files and why, so the whole input being unusable is one clear line, not an empty release).
    """
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    spec = survey_named(survey)
    mapping = read_labels(labels) if labels else None
    reader = spec.reader_for(source)
    if limit is not None and not reader.sample:
        raise InputError(f"{source}: --limit samples a Catalina/CRTS Parquet file only; "
                         f"a {survey} release from this source takes every object (drop --limit)")
    kwargs: dict = {}
    if reader.labels:
        kwargs["labels"] = mapping
    elif mapping:
        raise InputError(f"{source}: {reader.describe} carries its own labels; drop --labels")
    if reader.sample:
        kwargs.update(limit=limit, sample_seed=sample_seed)
    if reader.survey_arg:
        kwargs["survey"] = survey
    return _nothing_lost(reader.load()(source, **kwargs))


def _nothing_lost(ingested: Ingested) -> Ingested:
    """``ingested`` unless not one light curve was read: then an error naming what was rejected and why."""
    if ingested.lightcurves.num_rows:
        return ingested
    rejected = ingested.rejected
    if not len(rejected):
        raise InputError(f"{ingested.source or 'input'}: holds no light curve")
    shown = []
    for row in rejected.head(3).itertuples():
        reason = " ".join(str(row.reason).split())
        where = str(row.source) if row.source is not None else str(row.object_id)
        shown.append(reason if where in reason else f"{where}: {reason}")
    more = f"; … {len(rejected) - 3} more" if len(rejected) > 3 else ""
    raise InputError(f"{ingested.source or 'input'}: no usable light curve, all {len(rejected)} input(s) "
                     f"rejected — {'; '.join(shown)}{more}")


def build_release(paths: Paths, rid: str, ingested: Ingested, *, merge_duplicate_times: bool = False) -> Path:
    """Write ``ingested`` as release ``rid`` (light curves, objects, spectra, rejected inputs).

    With ``merge_duplicate_times`` points sharing a timestamp become their inverse-variance weighted
    mean before writing (Catalina repeats some epochs); the number merged per object goes to
    ``objects.parquet`` (``n_merged_points``) and the manifest's ``ingest`` section. Points the reader
    dropped (non-finite values, sentinels; ``objects.n_dropped_points``) are totalled there too
    (``dropped_points``), so no dropped point goes unmentioned in the manifest.
    """
    from lcml.data.validation.validate import merge_duplicate_times_table

    table, objects = ingested.lightcurves, ingested.objects
    n_merged: list[int] = []
    if merge_duplicate_times:
        table, n_merged = merge_duplicate_times_table(table)
        ids = table.column("object_id").to_pylist()
        if objects is None:
            objects = pd.DataFrame({"object_id": ids, "n_merged_points": n_merged})
        elif objects["object_id"].tolist() == ids:  # one objects row per light curve, in order
            objects = objects.assign(n_merged_points=n_merged)
        else:  # one row per object id: a join on a repeated id must not multiply rows
            merged = pd.DataFrame({"object_id": ids, "n_merged_points": n_merged})
            merged = merged.groupby("object_id", as_index=False, sort=False)["n_merged_points"].sum()
            objects = objects.merge(merged, on="object_id", how="left", validate="many_to_one")
    folder = rel.write_release(
        paths, rid, table, source=ingested.source or "ingest", objects=objects, conversion=ingested.conversion,
        spectra=getattr(ingested, "spectra", None), rejected=ingested.rejected, folded=ingested.folded,
    )
    extra = {}
    if objects is not None and "n_dropped_points" in objects.columns:
        dropped = pd.to_numeric(objects["n_dropped_points"], errors="coerce").fillna(0)
        extra["dropped_points"] = {"n_points": int(dropped.sum()), "n_objects": int((dropped > 0).sum()),
                                   "per_object": f"{rel.OBJECTS}: n_dropped_points"}
    if merge_duplicate_times:
        extra.update({"merged_duplicate_time_points": int(sum(n_merged)),
                      "merge": "points sharing a timestamp → inverse-variance weighted mean"})
    if extra:
        manifest = rel.read_manifest(folder)
        rel.update_manifest(folder, ingest={**manifest["ingest"], **extra})
    return folder
