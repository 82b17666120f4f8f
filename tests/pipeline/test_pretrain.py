"""AstroM3 CLIP pretraining on a simulated multimodal release, and the embedding commands."""

import json

import pytest

from lcml import pipeline
from lcml.errors import InputError

from tests.cli.test_predict import lcml

RELEASE = "astrom3/sim-v1"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    from tests.conftest import make_project, use_project

    root = make_project(tmp_path_factory.mktemp("clip") / "project")
    with pytest.MonkeyPatch.context() as mp:
        use_project(mp, root)
        pipeline.prepare_release(RELEASE)
        done = lcml("embed", RELEASE, "--epochs", "3", "--dim", "32")
        assert done.returncode == 0, done.stderr
        yield root, done.stdout


def test_embed_stores_one_unit_vector_per_object(embedded):
    import numpy as np

    from lcml.serving.embeddings import embedding_matrix
    from lcml.pipeline.pretrain import load_embeddings

    _, out = embedded
    assert "photometry, spectra, metadata" in out and "astrom3-clip-encoder" in out
    table = load_embeddings(RELEASE)
    matrix = embedding_matrix(table)
    assert matrix.shape == (300, 32) and np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
    assert table["object_id"].is_unique


def test_similar_anomalies_suspects_commands(embedded):
    from lcml.pipeline.pretrain import load_embeddings

    first = load_embeddings(RELEASE)["object_id"].iloc[0]
    near = json.loads(lcml("similar", first, "--release", RELEASE, "-k", "5", "--json").stdout)
    assert len(near) == 5 and first not in {r["object_id"] for r in near}
    assert all(a["similarity"] >= b["similarity"] for a, b in zip(near, near[1:]))
    odd = json.loads(lcml("anomalies", "--release", RELEASE, "--top", "7", "--json").stdout)
    assert len(odd) == 7
    sus = lcml("suspects", "--release", RELEASE, "--json")
    assert sus.returncode == 0 and isinstance(json.loads(sus.stdout), list)
    missing = lcml("similar", "no-such-star", "--release", RELEASE)
    assert missing.returncode != 0 and "no-such-star" in missing.stderr and "Traceback" not in missing.stderr


def test_light_curves_alone_cannot_pretrain_and_missing_embeddings_are_explained(project):
    from lcml.pipeline.pretrain import load_embeddings, pretrain_release

    rid = pipeline.prepare_release("kepler/sim-v1")
    with pytest.raises(InputError, match="needs a second modality"):
        pretrain_release(rid, epochs=1)
    with pytest.raises(InputError, match="lcml embed"):
        load_embeddings(rid)


@pytest.mark.realdata
def test_catalina_light_curves_and_sky_metadata_pretrain_and_search(project, real_data):
    """Real Catalina stars: light curves + Galactic position and magnitude, then the downstream commands."""
    rid = pipeline.release_from_source("catalina-sss", real_data / "catalina_sss" / "train.parquet", "s240",
                                       limit=240, sample_seed=1)
    done = lcml("embed", rid, "--epochs", "1", "--dim", "16")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "photometry, metadata" in done.stdout
    first = json.loads(lcml("anomalies", "--release", rid, "--top", "3", "--json").stdout)
    assert len(first) == 3
    near = json.loads(lcml("similar", first[0]["object_id"], "--release", rid, "-k", "4", "--json").stdout)
    assert len(near) == 4
    sus = lcml("suspects", "--release", rid, "--json")
    assert sus.returncode == 0 and isinstance(json.loads(sus.stdout), list)
    drawn = lcml("embedding-map", "--release", rid, "--output", str(project / "map.png"), "--method", "tsne")
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    assert (project / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
