"""HTML Data Docs of a validation, and the determinism of what validation writes into the release."""

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lcml.config import Paths
from lcml.data import release as rel
from lcml.data.validation.validate import SPECTRA, VALIDATION_REPORT, validate_release
from lcml.errors import ValidationFailed

CLASSES = ("T2CEP", "RR", "HYB", "GDOR", "EB", "DSCT")
SUITES = ("lcml_lightcurves", "lcml_spectra", "lcml_metadata", "lcml_release")


def multimodal_release(paths, rid, n=30, n_bad_spectra=1):
    ids = [f"o{i}" for i in range(n)]
    t = np.arange(150) * 0.02
    table = pa.table({"object_id": ids, "label": [CLASSES[i % 6] for i in range(n)], "time": [t] * n,
                      "flux": [np.ones(150, np.float32)] * n, "flux_err": [np.full(150, 1e-3, np.float32)] * n})
    objects = pd.DataFrame({"object_id": ids, "parallax": 1.5, "mean_vmag": 13.0})
    folder = rel.write_release(paths, rid, table, source="unit test", objects=objects)
    wave = np.linspace(4000.0, 8000.0, 100)
    ivar = [np.zeros(100, np.float32)] * n_bad_spectra + [np.ones(100, np.float32)] * (n - n_bad_spectra)
    pd.DataFrame({"object_id": ids, "wavelength": [wave] * n, "flux": [np.ones(100, np.float32)] * n, "ivar": ivar}
                 ).to_parquet(folder / SPECTRA, index=False)
    return folder


def test_data_docs_index_is_written_and_names_every_suite(project, tmp_path):
    paths = Paths.from_env().ensure()
    folder = multimodal_release(paths, "astrom3/docs")
    docs = tmp_path / "state" / "data_docs" / "astrom3" / "docs"
    summary = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.1, docs_dir=docs)
    index = docs / "index.html"
    assert summary.data_docs_index == str(index.resolve()) and index.is_file()
    html = index.read_text()
    for suite in SUITES:
        assert suite in html
        assert (docs / "expectations" / f"{suite}.html").is_file()
    # the run is named after the release; each suite's result page is linked from the index
    pages = sorted(p.relative_to(docs).parts[1] for p in (docs / "validations").rglob("*.html"))
    assert pages == sorted(SUITES)
    assert "astrom3-docs" in html
    # the quarantine reason is shown with its expectation
    assert "spectra: ivar all zero" in (docs / "expectations" / "lcml_spectra.html").read_text()


def test_validation_json_is_deterministic_and_free_of_local_paths(project, tmp_path):
    paths = Paths.from_env().ensure()
    folder = multimodal_release(paths, "astrom3/det")
    validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.1, docs_dir=tmp_path / "a",
                     min_per_class=3)
    first = (folder / VALIDATION_REPORT).read_bytes()
    quarantine = (folder / rel.QUARANTINE).read_bytes()
    validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.1, docs_dir=tmp_path / "b",
                     min_per_class=3)
    assert (folder / VALIDATION_REPORT).read_bytes() == first
    assert (folder / rel.QUARANTINE).read_bytes() == quarantine
    text = first.decode()
    assert str(tmp_path) not in text and "data_docs_index" not in text
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d|\d{8}T\d{6}", text)  # no timestamps, ISO or GX run ids
    report = json.loads(text)
    assert {e["suite"] for e in report["expectations"]} == set(SUITES)
    assert report["summary"]["invariant"] == "n_objects 30 == n_accepted 29 + n_objects_quarantined 1"
    assert "data_docs_index" not in rel.read_manifest(folder)["validation"]


def test_data_docs_are_written_for_a_failing_release_too(project, tmp_path):
    paths = Paths.from_env().ensure()
    folder = multimodal_release(paths, "astrom3/fails", n_bad_spectra=10)
    with pytest.raises(ValidationFailed, match=r"10/30 rows quarantined \(10/30 objects\)"):
        validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.05, docs_dir=tmp_path / "docs")
    assert "lcml_spectra" in (tmp_path / "docs" / "index.html").read_text()


def test_no_data_docs_unless_asked(project):
    paths = Paths.from_env().ensure()
    folder = multimodal_release(paths, "astrom3/nodocs")
    summary = validate_release(folder, min_points=100, classes=CLASSES, max_bad_fraction=0.1)
    assert summary.data_docs_index is None and summary.as_dict()["data_docs_index"] is None
    assert "data_docs_index" not in summary.as_dict(local=False)
