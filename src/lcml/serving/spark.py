"""Scoring on Apache Spark (``lcml predict --engine spark``): the registered pyfunc as a Spark UDF.

:func:`score_spark` runs any lcml model unchanged inside a Spark job — a cluster, or a broker's
Spark pipeline such as Fink's — through ``mlflow.pyfunc.spark_udf``, which ships the logged model to
every executor. Around it lcml adds what a survey pipeline needs: the Catalina/CRTS magnitude layout
converted as at ingest, and bad rows *reported*: a curve that cannot be scored (empty, lengths that
differ, fewer than 3 finite points) keeps its row, with null predictions and the reason in ``error``,
instead of failing the job or being dropped. The predictions of good rows are the in-process ones
(:mod:`lcml.serving.batch`): the same pyfunc, the same inputs.

PySpark is an optional dependency (``pip install 'lcml[spark]'``) that needs a Java runtime.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from collections import Counter

from lcml.errors import InputError, first_line
from lcml.serving.batch import Scored
from lcml.serving.loader import INPUT_COLUMNS, resolve
from lcml.serving.inputs import MAGNITUDE_COLUMNS, check_columns, to_curves

__all__ = ["score_parquet_spark", "score_spark", "spark_session"]

#: what the curve-preparation step hands the UDF: lcml's input columns and the row's problem
PREPARED = "object_id string, time array<double>, flux array<double>, flux_err array<double>, error string"


def spark_session(master: str = "local[2]", app: str = "lcml"):
    """A Spark session whose Python workers are this interpreter (so they import this lcml)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError("the Spark engine needs PySpark and a Java runtime: pip install 'lcml[spark]'") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = (SparkSession.builder.master(master).appName(app)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")  # lcml prints its own summary
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session


def _prepare(batches):
    """mapInPandas body: either input layout → lcml's columns plus each row's problem (None: scorable)."""
    for frame in batches:
        curves, problems = to_curves(frame)
        curves = curves[INPUT_COLUMNS].copy()
        curves["error"] = problems
        yield curves


def score_spark(spark, model_uri: str, frame, source: str = "the Spark input") -> Any:
    """Predictions for a Spark DataFrame of light curves, one output row per input row.

    Parameters
    ----------
    spark
        The active ``SparkSession``.
    model_uri
        ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or any pyfunc URI lcml logged.
    frame
        Columns ``object_id, time, flux[, flux_err]`` (array columns) or ``id, mjd, mag[, mag_err]``.
    source
        What to call the input in an error message (a path).

    Returns
    -------
    pyspark.sql.DataFrame
        The model's output columns (``object_id``, ``label_pred``, ``proba``, ``p_<class>``...,
        ``model_name``, ``model_version``) and ``error``: null where the row was scored, the reason
        (and null predictions) where it could not be.
    """
    import mlflow
    from pyspark.sql import functions as F

    check_columns(frame.columns, source)
    name, version = resolve(model_uri)
    pinned = f"models:/{name}/{version}" if name else model_uri  # an alias moved mid-job changes nothing
    wanted = [c for c in (*INPUT_COLUMNS, *MAGNITUDE_COLUMNS, "mag_err") if c in frame.columns]
    curves = frame.select(*wanted).mapInPandas(_prepare, PREPARED)
    udf = mlflow.pyfunc.spark_udf(spark, pinned, env_manager="local",
                                  model_config={"model_name": name, "model_version": version})
    good = curves.filter(F.col("error").isNull())
    scored = good.withColumn("prediction", udf(F.struct(*INPUT_COLUMNS))).select(
        "prediction.*", F.lit(None).cast("string").alias("error"))
    bad = curves.filter(F.col("error").isNotNull()).select(
        "object_id", F.lit(name).alias("model_name"), F.lit(version).alias("model_version"), "error")
    return scored.unionByName(bad, allowMissingColumns=True)


def score_parquet_spark(model_uri: str, source: str | Path, output: str | Path, master: str = "local[2]",
                        spark=None) -> Scored:
    """Score the Parquet dataset ``source`` (a file or a folder of them) into the Parquet folder ``output``.

    ``spark`` defaults to a session on ``master``. Returns the counts that the written output holds.
    """
    from lcml.config import Paths
    from lcml.tracking import use_tracking_uri

    source = Path(source)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    use_tracking_uri(Paths.from_env())
    spark = spark or spark_session(master)
    try:
        frame = spark.read.parquet(str(source))
    except Exception as exc:  # Spark's AnalysisException: say it in one line
        raise InputError(f"{source}: not a readable Parquet dataset ({first_line(exc)})") from None
    scored = score_spark(spark, model_uri, frame, source=str(source))
    scored.write.mode("overwrite").parquet(str(output))
    written = spark.read.parquet(str(output))
    counts = {r["label_pred"]: r["count"] for r in written.groupBy("label_pred").count().collect()}
    first = written.select("model_name", "model_version").first()
    n_errors = counts.pop(None, 0)
    return Scored(n_curves=sum(counts.values()), label_counts=Counter(counts), n_errors=n_errors,
                  model_name=first["model_name"] if first else "",
                  model_version=first["model_version"] if first else "")
