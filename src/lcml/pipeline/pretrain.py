"""AstroM3 contrastive pretraining of a release and its stored embeddings.

``pretrain_release`` trains the trimodal CLIP model (:mod:`lcml.models.astrom3`,
:func:`lcml.training.clip.pretrain`) on the train split of a multimodal release — every object, labels
unused —, logs the run (per-epoch loss and val retrieval, encoder weights as safetensors, config and
input scalers) to the MLflow experiment ``<survey>-clip-encoder``, and writes one embedding per object
of the release (the mean of its available modalities' unit vectors, renormalised) to
``$LCML_HOME/embeddings/<release>/<run_id>.parquet`` and ``latest.parquet``. ``lcml similar /
anomalies / suspects / embedding-map`` read that table (:mod:`lcml.serving.embeddings`); the retrain DAG's
``pretrain_clip`` task (:func:`pretrain_clip`) registers the encoder for the ``astrom3``
family to fine-tune from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from lcml.config import Paths, context
from lcml.data import release as rel
from lcml.errors import InputError
from lcml.tracking import setup_mlflow

log = logging.getLogger("lcml.pipeline")

LATEST = "latest.parquet"


def embeddings_dir(paths: Paths, release: str) -> Path:
    return paths.home / "embeddings" / release


def pretrain_release(release: str, *, epochs: int = 10, embed_dim: int = 64, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0, profile: str | None = None,
                     overrides: dict | None = None) -> dict[str, Any]:
    """Pretrain on ``release`` (needs spectra and/or metadata beside the light curves); return the run.

    The inputs are those of the label-fraction study (:func:`lcml.studies.label_fraction.load_study_data`): the
    photometry's aux features (log period, log amplitude) are measured on each light curve — never a
    catalog's —, and the metadata is the AstroM3 catalog columns or, for a survey with sky positions
    only (Catalina), the Galactic direction and magnitude. The encoders learn on the train split (all
    its objects, labelled or not), the val split gives the CLIP retrieval metrics per epoch, and every
    object of the release is embedded.
    """
    import mlflow
    import pandas as pd
    import torch

    from lcml.serving.embeddings import write_table
    from lcml.training.multimodal import load_study_data, study_metadata
    from lcml.models.astrom3 import AstroM3
    from lcml.training.clip import pretrain

    _, paths = context(profile, overrides)
    folder = rel.release_dir(paths, release)
    if not (folder / rel.MANIFEST).is_file():
        raise InputError(f"release {release} not found at {folder}")
    objects = pd.read_parquet(folder / rel.OBJECTS) if (folder / rel.OBJECTS).is_file() else None
    if study_metadata(objects)[0] is None and not (folder / rel.SPECTRA).is_file():
        raise InputError(f"release {release} has light curves only; CLIP pretraining needs a second modality "
                         f"(objects.parquet with the AstroM3 metadata columns or a sky position ra/dec, or "
                         f"spectra.parquet)")
    data = load_study_data(release, profile=profile, overrides=overrides, embed_dim=embed_dim)
    cfg, modalities = data.cfg, data.modalities
    torch.manual_seed(seed)
    model = AstroM3(cfg, modalities=modalities)
    name = f"{release.split('/')[0]}-clip-encoder"
    setup_mlflow(paths, name)
    with mlflow.start_run(run_name=f"pretrain-{release.replace('/', '-')}") as run:
        mlflow.set_tags({"release": release, "manifest_hash": data.manifest_hash, "family": "astrom3-clip"})
        mlflow.log_params({"epochs": epochs, "embed_dim": embed_dim, "batch_size": batch_size, "lr": lr,
                           "seed": seed, "modalities": ",".join(modalities), "n_objects": len(data.train),
                           "metadata": data.metadata_kind})
        history = pretrain(model, data.train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                           val=data.val if len(data.val) > 1 else None,
                           on_epoch=lambda e, m: mlflow.log_metrics(
                               {k: float(v) for k, v in m.items()
                                if isinstance(v, (int, float)) and v == v}, step=e))
        table = _embedding_table(model, data)
        out = embeddings_dir(paths, release)
        out.mkdir(parents=True, exist_ok=True)
        path = write_table(table, out / f"{run.info.run_id}.parquet")
        write_table(table, out / LATEST)
        _log_encoder(model, data)
        mlflow.log_artifact(str(path), "embeddings")
    final = history[-1] if history else {}
    return {"release": release, "run_id": run.info.run_id, "experiment": name, "embeddings": str(path),
            "n_objects": len(table), "modalities": list(modalities), "final": final}


def _embedding_table(model, data):
    """One unit vector per object of every split: the mean of its available modalities' embeddings, renormalised."""
    from lcml.serving.embeddings import make_table
    from lcml.training.clip import embed

    ids, labels, vectors = [], [], []
    for split in (data.train, data.val, data.test):
        if not len(split):
            continue
        found = embed(model, split)
        stacked = np.stack([np.where(split.present[m][:, None], found[m], 0.0) for m in data.modalities])
        joint = stacked.sum(0)
        vectors.append(joint / np.maximum(np.linalg.norm(joint, axis=1, keepdims=True), 1e-12))
        ids.extend(split.object_ids.tolist())
        labels.extend(data.classes[i] if i >= 0 else None for i in split.labels)
    return make_table(ids, np.concatenate(vectors).astype(np.float32), labels)


def _log_encoder(model, data) -> None:
    """The encoders as ``encoder/`` in the active run: safetensors weights, config and input scalers."""
    import mlflow
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "encoder.safetensors"
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(weights))
        scalers = {"aux": data.train.aux_scaler.to_dict() if data.train.aux_scaler else None,
                   "metadata": data.train.metadata_scaler.to_dict() if data.train.metadata_scaler else None}
        (Path(tmp) / "encoder.json").write_text(json.dumps({
            "config": data.cfg.as_dict(), "modalities": data.modalities, "metadata_kind": data.metadata_kind,
            "metadata_columns": data.metadata_columns, "scalers": scalers}, default=str))
        mlflow.log_artifacts(tmp, "encoder")


def load_embeddings(release: str, profile: str | None = None):
    """The newest stored embedding table of ``release``."""
    from lcml.serving.embeddings import read_table

    _, paths = context(profile)
    path = embeddings_dir(paths, release) / LATEST
    if not path.is_file():
        raise InputError(f"no embeddings for {release} yet: run `lcml embed {release}` first")
    return read_table(path)


def pretrain_clip(release: str, profile: str | None = None, overrides: dict | None = None,
                  force: bool = False) -> dict[str, Any]:
    """AstroM3 CLIP pretraining of ``release`` for the ``astrom3`` family's fine-tuning, registered as a
    version of ``<survey>-clip-encoder``.

    Runs only when ``astrom3`` is searched with ``options.init: clip``; otherwise, or when the release has
    light curves only (CLIP needs a second modality), returns ``{"encoder": None, "reason": ...}`` and
    the family trains from scratch (its run records why). An encoder already pretrained from this
    release with the same settings and commit is reused unless ``force``.
    """
    import mlflow

    from lcml.registry.lineage import git_state
    from lcml.registry.promote import find_versions, register_version

    params, paths = context(profile, overrides)
    options = params.search.astrom3.options if params.search.astrom3 is not None else {}
    if "astrom3" not in params.search.families or options.get("init", "scratch") != "clip":
        return {"encoder": None, "reason": "search.astrom3 does not start from CLIP (not searched, or init: scratch)"}
    if options.get("encoder"):
        return {"encoder": str(options["encoder"]), "reason": "search.astrom3.options.encoder is set"}
    name = params.registry.encoder_for(release.split("/")[0])
    commit, dirty = git_state(paths.project)
    tags = {"release": release, "manifest_hash": rel.manifest_hash(rel.release_dir(paths, release)),
            "pretrain_hash": hashlib.sha256(params.pretrain.model_dump_json().encode()).hexdigest()[:16],
            "git_commit": commit, "git_dirty": str(dirty).lower()}
    setup_mlflow(paths, name)
    client = mlflow.MlflowClient()
    if not force and not dirty:
        found = find_versions(client, name, **{k: tags[k] for k in ("release", "pretrain_hash", "git_commit")})
        if found:
            return {"encoder": f"models:/{name}/{found[0].version}", "version": str(found[0].version),
                    "run_id": found[0].run_id, "reused": True}
    try:
        done = pretrain_release(release, profile=profile, overrides=overrides, **params.pretrain.model_dump())
    except InputError as exc:  # light curves only: nothing to align them with
        log.warning("pretrain_clip: %s", exc)
        return {"encoder": None, "reason": str(exc)}
    run = client.get_run(done["run_id"])
    version = register_version(client, name, f"{run.info.artifact_uri}/encoder", done["run_id"], tags,
                               description="AstroM3 CLIP encoders (photometry, spectra, metadata) pretrained by "
                                           "lcml on a survey release; the astrom3 family fine-tunes from them.")
    return {"encoder": f"models:/{name}/{version.version}", "version": str(version.version),
            "run_id": done["run_id"], "modalities": done["modalities"], "final": done["final"], "reused": False}
