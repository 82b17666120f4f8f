"""Property-based tests (hypothesis) over what users hand lcml: any light curve, any file of random
bytes, any folder of star tables ends in a result or one clear error line, and a release accounts for
every input (released + quarantined + rejected = what came in)."""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lcml.errors import InputError, LcmlError, ValidationFailed

SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e300, -1e300, 5e-324]
value = st.one_of(st.floats(-1e4, 1e4, allow_nan=False), st.sampled_from(SPECIAL))
FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def curves(draw):
    """Time, flux and flux_err of any (possibly unequal) lengths, with NaN, infinities, zeros, huge values,
    repeated and unsorted times; flux_err may be absent."""
    n = draw(st.integers(0, 40))
    lengths = draw(st.one_of(st.just((n, n, n)), st.tuples(*[st.integers(0, 40)] * 3)))
    time = draw(st.one_of(st.lists(value, min_size=lengths[0], max_size=lengths[0]),
                          st.lists(st.floats(0, 300, allow_nan=False), min_size=lengths[0], max_size=lengths[0])))
    flux = draw(st.lists(value, min_size=lengths[1], max_size=lengths[1]))
    err = draw(st.one_of(st.none(), st.lists(value, min_size=lengths[2], max_size=lengths[2])))
    return time, flux, err


@contextlib.contextmanager
def _file_of(data: bytes, name: str):
    """``data`` written to a file called ``name`` in a fresh folder (hypothesis reruns a test many times
    in one function-scoped tmp_path, so each example makes its own)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        yield path


def _one_line(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message.strip() and "Traceback" not in message


@FEW
@given(curves())
def test_any_light_curve_is_refused_with_a_reason_or_gets_finite_features(curve):
    """What `lcml predict`, Spark and REST check before scoring, then what every model reads."""
    from lcml.features.baseline import FEATURE_NAMES, baseline_features
    from lcml.serving.inputs import curve_problem

    time, flux, err = curve
    problem = curve_problem(time, flux, err)
    if problem is not None:
        assert _one_line(problem)
        return
    try:
        x = baseline_features(np.asarray(time, float), np.asarray(flux, float),
                              None if err is None else np.asarray(err, float),
                              min_period=0.05, max_period=30.0, oversample=2.0)
    except ValueError as exc:  # a curve the checks let through and the features refuse: one clear line
        assert _one_line(str(exc)), str(exc)
        return
    assert x.shape == (len(FEATURE_NAMES),) and np.isfinite(x).all()


@FEW
@given(st.binary(max_size=2048), st.sampled_from([".parquet", ".fits", ".fits.gz"]))
def test_any_file_of_random_bytes_to_score_is_one_clear_error(data, suffix):
    from lcml.serving.inputs import iter_input

    with _file_of(data, f"input{suffix}") as path:
        with pytest.raises(InputError) as raised:
            list(iter_input(path))
        assert _one_line(str(raised.value)) and str(path) in str(raised.value)
        # reporting: the file's problem is reported, nothing raised beyond that one line
        reported = []
        try:
            frames = list(iter_input(path, on_error=lambda *p: reported.append(p)))
        except InputError as exc:  # the one file given cannot be read: nothing else to score
            assert _one_line(str(exc))
        else:
            assert reported or frames


@FEW
@given(st.binary(max_size=2048), st.sampled_from([".dat", ".csv", ".txt"]))
def test_any_star_file_of_random_bytes_is_ingested_or_rejected_with_a_reason(data, suffix):
    from lcml.data.ingest import ingest

    with _file_of(data, f"star{suffix}") as path:
        try:
            ingested = ingest("catalina-sss", path)
        except InputError as exc:
            assert _one_line(str(exc))
            return
        # what was read plus what was rejected is every input, each rejection with a reason
        assert ingested.lightcurves.num_rows + len(ingested.rejected) >= 1
        assert all(_one_line(" ".join(str(r).split())) for r in ingested.rejected["reason"])


@st.composite
def star_tables(draw):
    """A folder's worth of ``<id>.dat`` star tables: good ones, short ones, broken ones, garbage."""
    files = {}
    for i in range(draw(st.integers(1, 8))):
        # the first star is good, so a release is built and its accounting checked every time
        kind = "good" if i == 0 else draw(st.sampled_from(["good", "good", "short", "nan", "garbage", "empty"]))
        n = 40 if kind == "good" else draw(st.integers(1, 12))
        t = np.sort(53000 + np.cumsum(draw(st.lists(st.floats(0.01, 30), min_size=n, max_size=n))))
        mag = 15 + 0.3 * np.sin(t / 0.7)
        err = np.full(n, 0.05)
        if kind == "nan":
            mag[::2] = np.nan
        if kind == "garbage":
            files[f"s{i}"] = draw(st.binary(max_size=300))
        elif kind == "empty":
            files[f"s{i}"] = b""
        else:
            files[f"s{i}"] = "".join(f"{a:.5f} {float(b)!r} {float(c)!r}\n" for a, b, c in zip(t, mag, err)).encode()
    return files


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(star_tables())
def test_a_release_accounts_for_every_input_file(project, files):
    from lcml import pipeline
    from lcml.config import Paths
    from lcml.data import release as rel

    folder = Path(tempfile.mkdtemp())
    try:
        for name, content in files.items():
            (folder / f"{name}.dat").write_bytes(content)
        version = f"p{abs(hash(tuple(sorted(files.items())))) % 10**12}"
        try:
            pipeline.release_and_validate("catalina-sss", folder, version)
        except ValidationFailed as exc:  # too many bad stars: the release stays, with its quarantine
            assert _one_line(str(exc))
        except LcmlError as exc:
            pytest.fail(f"unexpected lcml error: {exc}")
        acc = rel.read_manifest(rel.release_dir(Paths.from_env(), f"catalina-sss/{version}"))["accounting"]
        assert acc["n_input"] == len(files)
        assert acc["n_input"] == acc["n_accepted"] + acc["n_quarantined"] + acc["n_rejected_at_ingest"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
