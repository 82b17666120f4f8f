"""Downstream uses of a stored embedding table: similarity search, anomalies, label suspects, maps.

An *embedding table* is a DataFrame with ``object_id``, optionally ``label``, and ``embedding``: one
vector per row (a list of floats or a 1-D array, all of one length), e.g. AstroM3 embeddings from
:func:`lcml.training.clip.embed`. :func:`make_table`, :func:`write_table` and :func:`read_table` build
and store them (Parquet, ``embedding`` as a fixed-size list of float32).

Similarity is cosine throughout. Vectors are L2-normalised once (:class:`EmbeddingIndex` keeps them
for repeated queries). The all-objects neighbour graph behind :func:`anomalies` and :func:`suspects`
comes from scikit-learn's brute-force Euclidean k-NN on those unit vectors, whose ranking is the
cosine ranking (``|a - b|^2 = 2 - 2 cos``) and whose chunked BLAS search keeps memory bounded on
100k x 512 tables; single-object lookups (:func:`similar`) use one matrix-vector product instead,
which is several times faster per query (see :meth:`EmbeddingIndex.query`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

EMBEDDING_COLUMN = "embedding"
ANOMALY_METHODS = ("knn", "isolation_forest")
MAP_METHODS = ("umap", "tsne")


# --------------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------------

def make_table(object_ids: Sequence, embeddings: np.ndarray, labels: Sequence | None = None) -> pd.DataFrame:
    """An embedding table from ids, an ``(n, d)`` array and optional labels."""
    matrix = np.asarray(embeddings, np.float32)
    if matrix.ndim != 2 or len(matrix) != len(object_ids):
        raise ValueError(f"embeddings must be (n, d) with n = {len(object_ids)} ids, got shape {matrix.shape}")
    table = pd.DataFrame({"object_id": list(object_ids)})
    if labels is not None:
        if len(labels) != len(matrix):
            raise ValueError(f"{len(labels)} labels for {len(matrix)} embeddings")
        table["label"] = list(labels)
    table[EMBEDDING_COLUMN] = list(matrix)  # row views of one block, no copy
    return table


def embedding_matrix(table: pd.DataFrame) -> np.ndarray:
    """The ``(n, d)`` float32 array of a table's ``embedding`` column."""
    if EMBEDDING_COLUMN not in table:
        columns = ", ".join(map(str, table.columns))
        raise KeyError(f"embedding table has no {EMBEDDING_COLUMN!r} column (columns: {columns})")
    column = table[EMBEDDING_COLUMN]
    if len(column) == 0:
        return np.zeros((0, 0), np.float32)
    try:
        matrix = np.stack([np.asarray(v, np.float32) for v in column])
    except ValueError as exc:
        raise ValueError(f"embeddings of unequal lengths ({exc})") from None
    if matrix.ndim != 2:
        raise ValueError(f"each embedding must be a 1-D vector, got an array of shape {matrix.shape}")
    return matrix


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write an embedding table to Parquet; ``embedding`` becomes a fixed-size list<float32>."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    matrix = embedding_matrix(table)
    rest = pa.Table.from_pandas(table.drop(columns=[EMBEDDING_COLUMN]), preserve_index=False)
    width = matrix.shape[1] if matrix.size else 0
    column = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1), pa.float32()), width)
    pq.write_table(rest.append_column(EMBEDDING_COLUMN, column), path)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read an embedding table written by :func:`write_table` (or any Parquet with those columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = pq.read_table(Path(path))
    if EMBEDDING_COLUMN not in data.column_names:
        raise KeyError(f"{path}: no {EMBEDDING_COLUMN!r} column")
    column = data.column(EMBEDDING_COLUMN).combine_chunks()
    table = data.drop_columns([EMBEDDING_COLUMN]).to_pandas()
    if pa.types.is_fixed_size_list(column.type) and column.null_count == 0:
        # one flat buffer reshaped: far faster than converting 100k Python lists
        matrix = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        table[EMBEDDING_COLUMN] = list(matrix.reshape(len(column), column.type.list_size))
    else:
        table[EMBEDDING_COLUMN] = [np.asarray(v, np.float32) for v in column.to_pylist()]
    return table


def _normalise(matrix: np.ndarray, ids: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        shown = ", ".join(map(str, ids[bad][:5]))
        raise ValueError(f"{int(bad.sum())} embedding(s) with non-finite values (e.g. {shown})")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    # a zero vector stays zero: cosine 0 to everything rather than NaN
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


class EmbeddingIndex:
    """Normalised vectors of an embedding table plus a fitted brute-force k-NN, for repeated queries.

    Parameters
    ----------
    table
        The embedding table; ``object_id`` values must be unique.
    """

    def __init__(self, table: pd.DataFrame):
        if "object_id" not in table:
            raise KeyError("embedding table has no 'object_id' column")
        self.table = table.reset_index(drop=True)
        self.ids = self.table["object_id"].to_numpy()
        self.labels = self.table["label"].to_numpy() if "label" in self.table else None
        self.vectors = _normalise(embedding_matrix(self.table), self.ids)
        self.position = pd.Index(self.ids)
        if not self.position.is_unique:
            dupes = self.position[self.position.duplicated()].unique()[:5]
            raise ValueError(f"object_id values repeat in the embedding table: {', '.join(map(str, dupes))}")
        self.nn = NearestNeighbors(algorithm="brute", metric="euclidean").fit(self.vectors)

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, object_id) -> int:
        """Row of ``object_id``; ``KeyError`` naming it when it is not in the table."""
        try:
            return int(self.position.get_loc(object_id))
        except KeyError:
            raise KeyError(f"object_id {object_id!r} is not in the embedding table ({len(self)} objects)") from None

    def query(self, vectors: np.ndarray, k: int, *, chunk_elements: int = 1 << 23) -> tuple[np.ndarray, np.ndarray]:
        """``(similarity, rows)``, each ``(m, k)``: the ``k`` most cosine-similar table rows per vector.

        One matrix product per chunk of queries and a partial sort. For a single query on 100k x 512
        this is ~6x faster than ``NearestNeighbors.kneighbors`` (measured 14 vs 80-100 ms on one
        core), whose per-call setup dominates; ``chunk_elements`` bounds the similarity block in memory
        (default 8 M floats, 32 MB). Ties are broken by row order.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        queries = np.atleast_2d(np.asarray(vectors, np.float32))
        queries = _normalise(queries, np.arange(len(queries)))
        k = min(k, len(self))
        step = max(1, chunk_elements // max(len(self), 1))
        sims, rows = [], []
        for start in range(0, len(queries), step):
            block = queries[start : start + step] @ self.vectors.T
            top = np.sort(np.argpartition(-block, k - 1, axis=1)[:, :k], axis=1) if k < len(self) else \
                np.broadcast_to(np.arange(len(self)), block.shape).copy()
            values = np.take_along_axis(block, top, axis=1)
            order = np.argsort(-values, axis=1, kind="stable")
            sims.append(np.take_along_axis(values, order, axis=1))
            rows.append(np.take_along_axis(top, order, axis=1))
        return np.concatenate(sims), np.concatenate(rows)

    def neighbours(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(similarity, rows)`` of every row's ``k`` nearest other rows (itself excluded)."""
        k = min(k, len(self) - 1)
        if k < 1:
            raise ValueError("need at least two objects to find neighbours")
        dist, rows = self.nn.kneighbors(n_neighbors=k)  # X=None: scikit-learn leaves each point out
        return 1.0 - dist.astype(np.float64) ** 2 / 2.0, rows

    def similar(self, object_id, k: int = 10) -> pd.DataFrame:
        """See :func:`similar`."""
        row = self.row(object_id)
        sim, rows = self.query(self.vectors[row], min(k + 1, len(self)))
        keep = rows[0] != row  # drop itself (wherever an exact duplicate put it)
        sim, rows = sim[0][keep][:k], rows[0][keep][:k]
        out = pd.DataFrame({"rank": np.arange(1, len(rows) + 1), "object_id": self.ids[rows], "similarity": sim})
        if self.labels is not None:
            out["label"] = self.labels[rows]
        return out


def _index(table: pd.DataFrame | EmbeddingIndex) -> EmbeddingIndex:
    return table if isinstance(table, EmbeddingIndex) else EmbeddingIndex(table)


# --------------------------------------------------------------------------------------------------
# uses
# --------------------------------------------------------------------------------------------------

def similar(table: pd.DataFrame | EmbeddingIndex, object_id, k: int = 10) -> pd.DataFrame:
    """The ``k`` objects most cosine-similar to ``object_id``, itself excluded.

    Returns
    -------
    DataFrame
        ``rank`` (1 = most similar), ``object_id``, ``similarity`` (cosine), and ``label`` when the
        table has labels; most similar first.

    Raises
    ------
    KeyError
        ``object_id`` is not in the table (the message names it).
    """
    return _index(table).similar(object_id, k)


def anomalies(table: pd.DataFrame | EmbeddingIndex, top: int = 20, method: str = "knn", *, k: int = 10,
              seed: int = 0) -> pd.DataFrame:
    """The ``top`` most anomalous objects, most anomalous first.

    Parameters
    ----------
    method
        ``"knn"``: score = mean cosine distance (1 - similarity) to the ``k`` nearest other objects,
        i.e. how far an object sits from its neighbourhood. ``"isolation_forest"``: scikit-learn's
        IsolationForest (seeded) on the unit vectors, score = the negated ``score_samples`` (higher is
        more anomalous). k-NN finds objects far from any cluster; the forest favours extremes along
        single directions and is faster on very large tables.

    Returns
    -------
    DataFrame
        ``rank``, ``object_id``, ``score`` (higher = more anomalous) and ``label`` when present.
    """
    if method not in ANOMALY_METHODS:
        raise ValueError(f"method must be one of {ANOMALY_METHODS}, got {method!r}")
    index = _index(table)
    if method == "knn":
        sim, _ = index.neighbours(k)
        score = (1.0 - sim).mean(axis=1)
    else:
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(n_estimators=200, random_state=seed).fit(index.vectors)
        score = -forest.score_samples(index.vectors)
    order = np.argsort(-score, kind="stable")[:top]
    out = pd.DataFrame({"rank": np.arange(1, len(order) + 1), "object_id": index.ids[order], "score": score[order]})
    if index.labels is not None:
        out["label"] = index.labels[order]
    return out


def suspects(table: pd.DataFrame, k: int = 10, *, min_agreement: float = 0.5) -> pd.DataFrame:
    """Labelled objects whose label disagrees with the majority of their ``k`` nearest labelled neighbours.

    An object is a suspect when the most common label among its neighbours is not its own, is more
    common there than its own label, and is shared by at least ``min_agreement`` of the neighbours.
    Unlabelled rows (missing or empty ``label``) are left out of the search entirely.

    Returns
    -------
    DataFrame
        ``object_id``, ``label``, ``neighbour_label`` (the neighbours' majority label), ``agreement``
        (fraction of neighbours with ``neighbour_label``), ``label_agreement`` (fraction with the
        object's own label); most confident suspects first.
    """
    if "label" not in table:
        raise KeyError("suspects needs a 'label' column")
    labelled = table[table["label"].notna() & (table["label"].astype(str) != "")]
    columns = ["object_id", "label", "neighbour_label", "agreement", "label_agreement"]
    if len(labelled) < 2:
        return pd.DataFrame(columns=columns)
    index = EmbeddingIndex(labelled)
    _, rows = index.neighbours(k)
    codes, classes = pd.factorize(pd.Series(index.labels).astype(str))
    counts = np.zeros((len(index), len(classes)), np.int32)
    np.add.at(counts, (np.repeat(np.arange(len(index)), rows.shape[1]), codes[rows].ravel()), 1)
    majority = counts.argmax(axis=1)
    agreement = counts.max(axis=1) / rows.shape[1]
    own = counts[np.arange(len(index)), codes] / rows.shape[1]
    flagged = (majority != codes) & (agreement > own) & (agreement >= min_agreement)
    out = pd.DataFrame({"object_id": index.ids[flagged], "label": index.labels[flagged],
                        "neighbour_label": np.asarray(classes)[majority[flagged]],
                        "agreement": agreement[flagged], "label_agreement": own[flagged]})
    return out.sort_values(["agreement", "label_agreement"], ascending=[False, True], kind="stable"
                           ).reset_index(drop=True)


def embedding_map(table: pd.DataFrame, method: str = "umap", path: str | Path = "embedding_map.png", *,
                  max_points: int = 20_000, seed: int = 0, title: str | None = None) -> Path:
    """A 2-D map of the embeddings coloured by class, saved as PNG.

    Parameters
    ----------
    method
        ``"umap"`` (cosine metric; umap-learn is imported here, as importing it takes seconds) or
        ``"tsne"`` (scikit-learn, PCA initialisation).
    max_points
        A larger table is subsampled (seeded) to this many rows; both methods grow super-linearly.
    seed
        Seeds the subsample and the layout, so a map is reproducible.

    Returns
    -------
    Path
        The PNG written (parent folders are created).
    """
    if method not in MAP_METHODS:
        raise ValueError(f"method must be one of {MAP_METHODS}, got {method!r}")
    if len(table) < 3:
        raise ValueError(f"an embedding map needs at least 3 objects, got {len(table)}")
    rng = np.random.default_rng(seed)
    if len(table) > max_points:
        table = table.iloc[np.sort(rng.choice(len(table), max_points, replace=False))]
    vectors = _normalise(embedding_matrix(table), table["object_id"].to_numpy())
    if method == "umap":
        import umap

        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(vectors) - 1), metric="cosine",
                            random_state=seed, n_jobs=1)  # a seeded UMAP runs on one thread anyway
        xy = reducer.fit_transform(vectors)
    else:
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (len(vectors) - 1) / 3)))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors)

    # Figure + Agg canvas directly: no pyplot, so no global backend switch in the caller's process
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 7), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = table["label"] if "label" in table else pd.Series([None] * len(table), index=table.index)
    known = labels.notna() & (labels.astype(str) != "")
    if (~known).any():
        ax.scatter(xy[~known.to_numpy(), 0], xy[~known.to_numpy(), 1], s=4, c="lightgrey", label="unlabelled")
    classes = sorted(labels[known].astype(str).unique())
    colours = _palette(len(classes))
    for colour, name in zip(colours, classes):
        sel = (known & (labels.astype(str) == name)).to_numpy()
        ax.scatter(xy[sel, 0], xy[sel, 1], s=6, color=colour, label=f"{name} ({int(sel.sum())})")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{'UMAP' if method == 'umap' else 't-SNE'} of {len(table)} embeddings")
    if classes or (~known).any():
        ax.legend(markerscale=3, fontsize=8, loc="best", frameon=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    return path


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"]
    return [cmap(i) for i in range(n)] if n <= 20 else [cmap(x) for x in np.linspace(0, 1, n)]
