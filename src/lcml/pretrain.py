"""AstroM3 contrastive pretraining of a release and its stored embeddings.

``pretrain_release`` trains the trimodal CLIP model (:mod:`lcml.models.astrom3`,
:func:`lcml.training.clip.pretrain`) on every object of a multimodal release — labels are not used —,
logs the run (per-epoch loss, encoder weights as safetensors, config) to the MLflow experiment
``<survey>-clip-encoder``, and writes one embedding per object (the mean of its available modalities'
unit vectors, renormalised) to ``$LCML_HOME/embeddings/<release>/<run_id>.parquet`` and ``latest.parquet``.
``lcml similar / anomalies / suspects / embedding-map`` read that table (:mod:`lcml.embeddings`).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from lcml.config import Paths
from lcml.data import release as rel
from lcml.errors import InputError

LATEST = "latest.parquet"


def embeddings_dir(paths: Paths, release: str) -> Path:
    return paths.home / "embeddings" / release


def pretrain_release(release: str, *, epochs: int = 10, embed_dim: int = 64, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0, profile: str | None = None) -> dict[str, Any]:
    """Pretrain on ``release`` (needs spectra and/or metadata beside the light curves); return the run."""
    import mlflow
    import pandas as pd
    import torch
    from safetensors.torch import save_file

    from lcml.embeddings import make_table, write_table
    from lcml.models.astrom3 import AstroM3, AstroM3Config
    from lcml.pipeline import context, setup_mlflow
    from lcml.training.clip import MultimodalData, embed, pretrain

    _, paths = context(profile)
    folder = rel.release_dir(paths, release)
    curves = rel.load_release(folder, labelled_only=False)
    if curves.empty:
        raise InputError(f"release {release} has no usable light curves")
    from lcml.data.sources.astrom3 import ASTROM3_METADATA_COLUMNS

    objects = pd.read_parquet(folder / rel.OBJECTS) if (folder / rel.OBJECTS).is_file() else None
    if objects is not None and not set(ASTROM3_METADATA_COLUMNS) <= set(objects.columns):
        objects = None  # per-object truth or catalog columns, not the metadata modality
    spectra = pd.read_parquet(folder / rel.SPECTRA) if (folder / rel.SPECTRA).is_file() else None
    if objects is None and spectra is None:
        raise InputError(f"release {release} has light curves only; CLIP pretraining needs a second modality "
                         f"(objects.parquet with the AstroM3 metadata columns, or spectra.parquet)")
    # small encoders: trains on a laptop CPU; the authors' sizes are AstroM3Config's defaults
    cfg = AstroM3Config(embed_dim=embed_dim, phot_dim=64, phot_layers=2, phot_ff=128, spec_bins=640,
                        spec_channels=(16, 16, 16), meta_hidden=128)
    data = MultimodalData.from_frames(curves, objects, spectra, cfg=cfg)
    modalities = tuple(m for m in ("photometry", "spectra", "metadata") if data.present[m].any())
    torch.manual_seed(seed)
    model = AstroM3(cfg, modalities=modalities)
    name = f"{release.split('/')[0]}-clip-encoder"
    setup_mlflow(paths, name)
    with mlflow.start_run(run_name=f"pretrain-{release.replace('/', '-')}") as run:
        mlflow.set_tags({"release": release, "manifest_hash": rel.manifest_hash(folder), "family": "astrom3-clip"})
        mlflow.log_params({"epochs": epochs, "embed_dim": embed_dim, "batch_size": batch_size, "lr": lr,
                           "seed": seed, "modalities": ",".join(modalities), "n_objects": len(data)})
        history = pretrain(model, data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                           on_epoch=lambda e, m: mlflow.log_metrics(
                               {k: float(v) for k, v in m.items() if isinstance(v, (int, float))}, step=e))
        vectors = embed(model, data)
        stacked = np.stack([np.where(data.present[m][:, None], vectors[m], 0.0) for m in modalities])
        joint = stacked.sum(0)
        joint /= np.maximum(np.linalg.norm(joint, axis=1, keepdims=True), 1e-12)
        labels = curves["label"].where(curves["label"].notna(), None).tolist()
        table = make_table(data.object_ids, joint.astype(np.float32), labels)
        out = embeddings_dir(paths, release)
        out.mkdir(parents=True, exist_ok=True)
        path = write_table(table, out / f"{run.info.run_id}.parquet")
        write_table(table, out / LATEST)
        with tempfile.TemporaryDirectory() as tmp:
            weights = Path(tmp) / "encoder.safetensors"
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(weights))
            (Path(tmp) / "encoder.json").write_text(json.dumps({"config": cfg.as_dict(), "modalities": modalities}))
            mlflow.log_artifacts(tmp, "encoder")
        mlflow.log_artifact(str(path), "embeddings")
    final = history[-1] if history else {}
    return {"release": release, "run_id": run.info.run_id, "experiment": name, "embeddings": str(path),
            "n_objects": len(table), "modalities": list(modalities), "final": final}


def load_embeddings(release: str, profile: str | None = None):
    """The newest stored embedding table of ``release``."""
    from lcml.embeddings import read_table
    from lcml.pipeline import context

    _, paths = context(profile)
    path = embeddings_dir(paths, release) / LATEST
    if not path.is_file():
        raise InputError(f"no embeddings for {release} yet: run `lcml embed {release}` first")
    return read_table(path)
