"""Catalog-driven MAST download: resume from a cache of real FITS files, fail fast and clearly offline.

MAST cannot be reached from CI, so every test points the reachability check (``LCML_MAST_URL``) at a
closed local port or at a small local HTTP server, and, where lightkurve really runs, points
astroquery's MAST endpoints at a closed port: the real lightkurve/astroquery code then fails the way
it fails when the network is down. The cache index is written by hand in the format the module
docstring documents, so these tests also check that documentation.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from lcml.data import fetch
from lcml.data.fetch import (MastUnreachable, cached_files, fetch_catalog, materialise, read_catalog,
                             search_query, target_name)
from lcml.errors import InputError, LcmlError

pytestmark = pytest.mark.realdata

Q2 = "kplr010002792-2009259160929_llc.fits"
Q5 = "kplr010002792-2010174085026_llc.fits"
COTREND = "kplr005110407-2009350155506_llc-kepcotrend-single.fits"
SLC = "kplr010666592-2009131110544_slc.fits"
K2_FILE = "ktwo211117077-c04_llc.fits"
# Ids and labels as a catalog CSV gives them (ids from the files' KEPLERID headers).
CATALOG_ROWS = [("10002792", "ROT"), ("5110407", "ROT"), ("10666592", "TRANSIT")]
CACHED = ["KIC 10002792", "KIC 5110407", "KIC 10666592"]


def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def mast_offline(monkeypatch):
    """MAST "unreachable": the reachability check goes to a closed port, never to the internet."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(fetch.MAST_URL_ENV, f"http://127.0.0.1:{closed_port()}")


def write_catalog(path: Path, rows, header: str = "kic,label") -> Path:
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


@pytest.fixture
def cache(real_data, tmp_path) -> Path:
    """Cache root with three Kepler targets (four real files) and a hand-written index."""
    root = tmp_path / "cache"
    folder = root / "kepler"
    folder.mkdir(parents=True)
    for name in (Q2, Q5, COTREND, SLC):
        shutil.copyfile(real_data / "kepler_fits" / name, folder / name)  # copyfile: writable copies
    size = lambda name: (folder / name).stat().st_size  # noqa: E731
    index = {"format": 1, "mission": "kepler", "targets": {
        "KIC 10002792": {"id": "10002792", "label": "ROT", "status": "complete",
                         "files": [{"name": Q2, "bytes": size(Q2)}, {"name": Q5, "bytes": size(Q5)}],
                         "query": {"author": "Kepler", "exptime": "long"}, "error": None,
                         "updated": "2025-01-01T00:00:00+00:00"},
        # seeded by hand: bare file names, no search settings recorded
        "KIC 5110407": {"id": "5110407", "label": "ROT", "status": "complete", "files": [COTREND]},
        "KIC 10666592": {"id": "10666592", "label": "TRANSIT", "status": "complete", "files": [SLC]},
    }}
    (folder / "index.json").write_text(json.dumps(index, indent=1))
    return root


@pytest.fixture
def catalog(tmp_path) -> Path:
    return write_catalog(tmp_path / "catalog.csv", CATALOG_ROWS)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` (the lock file excepted) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def index_of(cache: Path, mission: str = "kepler") -> dict:
    return json.loads((cache / mission / "index.json").read_text())


# ------------------------------------------------------------------------------------------- offline


def test_fully_cached_catalog_fetches_offline_and_downloads_nothing(cache, catalog):
    before = snapshot(cache)
    lines: list[str] = []
    start = time.monotonic()
    report = fetch_catalog("kepler", catalog, cache, progress=lines.append)
    assert time.monotonic() - start < 10
    assert (report.n_targets, report.n_cached, report.n_downloaded, report.n_failed) == (3, 3, 0, 0)
    assert report.ok and report.targets == CACHED and report.folder == cache / "kepler"
    assert report.labels == {"KIC 10002792": "ROT", "KIC 5110407": "ROT", "KIC 10666592": "TRANSIT"}
    assert [p.name for p in report.files] == sorted([Q2, Q5, COTREND, SLC])
    assert len(lines) == 3 and all("cached" in line for line in lines)
    assert "3 cached, 0 downloaded, 0 failed" in report.summary()
    assert f"--source {cache / 'kepler'}" in report.summary()
    assert snapshot(cache) == before  # nothing downloaded, nothing rewritten
    assert json.loads(json.dumps(report.to_dict()))["n_cached"] == 3


def test_uncached_target_fails_fast_offline_and_keeps_the_cache(cache, catalog, real_data, tmp_path):
    # One more star, a real row of the StarWhisper catalog (KIC 1026294, DSCT), is not in the cache.
    first = pd.read_csv(real_data / "kepler_starwhisper" / "labels.csv", dtype=str).iloc[0]
    assert (first["kic"], first["label"]) == ("1026294", "DSCT")
    bigger = write_catalog(tmp_path / "bigger.csv", [*CATALOG_ROWS, (first["kic"], first["label"])])
    before = snapshot(cache)
    start = time.monotonic()
    with pytest.raises(MastUnreachable) as caught:
        fetch_catalog("kepler", bigger, cache, timeout=3)
    assert time.monotonic() - start < 10
    message = str(caught.value)
    assert isinstance(caught.value, LcmlError)
    assert "1 of 4 catalog targets are not in the cache" in message and "unreachable" in message
    assert "KIC 1026294: not in the cache" in message and "Connection refused" in message
    assert str(cache / "kepler") in message
    assert snapshot(cache) == before  # the index and every cached file as they were


def test_interrupted_target_is_fetched_again(cache, catalog):
    index = index_of(cache)
    index["targets"]["KIC 10666592"]["status"] = "partial"
    (cache / "kepler" / "index.json").write_text(json.dumps(index))
    with pytest.raises(MastUnreachable, match=r"1 of 3 .*KIC 10666592: cache status 'partial'"):
        fetch_catalog("kepler", catalog, cache)
    assert [p.name for p in cached_files(cache, "kepler")] == sorted([Q2, Q5, COTREND])


def test_damaged_cached_files_count_as_missing(cache, catalog):
    folder = cache / "kepler"
    data = (folder / Q5).read_bytes()
    (folder / Q5).write_bytes(data[: len(data) // 2])  # a download cut off half way
    (folder / COTREND).write_bytes((folder / COTREND).read_bytes()[:1000])  # no size recorded for this one
    before = snapshot(cache)
    with pytest.raises(MastUnreachable) as caught:
        fetch_catalog("kepler", catalog, cache)
    message = str(caught.value)
    assert "2 of 3 catalog targets" in message
    assert f"KIC 10002792: {Q5} has {len(data) // 2} bytes, {len(data)} were downloaded" in message
    assert f"KIC 5110407: {COTREND} is damaged" in message
    assert snapshot(cache) == before
    assert [p.name for p in cached_files(cache, "kepler")] == [SLC]  # never half a target
    assert fetch.check_fits(folder / SLC) is None
    assert "belongs to star 10666592" in fetch.check_fits(folder / SLC, target="KIC 10002792")


def test_changed_search_settings_refetch_only_targets_searched_with_others(cache, catalog):
    with pytest.raises(MastUnreachable, match=r"1 of 3 .*KIC 10002792: cached with other search settings"):
        fetch_catalog("kepler", catalog, cache, exptime="short")


def test_limit_takes_the_first_targets(cache, catalog, tmp_path):
    longer = write_catalog(tmp_path / "longer.csv", [*CATALOG_ROWS, ("1162150", "DSCT")])
    report = fetch_catalog("kepler", longer, cache, limit=3)  # the uncached 4th star is not needed
    assert report.targets == CACHED and report.n_cached == 3
    with pytest.raises(InputError, match="limit must be a positive"):
        fetch_catalog("kepler", longer, cache, limit=0)


def test_recorded_no_data_is_reported_without_asking_again(cache, catalog, tmp_path):
    index = index_of(cache)
    index["targets"]["KIC 1162150"] = {"id": "1162150", "label": "DSCT", "status": "no_data", "files": [],
                                       "query": search_query("kepler"), "error": "MAST has no Kepler light curve",
                                       "updated": "2025-01-01T00:00:00+00:00"}
    (cache / "kepler" / "index.json").write_text(json.dumps(index))
    longer = write_catalog(tmp_path / "longer.csv", [*CATALOG_ROWS, ("1162150", "DSCT")])
    report = fetch_catalog("kepler", longer, cache)  # offline, and still no error
    assert (report.n_cached, report.n_failed) == (3, 1)
    assert report.failures == [("KIC 1162150", "MAST has no Kepler light curve")]
    assert "failed KIC 1162150" in report.summary()
    with pytest.raises(MastUnreachable, match="1 of 4"):
        fetch_catalog("kepler", longer, cache, retry_failed=True)


def test_k2_catalog_row_from_k2varcat(real_data, tmp_path):
    k2varcat = pd.read_csv(real_data / "k2" / "k2varcat_labels.csv", dtype=str)
    rows = k2varcat[k2varcat["epic"] == "211117077"]
    assert rows[["campaign", "label"]].values.tolist() == [["4", "OTHPER"]]
    rows.to_csv(tmp_path / "k2.csv", index=False)  # epic,campaign,label as shipped
    folder = tmp_path / "cache" / "k2"
    folder.mkdir(parents=True)
    shutil.copyfile(real_data / "kepler_fits" / K2_FILE, folder / K2_FILE)
    (folder / "index.json").write_text(json.dumps({"format": 1, "mission": "k2", "targets": {
        "EPIC 211117077": {"id": "211117077", "label": "OTHPER", "status": "complete", "files": [K2_FILE]}}}))
    report = fetch_catalog("k2", tmp_path / "k2.csv", tmp_path / "cache")
    assert report.labels == {"EPIC 211117077": "OTHPER"} and report.n_cached == 1
    # The same file is no Kepler-mission cache entry for another star.
    assert "belongs to star 211117077" in fetch.check_fits(folder / K2_FILE, target="EPIC 211117078")


# ------------------------------------------------------------------------------------------- release


def test_materialised_folder_builds_a_release_with_the_catalog_labels(cache, catalog, tmp_path):
    from lcml.data.ingest import ingest

    report = fetch_catalog("kepler", catalog, cache)
    source = materialise(cache, "kepler", tmp_path / "source", report.targets)
    assert sorted(p.name for p in source.iterdir()) == sorted(p.name for p in report.files)
    assert all(p.is_symlink() for p in source.iterdir())
    ingested = ingest("kepler", source, labels=catalog)
    table = ingested.lightcurves
    labels = dict(zip(table.column("object_id").to_pylist(), table.column("label").to_pylist()))
    assert labels == report.labels == {"KIC 10002792": "ROT", "KIC 5110407": "ROT", "KIC 10666592": "TRANSIT"}
    assert ingested.rejected.empty
    assert ingested.objects.set_index("object_id").loc["KIC 10002792", "n_segments"] == 2
    # Linking again replaces its own links; a real file in the folder is never overwritten.
    materialise(cache, "kepler", source, ["KIC 5110407"])
    assert [p.name for p in source.iterdir()] == [COTREND]
    shutil.copyfile(cache / "kepler" / SLC, source / "mine.fits")
    with pytest.raises(InputError, match="not cache links"):
        materialise(cache, "kepler", source)


# ------------------------------------------------------------------------------------------- catalogs


@pytest.mark.parametrize(
    ("header", "rows", "match"),
    [
        ("star,label", [("10002792", "ROT")],
         r"needs an id column \(object_id, kic, epic, tic, id\); found star, label"),
        ("kic,label", [("10002792", "ROT"), ("5110407", "ROT"), ("10002792", "EB")],
         r"two different labels: KIC 10002792 \(ROT / EB\)"),
        ("epic,label", [("211117077", "OTHPER")], "column 'epic' holds k2 ids, but the mission is kepler"),
        ("id,label", [("KIC 10002792", "ROT"), ("EPIC 211117077", "EB"), ("x12", "EB")],
         r"2 ids are not Kepler target ids: row 3: 'EPIC 211117077', row 4: 'x12'"),
        ("kic,label", [], "catalog names no target"),
    ],
)
def test_bad_catalogs_give_clear_errors(tmp_path, cache, header, rows, match):
    path = write_catalog(tmp_path / "bad.csv", rows, header)
    before = snapshot(cache)
    with pytest.raises(InputError, match=match):
        fetch_catalog("kepler", path, cache)
    assert snapshot(cache) == before


def test_missing_catalog_and_unknown_mission(tmp_path, catalog, cache):
    with pytest.raises(InputError, match="nope.csv: catalog file not found"):
        fetch_catalog("kepler", tmp_path / "nope.csv", cache)
    with pytest.raises(InputError, match="unknown mission 'galex'; known: kepler, k2, tess"):
        fetch_catalog("galex", catalog, cache)


def test_catalog_ids_and_duplicates(tmp_path):
    path = write_catalog(tmp_path / "c.csv", [("kplr010002792", ""), ("KIC 10002792", "ROT"), ("10002792", "ROT"),
                                              ("5110407", "")], header="object_id,label")
    assert read_catalog(path, "kepler") == {"KIC 10002792": "ROT", "KIC 5110407": None}
    assert target_name("tess", "TIC 25155310") == "TIC 25155310"
    assert target_name("k2", "ktwo211117077") == "EPIC 211117077"
    assert search_query("tess") == {"author": "SPOC", "exptime": "short"}
    assert search_query("kepler", author="any", exptime="1800") == {"author": "any", "exptime": 1800.0}
    with pytest.raises(InputError, match="exptime must be long, short, fast, any or seconds, not 'hourly'"):
        search_query("kepler", exptime="hourly")


def test_unreadable_index_is_never_overwritten(cache, catalog):
    (cache / "kepler" / "index.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable cache index .* move it aside"):
        fetch_catalog("kepler", catalog, cache)
    assert (cache / "kepler" / "index.json").read_text() == "{not json"


def test_a_second_fetch_on_the_same_cache_is_refused(cache, catalog):
    import fcntl

    with open(cache / "kepler" / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LcmlError, match="another lcml data fetch is using this cache"):
            fetch_catalog("kepler", catalog, cache)
    assert fetch_catalog("kepler", catalog, cache).n_cached == 3


# ------------------------------------------------------------------------------------------- downloads


class _Ok(BaseHTTPRequestHandler):
    def do_HEAD(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def astroquery_refused(monkeypatch):
    """Real lightkurve + astroquery, with astroquery's MAST endpoints on a closed local port."""
    from astroquery.mast import Observations

    portal = Observations._portal_api_connection
    base = f"http://127.0.0.1:{closed_port()}"
    for name in ("MAST_REQUEST_URL", "COLUMNS_CONFIG_URL", "MAST_DOWNLOAD_URL", "MAST_BUNDLE_URL"):
        monkeypatch.setattr(portal, name, getattr(portal, name).replace("https://mast.stsci.edu", base))
    return base


def test_per_target_download_errors_are_recorded_and_do_not_stop_the_others(
        cache, catalog, tmp_path, monkeypatch, astroquery_refused):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)  # "MAST answers" the reachability check...
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(fetch.MAST_URL_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    longer = write_catalog(tmp_path / "longer.csv", [("1026294", "DSCT"), *CATALOG_ROWS, ("1162150", "DSCT")])
    try:
        report = fetch_catalog("kepler", longer, cache)  # ...but every search is refused
    finally:
        server.shutdown()
        server.server_close()
    assert (report.n_targets, report.n_cached, report.n_downloaded, report.n_failed) == (5, 3, 0, 2)
    assert [t for t, _ in report.failures] == ["KIC 1026294", "KIC 1162150"]
    assert all("Connection refused" in reason for _, reason in report.failures)
    targets = index_of(cache)["targets"]
    assert targets["KIC 1026294"]["status"] == "failed" and "Connection refused" in targets["KIC 1026294"]["error"]
    assert targets["KIC 1162150"]["label"] == "DSCT" and targets["KIC 1162150"]["query"] == search_query("kepler")
    assert all(targets[t]["status"] == "complete" for t in CACHED)
    assert [p.name for p in report.files] == sorted([Q2, Q5, COTREND, SLC])
    assert "failed KIC 1026294: ConnectionError" in report.summary()


def test_mast_lost_during_the_fetch_stops_with_a_valid_index(cache, catalog, tmp_path, monkeypatch, astroquery_refused):
    listener = socket.create_server(("127.0.0.1", 0))

    def answer_once():  # MAST answers the first check, then is gone
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
        conn.close()
        listener.close()

    threading.Thread(target=answer_once, daemon=True).start()
    monkeypatch.setenv(fetch.MAST_URL_ENV, f"http://127.0.0.1:{listener.getsockname()[1]}")
    longer = write_catalog(tmp_path / "longer.csv", [*CATALOG_ROWS, ("1026294", "DSCT"), ("1162150", "DSCT")])
    start = time.monotonic()
    with pytest.raises(MastUnreachable, match=r"2 of 5 catalog targets .* stopped answering during the fetch"):
        fetch_catalog("kepler", longer, cache)
    assert time.monotonic() - start < 10
    targets = index_of(cache)["targets"]
    assert targets["KIC 1026294"]["status"] == "failed" and "KIC 1162150" not in targets
    assert [p.name for p in cached_files(cache, "kepler")] == sorted([Q2, Q5, COTREND, SLC])


def _stage(cache: Path, name: str, files: dict[str, bytes]) -> Path:
    """Files left in ``.partial/`` by a download that stopped, where lightkurve/astroquery put them."""
    obs = cache / "kepler" / ".partial" / name.replace(" ", "_") / "mastDownload" / "Kepler" / "kplr010002792_lc"
    obs.mkdir(parents=True)
    for file, data in files.items():
        (obs / file).write_bytes(data)
    return obs


@pytest.fixture
def mast_answers(monkeypatch, astroquery_refused):
    """MAST reachable, its search answering with the two quarters of KIC 10002792 that the real archive
    lists; lightkurve's download step and astroquery run for real (and are refused if they go online)."""
    import lightkurve as lk
    from astropy.table import Table

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(fetch.MAST_URL_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    asked = []

    def search_lightcurve(target, **kwargs):
        asked.append((target, kwargs))
        rows = [(Q2, "Kepler Quarter 02", 55002.0), (Q5, "Kepler Quarter 05", 55276.0)]
        return lk.SearchResult(Table(
            rows=[(m, 2009, "Kepler", 1800.0, "kplr010002792", 0.0, t, f, "Lightcurve Long Cadence (CLC)", "Kepler",
                   "kplr010002792_lc", f"mast:Kepler/url/missions/kepler/lightcurves/0100/010002792/{f}")
                  for f, m, t in rows],
            names=["mission", "year", "author", "exptime", "target_name", "distance", "t_min", "productFilename",
                   "description", "obs_collection", "obs_id", "dataURI"]))

    monkeypatch.setattr(lk, "search_lightcurve", search_lightcurve)
    yield asked
    server.shutdown()
    server.server_close()


def test_download_stopped_before_the_move_resumes_from_staged_files(cache, catalog, real_data, mast_answers):
    folder = cache / "kepler"
    for name in (Q2, Q5):
        (folder / name).unlink()
    index = index_of(cache)
    index["targets"]["KIC 10002792"].update(status="partial", files=[])
    (folder / "index.json").write_text(json.dumps(index))
    staged = {n: (real_data / "kepler_fits" / n).read_bytes() for n in (Q2, Q5)}
    _stage(cache, "KIC 10002792", staged)
    report = fetch_catalog("kepler", catalog, cache)
    assert mast_answers == [("KIC 10002792", {"mission": "Kepler", "author": "Kepler", "exptime": "long"})]
    assert (report.n_cached, report.n_downloaded, report.n_failed) == (2, 1, 0)
    entry = index_of(cache)["targets"]["KIC 10002792"]
    assert entry["status"] == "complete" and entry["query"] == search_query("kepler") and entry["error"] is None
    assert entry["files"] == [{"name": n, "bytes": len(staged[n])} for n in (Q2, Q5)]
    assert all((folder / n).read_bytes() == staged[n] for n in (Q2, Q5))
    assert not (folder / ".partial" / "KIC_10002792").exists()
    mast_answers.clear()
    again = fetch_catalog("kepler", catalog, cache)  # and now it is simply cached: MAST not asked
    assert again.n_cached == 3 and mast_answers == []


def test_damaged_staged_file_is_dropped_and_fetched_again(cache, catalog, real_data, mast_answers):
    index = index_of(cache)
    index["targets"]["KIC 10002792"]["status"] = "partial"
    (cache / "kepler" / "index.json").write_text(json.dumps(index))
    q5 = (real_data / "kepler_fits" / Q5).read_bytes()
    obs = _stage(cache, "KIC 10002792", {Q2: (real_data / "kepler_fits" / Q2).read_bytes(), Q5: q5[:100_000]})
    report = fetch_catalog("kepler", catalog, cache)
    # The cut-off Q5 was not taken as downloaded: astroquery was asked for it (and refused here).
    assert report.n_failed == 1 and report.failures[0][0] == "KIC 10002792"
    assert "Connection refused" in report.failures[0][1], report.failures
    assert (obs / Q2).exists() and not (obs / Q5).exists()  # the good staged file waits for the next try
    assert index_of(cache)["targets"]["KIC 10002792"]["status"] == "failed"
