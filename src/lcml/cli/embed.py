"""``lcml embed / similar / anomalies / suspects / embedding-map``: AstroM3 embeddings of a release."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from lcml.cli.common import Profile, app, echo_frame, fail, guarded

@app.command("embed")
@guarded
def embed_release(release: Annotated[str, typer.Argument(help="multimodal release, e.g. astrom3/sim-v1")],
                  epochs: Annotated[int, typer.Option(help="pretraining epochs")] = 10,
                  dim: Annotated[int, typer.Option(help="embedding size (AstroM3: 512)")] = 64,
                  seed: int = 0, profile: Profile = None):
    """AstroM3 CLIP pretraining on every object of RELEASE; stores one embedding per object."""
    from lcml.pipeline.pretrain import pretrain_release

    r = pretrain_release(release, epochs=epochs, embed_dim=dim, seed=seed, profile=profile)
    typer.echo(f"{r['n_objects']} objects embedded ({', '.join(r['modalities'])}); MLflow run {r['run_id']} in "
               f"{r['experiment']}; table {r['embeddings']}")


def _table(release: str, profile: Optional[str]):
    from lcml.pipeline.pretrain import load_embeddings

    return load_embeddings(release, profile)


EmbRelease = Annotated[str, typer.Option("--release", help="release whose embeddings to search")]


@app.command("similar")
@guarded
def similar_cmd(object_id: str, release: EmbRelease, k: Annotated[int, typer.Option("-k")] = 10,
                as_json: Annotated[bool, typer.Option("--json")] = False, profile: Profile = None):
    """The K nearest neighbours of OBJECT_ID in the release's embedding space."""
    from lcml.serving.embeddings import similar

    try:
        found = similar(_table(release, profile), object_id, k)
    except KeyError as exc:
        fail(str(exc).strip("'\""))
    echo_frame(found, as_json)


@app.command("anomalies")
@guarded
def anomalies_cmd(release: EmbRelease, top: int = 20,
                  method: Annotated[str, typer.Option(help="knn or isolation_forest")] = "knn",
                  as_json: Annotated[bool, typer.Option("--json")] = False, profile: Profile = None):
    """The most isolated objects of the release in embedding space."""
    from lcml.serving.embeddings import anomalies

    try:
        found = anomalies(_table(release, profile), top, method)
    except ValueError as exc:
        fail(str(exc))
    echo_frame(found, as_json)


@app.command("suspects")
@guarded
def suspects_cmd(release: EmbRelease, k: Annotated[int, typer.Option("-k")] = 10,
                 as_json: Annotated[bool, typer.Option("--json")] = False, profile: Profile = None):
    """Labelled objects whose neighbourhood mostly carries another label: candidate misclassifications."""
    from lcml.serving.embeddings import suspects

    echo_frame(suspects(_table(release, profile), k), as_json)


@app.command("embedding-map")
@guarded
def embedding_map_cmd(release: EmbRelease, output: Annotated[Path, typer.Option(help="PNG path")],
                      method: Annotated[str, typer.Option(help="umap or tsne")] = "umap", profile: Profile = None):
    """A 2-D map (UMAP or t-SNE) of the release's embeddings, coloured by class."""
    from lcml.serving.embeddings import embedding_map

    typer.echo(str(embedding_map(_table(release, profile), method, output)))
