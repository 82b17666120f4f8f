"""Bad input through ``lcml data release``: the good rows make the release, every bad input is named
with its file or object and reason, nothing is lost (``accounting``), and an input that is unusable
as a whole is one ``error:`` line — never a traceback, never a silent drop.

Everything runs in-process through the real CLI (typer's CliRunner), real readers, real GX validation.
"""

from __future__ import annotations

import json
import re
import shutil
import traceback
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from lcml.cli import app

FITS_GOOD = "kplr010002792-2009259160929_llc.fits"  # KIC 10002792, one Kepler quarter
CATALINA_CLASSES = ("EW", "EA", "RRab", "RRc", "Rot")
PROGRESS = re.compile(r"^\[ *\d+\.\d s\] ")  # lcml's progress lines (lcml.cli.common)


# ---------------------------------------------------------------- helpers


def lcml(*args: str):
    """Run ``lcml ARGS`` in-process; fail on a traceback (anything but a clean exit)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("lcml " + " ".join(map(str, args)) + " raised:\n"
                             + "".join(traceback.format_exception(result.exception)))
    assert "Traceback" not in result.output
    return result


def error_line(result) -> str:
    """The single ``error:`` line of a failed command (stderr holds nothing else but progress lines,
    ``[  t s] ...``, which say what the command was doing when it failed)."""
    assert result.exit_code != 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip() and not PROGRESS.match(line)]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def manifest(project: Path, rid: str) -> dict:
    return json.loads((project / "data" / "releases" / rid / "manifest.json").read_text())


def assert_accounting_holds(m: dict, n_input: int) -> dict:
    acc = m["accounting"]
    assert acc["n_input"] == n_input == m["ingest"]["n_input"]
    assert acc["n_input"] == acc["n_accepted"] + acc["n_quarantined"] + acc["n_rejected_at_ingest"]
    assert acc["n_rejected_at_ingest"] == m["ingest"]["n_rejected"]
    return acc


def quarantine(rid: str) -> dict[str, list[dict]]:
    """``lcml data quarantine RID --json`` grouped by object id (file name for id-less rejections)."""
    result = lcml("data", "quarantine", rid, "--json")
    assert result.exit_code == 0, result.output
    rows: dict[str, list[dict]] = {}
    for row in json.loads(result.stdout):
        assert "\n" not in row["reasons"], row  # one line per reason, no library essays
        key = row["object_id"] if row["object_id"] not in (None, "None") else Path(row["source"]).name
        rows.setdefault(key, []).append(row)
    return rows


def write_dat(path: Path, mjd, mag, err) -> None:
    lines = ["# MJD mag err"] + [f"{t:.6f} {float(m)!r} {float(e)!r}" for t, m, e in zip(mjd, mag, err)]
    path.write_text("\n".join(lines) + "\n")


def star(rng: np.random.Generator, n: int = 150, base: float = 15.0):
    """A plausible Catalina curve: sorted distinct MJDs, a 0.3-mag sinusoid, 0.05-mag errors."""
    t = np.unique(np.round(53000 + rng.uniform(0, 1000, n), 5))
    while t.size < n:  # rounding merged two epochs: top up
        t = np.unique(np.concatenate([t, np.round(53000 + rng.uniform(0, 1000, n - t.size), 5)]))
    mag = base + 0.3 * np.sin(2 * np.pi * t / 0.61) + rng.normal(0, 0.02, n)
    return t, mag, np.full(n, 0.05)


def write_labels(path: Path, labels: dict[str, str]) -> Path:
    path.write_text("id,label\n" + "".join(f"{k},{v}\n" for k, v in labels.items()))
    return path


#: Each bad Catalina input: (stage, words its reason must contain), keyed by object id.
CATALINA_BAD = {
    "nonmono": ("validation", "time not strictly increasing"),
    "zeroerr": ("validation", "flux_err not positive"),
    "negerr": ("validation", "flux_err not positive"),
    "onepoint": ("validation", "fewer than 20 points"),
    "unknownlabel": ("validation", "label not one of"),
    "twin": ("validation", "duplicate object_id"),
    "nanerr": ("ingest", "no parseable point (150 rows; 150 with missing or non-finite error)"),
    "emptyfile": ("ingest", "no parseable point (no data rows"),
    "wrongcols": ("ingest", "wrongcols.dat: 2 whitespace-separated columns; expected 3: MJD mag err"),
    "mixed": ("ingest", "fluxes mixed with magnitudes"),
    "absurd": ("ingest", "1 of 150 magnitude(s) outside -5..30, e.g. 1e+30"),
    "absurdflux": ("ingest", "150 of 150 magnitude(s) outside -5..30"),
}
#: Inputs with a defect that ingest repairs or counts, accepted: merged repeats, one dropped NaN error.
CATALINA_REPAIRED = ("dupes", "somenanerr")


def catalina_folder(root: Path, n_good: int) -> tuple[Path, Path]:
    """``<id>.dat`` files (and one CRTS CSV): ``n_good`` good stars plus every bad case; labels CSV."""
    rng = np.random.default_rng(7)
    folder = root / "catalina"
    folder.mkdir()
    labels = {}
    for i in range(n_good):
        write_dat(folder / f"good{i:03d}.dat", *star(rng))
        labels[f"good{i:03d}"] = CATALINA_CLASSES[i % len(CATALINA_CLASSES)]

    t, m, e = star(rng)  # the second half of the season first
    write_dat(folder / "nonmono.dat", np.roll(t, 75), np.roll(m, 75), e)
    t, m, e = star(rng)  # ten epochs measured twice (slightly different values): merged at ingest
    order = np.argsort(np.concatenate([t, t[:10]]), kind="stable")
    write_dat(folder / "dupes.dat", np.concatenate([t, t[:10]])[order], np.concatenate([m, m[:10] + 0.01])[order],
              np.concatenate([e, e[:10]])[order])
    t, m, e = star(rng)
    e[5] = 0.0
    write_dat(folder / "zeroerr.dat", t, m, e)
    t, m, e = star(rng)
    e[7] = -0.05
    write_dat(folder / "negerr.dat", t, m, e)
    t, m, e = star(rng)
    write_dat(folder / "nanerr.dat", t, m, np.full_like(e, np.nan))
    t, m, e = star(rng)
    e[3] = np.nan  # one unusable point: dropped and counted, the star stays
    write_dat(folder / "somenanerr.dat", t, m, e)
    write_dat(folder / "onepoint.dat", [53000.5], [15.0], [0.05])
    (folder / "emptyfile.dat").write_text("")
    write_dat(folder / "unknownlabel.dat", *star(rng))
    write_dat(folder / "twin.dat", *star(rng))  # the same id again in a CRTS CSV file
    t, m, e = star(rng)
    (folder / "crts_twin.csv").write_text("ID,MJD,Mag,Magerr,RA,Dec\n"
                                          + "".join(f"twin,{a},{b},{c},10.0,-2.0\n" for a, b, c in zip(t, m, e)))
    t, m, _ = star(rng)
    (folder / "wrongcols.dat").write_text("# time flux\n" + "".join(f"{a} {b}\n" for a, b in zip(t, m)))
    t, m, e = star(rng)
    m[::3] = 10 ** (-0.4 * (m[::3] - 15.0))  # every third value a relative flux (~1) instead of a magnitude
    write_dat(folder / "mixed.dat", t, m, e)
    t, m, e = star(rng)
    m[11] = 1e30
    write_dat(folder / "absurd.dat", t, m, e)
    t, _, e = star(rng)
    write_dat(folder / "absurdflux.dat", t, np.full(t.size, 1e30), e)  # a flux column of 1e30 as "mag"
    labels.update({name: "EW" for name in [*CATALINA_BAD, *CATALINA_REPAIRED]})
    labels["unknownlabel"] = "Mira"
    return folder, write_labels(root / "labels.csv", labels)


def check_catalina_reasons(rows: dict[str, list[dict]], folder: Path) -> None:
    assert set(rows) == set(CATALINA_BAD), sorted(rows)
    for oid, (stage, words) in CATALINA_BAD.items():
        for row in rows[oid]:
            assert row["stage"] == stage and words in row["reasons"], row
    assert len(rows["twin"]) == 2  # both rows of the repeated id, each naming both files
    assert {r["source"] for r in rows["twin"]} == {f"{folder / 'crts_twin.csv'}; {folder / 'twin.dat'}"}
    for oid, (stage, _) in CATALINA_BAD.items():
        if stage == "ingest":
            assert rows[oid][0]["source"] == str(folder / f"{oid}.dat")


# ---------------------------------------------------------------- FITS


@pytest.mark.realdata
def test_fits_folder_keeps_the_good_file_and_names_every_bad_one(project, real_data, tmp_path):
    from astropy.io import fits

    folder = tmp_path / "fits"
    folder.mkdir()
    good = real_data / "kepler_fits" / FITS_GOOD
    shutil.copy(good, folder / FITS_GOOD)
    data = good.read_bytes()
    (folder / "truncated.fits").write_bytes(data[: len(data) // 2])
    with fits.open(good) as hdus:
        table = hdus[1].data
        for column in ("FLUX", "PDCSAP_FLUX", "SAP_FLUX"):
            if column in table.columns.names:
                table[column][:] = np.nan
        hdus.writeto(folder / "allnan.fits")
    fits.PrimaryHDU(np.zeros((10, 10), np.float32)).writeto(folder / "wronghdu.fits")
    (folder / "empty.fits").write_bytes(b"")

    # 4 of 5 inputs are bad: over the limit, the release fails but names every bad file
    result = lcml("data", "release", "kepler", "--source", folder, "--version", "v1")
    assert "4 more inputs rejected at ingest" in error_line(result)
    limits = yaml.safe_load((project / "params.yaml").read_text())
    limits["validation"]["max_bad_fraction"] = 0.9
    (project / "params.yaml").write_text(yaml.safe_dump(limits))
    result = lcml("data", "release", "kepler", "--source", folder, "--version", "v2")
    assert result.exit_code == 0, result.output
    assert "validated: 1/1 objects accepted, 0 quarantined, 4 rejected at ingest" in result.stdout

    m = manifest(project, "kepler/v2")
    acc = assert_accounting_holds(m, n_input=5)
    assert (acc["n_accepted"], acc["n_quarantined"], acc["n_rejected_at_ingest"]) == (1, 0, 4)
    ids = pq.read_table(project / "data/releases/kepler/v2/lightcurves.parquet").column("object_id").to_pylist()
    assert ids == ["KIC 10002792"]

    rows = quarantine("kepler/v2")
    expected = {
        "truncated.fits": f"not a readable mission light-curve FITS file (truncated file, {len(data) // 2} bytes "
                          "where its headers declare at least ",
        "allnan.fits": "light curve has no finite flux (PDCSAP and SAP all NaN or empty)",
        "wronghdu.fits": "no light-curve table; the file holds only PRIMARY (image 10x10)",
        "empty.fits": "not a readable mission light-curve FITS file (empty file, 0 bytes)",
    }
    assert set(rows) == set(expected)
    for name, words in expected.items():
        (row,) = rows[name]
        assert row["stage"] == "ingest" and row["source"] == str(folder / name)
        assert row["reasons"].startswith(f"{folder / name}: ") and words in row["reasons"], row
        assert "Please remove it" not in row["reasons"]  # lightkurve's boilerplate is not a reason

    text = lcml("data", "quarantine", "kepler/v2").stdout
    assert text.startswith("kepler/v2: 4 rejected at ingest, 0 quarantined by validation")
    assert all(str(folder / name) in text for name in expected)


# ---------------------------------------------------------------- Catalina text


def test_catalina_text_release_is_built_from_the_good_rows(project, tmp_path):
    folder, labels = catalina_folder(tmp_path, n_good=250)  # 12 bad of 262 inputs: under the 5% limit
    result = lcml("data", "release", "catalina-sss", "--source", folder, "--labels", labels, "--version", "v1")
    assert result.exit_code == 0, result.output
    assert "label 'Mira' outside the taxonomy: 1 object(s), quarantined" in result.stdout
    # objects and rows both said where they differ: the twin is one object in two rows
    assert "objects accepted, 6 quarantined (7 rows), 6 rejected at ingest" in result.stdout

    m = manifest(project, "catalina-sss/v1")
    n_files = len(list(folder.iterdir()))  # one input per file; the CSV holds one star
    acc = assert_accounting_holds(m, n_input=n_files)
    assert acc["n_rejected_at_ingest"] == 6 and acc["n_quarantined"] == 7  # twin: two rows, one object
    assert acc["n_accepted"] == 250 + len(CATALINA_REPAIRED)
    assert m["validation"]["passed"] and m["validation"]["n_objects_quarantined"] == 6
    assert m["ingest"]["merged_duplicate_time_points"] == 10
    assert m["ingest"]["dropped_points"]["n_points"] == 1 and m["ingest"]["dropped_points"]["n_objects"] == 1

    check_catalina_reasons(quarantine("catalina-sss/v1"), folder)
    curves = pq.read_table(project / "data/releases/catalina-sss/v1/lightcurves.parquet").to_pandas()
    curves = curves.set_index("object_id")
    assert len(curves.loc["dupes", "time"]) == 150 and np.all(np.diff(curves.loc["dupes", "time"]) > 0)
    assert len(curves.loc["somenanerr", "time"]) == 149

    text = lcml("data", "quarantine", "catalina-sss/v1").stdout.splitlines()
    assert text[0] == "catalina-sss/v1: 6 rejected at ingest, 7 quarantined by validation"
    assert "  [ingest] mixed: magnitudes span" in "\n".join(text)
    assert "  [validation] nonmono: time not strictly increasing" in text


def test_unlabelled_objects_are_counted_and_never_trained_on(project, tmp_path):
    """Objects missing from the labels file are not accepted silently: the summary counts them (they stay
    for pretraining and scoring; training leaves them out); a release without any label says so."""
    from lcml.config import Paths
    from lcml.data import release as rel

    rng = np.random.default_rng(3)
    folder = tmp_path / "stars"
    folder.mkdir()
    for i in range(60):
        write_dat(folder / f"s{i:02d}.dat", *star(rng))
    labels = write_labels(tmp_path / "labels.csv", {f"s{i:02d}": CATALINA_CLASSES[i % 5] for i in range(58)})
    result = lcml("data", "release", "catalina-sss", "--source", folder, "--labels", labels, "--version", "v1")
    assert result.exit_code == 0, result.output
    assert "validated: 60/60 objects accepted" in result.stdout
    assert "2 object(s) without a label: kept for pretraining and scoring, not trained on" in result.stdout
    training = rel.load_release(rel.release_dir(Paths.from_env(), "catalina-sss/v1"))
    assert len(training) == 58 and {"s58", "s59"}.isdisjoint(training["object_id"])

    result = lcml("data", "release", "catalina-sss", "--source", folder, "--version", "v2")
    assert result.exit_code == 0, result.output
    assert "validated: 60/60 objects accepted" in result.stdout and "unlabelled release" in result.stdout
    # `data validate` prints the same summary; --json the whole result
    again = lcml("data", "validate", "catalina-sss/v2")
    assert again.exit_code == 0 and again.stdout.startswith("validated: 60/60 objects accepted")
    whole = json.loads(lcml("data", "validate", "catalina-sss/v2", "--json").stdout)
    assert whole["n_objects"] == 60 and whole["passed"] is True


def test_too_many_bad_curves_fail_the_release_which_stays_for_inspection(project, tmp_path):
    folder, labels = catalina_folder(tmp_path, n_good=20)
    result = lcml("data", "release", "catalina-sss", "--source", folder, "--labels", labels, "--version", "v1")
    assert result.stdout.splitlines()[0] == "built catalina-sss/v1"
    line = error_line(result)
    release = project / "data" / "releases" / "catalina-sss" / "v1"
    assert line.startswith("error: release catalina-sss/v1 failed validation: 7/29 rows quarantined "
                           "(6/28 objects; 6 more inputs rejected at ingest, see "
                           f"{release / 'rejected.parquet'}) — 35.3% of objects quarantined > 5.0% allowed; "
                           "top reasons: ")
    assert line.endswith(f"see {release / 'quarantine.parquet'}")

    assert (release / "quarantine.parquet").is_file() and (release / "lightcurves.parquet").is_file()
    m = manifest(project, "catalina-sss/v1")
    assert m["validation"]["passed"] is False
    assert_accounting_holds(m, n_input=len(list(folder.iterdir())))
    check_catalina_reasons(quarantine("catalina-sss/v1"), folder)
    (listed,) = json.loads(lcml("data", "list", "--json").stdout)
    assert listed["release"] == "catalina-sss/v1" and listed["validated"] == "FAILED"
    assert (listed["n_quarantined"], listed["n_rejected_at_ingest"]) == (7, 6)


@pytest.mark.parametrize(
    "make, args, words",
    [
        pytest.param(lambda d: [(d / f"{n}.dat").write_text("# nothing\n") for n in "ab"], ("crts",),
                     ["no usable light curve, all 2 input(s) rejected", "a.dat: no parseable point (no data rows",
                      "b.dat: no parseable point (no data rows"], id="only-empty-text-files"),
        pytest.param(lambda d: [(d / f"{n}.dat").write_text("1 2\n3 4\n") for n in "ab"], ("catalina-sss",),
                     ["a.dat: 2 whitespace-separated columns; expected 3: MJD mag err",
                      "(and 1 more file(s) with wrong columns)"], id="only-wrong-columns"),
        pytest.param(lambda d: [(d / "a.fits").write_bytes(b""), (d / "b.fits").write_bytes(b"SIMPLE = junk")],
                     ("kepler",), ["no usable light curve, all 2 input(s) rejected", "a.fits: not a readable mission "
                                   "light-curve FITS file (empty file, 0 bytes)", "b.fits: not a readable mission "
                                   "light-curve FITS file (not a valid FITS file, 13 bytes"], id="only-broken-fits"),
        pytest.param(lambda d: (d / "a.dat").write_text("53000.5 15.0 0.05\n"), ("crts", "--limit", "5"),
                     ["--limit samples a Catalina/CRTS Parquet file only"], id="limit-on-text-files"),
        pytest.param(lambda d: (d / "notes.txt").write_text("hello\n"), ("kepler",),
                     ["folder holds no FITS files"], id="no-fits-in-folder"),
    ],
)
def test_an_input_unusable_as_a_whole_is_one_error_line(project, tmp_path, make, args, words):
    folder = tmp_path / "input"
    folder.mkdir()
    make(folder)
    survey, *options = args
    line = error_line(lcml("data", "release", survey, "--source", folder, *options, "--version", "v1"))
    for w in words:
        assert w in line, line
    assert str(folder) in line
    assert not (project / "data" / "releases" / survey / "v1").exists()


def test_labels_for_a_self_labelled_file_and_a_reused_version_are_one_error_line(project, real_data, tmp_path):
    labels = write_labels(tmp_path / "labels.csv", {"1": "EW"})
    source = real_data / "k2" / "k2sc_phasefolded_64bin.parquet"
    line = error_line(lcml("data", "release", "k2", "--source", source, "--labels", labels, "--version", "v1"))
    assert "carries its own labels; drop --labels" in line and str(source) in line
    folder = tmp_path / "stars"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(3):
        write_dat(folder / f"s{i}.dat", *star(rng, n=40))
    assert lcml("data", "release", "catalina-sss", "--source", folder, "--version", "v1").exit_code == 0
    line = error_line(lcml("data", "release", "catalina-sss", "--source", folder, "--version", "v1"))
    assert "release catalina-sss/v1 already exists" in line and "pick a new version" in line
    twice = tmp_path / "twice.csv"
    twice.write_text("id,label\ns0,EW\ns0,EA\n")
    line = error_line(lcml("data", "release", "catalina-sss", "--source", folder, "--labels", twice, "--version", "v2"))
    assert f"{twice}: ids with two different labels: s0" in line


# ---------------------------------------------------------------- list / diff


def test_list_and_diff_two_versions_made_from_text_files(project, tmp_path):
    rng = np.random.default_rng(3)
    curves = {f"s{i:02d}": star(rng, n=40) for i in range(12)}
    first = {oid: CATALINA_CLASSES[i % 3] for i, oid in enumerate(curves)}  # EW, EA, RRab
    second = {**{k: v for k, v in first.items() if k != "s11"}, "s00": "RRc", "s12": "Rot"}
    curves["s12"] = star(rng, n=40)
    for version, labels in (("v1", first), ("v2", second)):
        folder = tmp_path / version
        folder.mkdir()
        for oid in labels:
            write_dat(folder / f"{oid}.dat", *curves[oid])
        result = lcml("data", "release", "catalina-sss", "--source", folder, "--version", version,
                      "--labels", write_labels(tmp_path / f"{version}.csv", labels))
        assert result.exit_code == 0, result.output

    listed = json.loads(lcml("data", "list", "--json").stdout)
    assert [r["release"] for r in listed] == ["catalina-sss/v1", "catalina-sss/v2"]
    for r in listed:
        assert (r["n_objects"], r["validated"], r["n_quarantined"], r["n_rejected_at_ingest"]) == (12, "passed", 0, 0)
        assert r["folded"] is False and r["source"].startswith("catalina text: ")
    assert [r["n_classes"] for r in listed] == [3, 5]

    d = json.loads(lcml("data", "diff", "catalina-sss/v1", "catalina-sss/v2", "--json").stdout)
    assert (d["n_a"], d["n_b"], d["added"], d["removed"]) == (12, 12, ["s12"], ["s11"])
    assert d["relabelled"] == [{"object_id": "s00", "from": "EW", "to": "RRc"}]
    assert d["class_counts"] == {"EA": {"a": 4, "b": 4, "change": 0}, "EW": {"a": 4, "b": 3, "change": -1},
                                 "RRab": {"a": 4, "b": 3, "change": -1}, "RRc": {"a": 0, "b": 1, "change": 1},
                                 "Rot": {"a": 0, "b": 1, "change": 1}}
    text = lcml("data", "diff", "catalina-sss/v1", "catalina-sss/v2").stdout
    assert "1 added, 1 removed, 1 relabelled" in text and "relabelled s00: EW → RRc" in text
    assert "catalina-sss/v1: nothing quarantined or rejected" in lcml("data", "quarantine", "catalina-sss/v1").stdout
    # no champion yet: drift is judged against the survey's previous release, and the report says so
    drift = manifest(project, "catalina-sss/v2")["validation"]["drift"]
    assert (drift["reference_release"], drift["reference_reason"]) == ("catalina-sss/v1", "the survey's previous release")
    error_line(lcml("data", "diff", "catalina-sss/v1", "catalina-sss/v9"))  # a missing release: one line


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_catalina_sample_builds_and_validates(project, real_data):
    source = real_data / "catalina_sss" / "train.parquet"
    result = lcml("data", "release", "catalina-sss", "--source", source, "--limit", "500", "--version", "v1")
    assert result.exit_code == 0, result.output
    assert "validated: 500/500 objects accepted, 0 quarantined" in result.stdout
    m = manifest(project, "catalina-sss/v1")
    assert_accounting_holds(m, n_input=500)
    assert m["validation"]["passed"] and "limit=500" in m["source"] and not m["folded"]
    assert sum(m["class_counts"].values()) == 500 and m["ingest"]["merged_duplicate_time_points"] > 0


@pytest.mark.realdata
def test_real_k2_folded_release_quarantines_its_two_short_curves(project, real_data):
    result = lcml("data", "release", "k2", "--source", real_data / "k2" / "k2sc_phasefolded_64bin.parquet",
                  "--version", "v1")
    assert result.exit_code == 0, result.output
    m = manifest(project, "k2/v1")
    assert m["folded"] is True and m["validation"]["folded"] is True and m["validation"]["min_points"] == 48
    acc = assert_accounting_holds(m, n_input=445)
    assert (acc["n_quarantined"], acc["n_rejected_at_ingest"]) == (2, 0)
    rows = quarantine("k2/v1")
    assert len(rows) == 2
    assert all(r["stage"] == "validation" and r["reasons"] == "fewer than 48 bins" for (r,) in rows.values())
    assert all(oid.startswith("EPIC ") for oid in rows)


# ---------------------------------------------------------------- known gaps (files this suite may not edit)


def test_rejected_input_without_an_id_has_a_null_object_id(project, tmp_path):
    folder, _ = catalina_folder(tmp_path, n_good=2)
    (folder / "bad.csv").write_text("ID,Time,Mag\n1,2,3\n")
    result = lcml("data", "release", "crts", "--source", folder, "--version", "v1", "--no-validate")
    assert result.exit_code == 0, result.output
    rows = json.loads(lcml("data", "quarantine", "crts/v1", "--json").stdout)
    (bad,) = [r for r in rows if r["source"] == str(folder / "bad.csv")]
    assert "CSV lacks column(s) MJD, Magerr" in bad["reasons"]
    assert bad["object_id"] is None


def test_inputs_rejected_at_ingest_count_toward_the_bad_fraction(project, tmp_path):
    folder = tmp_path / "mostly-empty"
    folder.mkdir()
    write_dat(folder / "good.dat", *star(np.random.default_rng(0), n=40))
    for i in range(6):
        (folder / f"empty{i}.dat").write_text("")
    result = lcml("data", "release", "crts", "--source", folder, "--version", "v1")
    # 6 of 7 inputs lost: far above max_bad_fraction 5 %, yet today it passes as "1/1 objects accepted"
    assert "rejected at ingest" in result.output
    assert result.exit_code != 0
    assert "no failing rows" not in result.output  # the reasons are the rejections, and the line says where
    assert "top reasons: none in validation; the inputs rejected at ingest are listed in" in result.output


def test_quiet_leaves_the_result_and_drops_the_progress_lines(project, tmp_path):
    """``lcml --quiet``: the same answer on stdout, no ``[  t s] ...`` progress line on stderr."""
    import subprocess
    import sys

    rng = np.random.default_rng(5)
    folder = tmp_path / "stars"
    folder.mkdir()
    labels = {f"q{i}": CATALINA_CLASSES[i % 3] for i in range(6)}
    for oid in labels:
        write_dat(folder / f"{oid}.dat", *star(rng, n=40))
    csv = write_labels(tmp_path / "labels.csv", labels)
    exe = str(Path(sys.executable).with_name("lcml"))
    args = ["data", "release", "catalina-sss", "--source", str(folder), "--labels", str(csv)]
    talkative = subprocess.run([exe, *args, "--version", "v1"], capture_output=True, text=True, timeout=600)
    quiet = subprocess.run([exe, "--quiet", *args, "--version", "v2"], capture_output=True, text=True, timeout=600)
    assert talkative.returncode == quiet.returncode == 0, talkative.stderr + quiet.stderr
    progress = [line for line in talkative.stderr.splitlines() if line.startswith("[")]
    assert any("6 light curve(s) read, 0 input(s) rejected" in line for line in progress), talkative.stderr
    assert any("validating" in line for line in progress)
    assert not [line for line in quiet.stderr.splitlines() if line.startswith("[")], quiet.stderr
    assert quiet.stdout.replace("v2", "v1") == talkative.stdout
    # in one process (the CliRunner), a --quiet command after a talkative one is quiet too
    assert "light curve(s) read" in lcml(*args, "--version", "v3").stderr
    assert "light curve(s) read" not in lcml("--quiet", *args, "--version", "v4").stderr
