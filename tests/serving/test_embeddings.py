import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from lcml.serving.embeddings import (
    EmbeddingIndex,
    anomalies,
    embedding_map,
    embedding_matrix,
    make_table,
    read_table,
    similar,
    suspects,
    write_table,
)


def clustered(n_per_class=40, d=16, seed=0):
    """Three tight classes on the unit sphere, a planted outlier and a planted mislabelled object."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (3, d))
    vectors, labels, ids = [], [], []
    for c, name in enumerate(["EW", "RRAB", "SR"]):
        for i in range(n_per_class):
            vectors.append(centres[c] + rng.normal(0, 0.15, d))
            labels.append(name)
            ids.append(f"{name}-{i}")
    # mislabelled: sits in the RRAB cluster but is called EW
    vectors.append(centres[1] + rng.normal(0, 0.15, d))
    labels.append("EW")
    ids.append("mislabelled")
    # outlier: a direction no class occupies
    out = rng.normal(0, 1, d)
    out -= sum((out @ c) / (c @ c) * c for c in centres)  # orthogonal to all class centres
    vectors.append(out)
    labels.append("SR")
    ids.append("outlier")
    # unlabelled object: takes part in searches, never in suspects
    vectors.append(centres[2] + rng.normal(0, 0.15, d))
    labels.append(None)
    ids.append("unlabelled")
    return make_table(ids, np.array(vectors) * rng.uniform(0.5, 3.0, (len(ids), 1)), labels)  # norms vary


def test_similar_returns_cosine_neighbours_without_itself():
    table = clustered()
    out = similar(table, "RRAB-3", k=5)
    assert list(out.columns) == ["rank", "object_id", "similarity", "label"]
    assert len(out) == 5 and "RRAB-3" not in set(out["object_id"])
    assert set(out["label"]) <= {"RRAB", "EW"}  # its cluster (which holds the mislabelled object)
    assert np.all(np.diff(out["similarity"]) <= 1e-7) and out["similarity"].between(-1, 1.0001).all()
    # cosine agrees with a direct computation
    m = embedding_matrix(table)
    unit = m / np.linalg.norm(m, axis=1, keepdims=True)
    row = table.index[table["object_id"] == "RRAB-3"][0]
    sims = unit @ unit[row]
    sims[row] = -np.inf
    best = np.argsort(-sims)[:5]
    assert list(out["object_id"]) == list(table["object_id"].iloc[best])
    assert np.allclose(out["similarity"], sims[best], atol=1e-5)
    # an index answers the same, and k larger than the table is cut to the table
    index = EmbeddingIndex(table)
    assert similar(index, "RRAB-3", k=5).equals(out)
    assert len(similar(index, "RRAB-3", k=10_000)) == len(table) - 1


def test_unknown_id_is_named_in_the_error():
    with pytest.raises(KeyError, match="no-such-star"):
        similar(clustered(), "no-such-star")


def test_bad_tables_are_refused():
    table = clustered()
    with pytest.raises(ValueError, match="repeat"):
        EmbeddingIndex(pd.concat([table, table.iloc[:1]]))
    bad = table.copy()
    bad.at[5, "embedding"] = np.full(16, np.nan, np.float32)
    with pytest.raises(ValueError, match="non-finite.*EW-5"):
        EmbeddingIndex(bad)
    with pytest.raises(KeyError, match="embedding"):
        EmbeddingIndex(table.drop(columns="embedding"))


@pytest.mark.parametrize("method", ["knn", "isolation_forest"])
def test_anomalies_find_the_planted_outlier(method):
    out = anomalies(clustered(), top=5, method=method)
    assert list(out.columns) == ["rank", "object_id", "score", "label"]
    assert out["object_id"].iloc[0] == "outlier"
    assert out["rank"].tolist() == [1, 2, 3, 4, 5] and np.all(np.diff(out["score"]) <= 0)
    assert out["score"].iloc[0] > out["score"].iloc[1]
    with pytest.raises(ValueError, match="method"):
        anomalies(clustered(), method="lof")


def test_suspects_find_the_planted_mislabelled_object():
    out = suspects(clustered(), k=10)
    assert list(out.columns) == ["object_id", "label", "neighbour_label", "agreement", "label_agreement"]
    top = out.iloc[0]
    assert top["object_id"] == "mislabelled" and top["label"] == "EW" and top["neighbour_label"] == "RRAB"
    assert top["agreement"] >= 0.9 and top["label_agreement"] <= 0.1
    assert "unlabelled" not in set(out["object_id"])
    # the clean objects are not flagged: at most the outlier (whose neighbours are arbitrary) joins it
    assert set(out["object_id"]) <= {"mislabelled", "outlier"}
    # a stricter agreement threshold keeps the confident suspect
    assert "mislabelled" in set(suspects(clustered(), k=10, min_agreement=0.9)["object_id"])


def test_parquet_round_trip(tmp_path):
    table = clustered()
    path = write_table(table, tmp_path / "sub" / "emb.parquet")
    back = read_table(path)
    assert list(back.columns) == ["object_id", "label", "embedding"]
    assert back["object_id"].tolist() == table["object_id"].tolist()
    assert np.array_equal(embedding_matrix(back), embedding_matrix(table))
    assert similar(back, "SR-1", 3).equals(similar(table, "SR-1", 3))
    # a table whose embeddings are plain Python lists (e.g. from another tool) works too
    listed = table.assign(embedding=[list(map(float, v)) for v in table["embedding"]])
    assert np.allclose(embedding_matrix(read_table(write_table(listed, tmp_path / "l.parquet"))),
                       embedding_matrix(table))


def test_map_is_written_as_png(tmp_path):
    # one OpenMP thread: on the 2 shared CI cores threads spinning against other processes make
    # t-SNE of 48 points take 8-12 s instead of 0.3 s
    with threadpool_limits(1):
        path = embedding_map(clustered(n_per_class=15), method="tsne", path=tmp_path / "maps" / "tsne.png")
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    with pytest.raises(ValueError, match="method"):
        embedding_map(clustered(), method="pca", path=tmp_path / "x.png")


def test_umap_is_imported_only_when_asked_for():
    code = "import sys, lcml.serving.embeddings; print('umap' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
