"""AstroM3 multimodal dataset (Rizhko & Bloom 2024, arXiv:2411.08842) from a local copy.

The public dataset (Hugging Face ``AstroMLCore/AstroM3Dataset``, formerly ``MeriDK/AstroM3Dataset``)
cross-matches the ASAS-SN variable-star catalog with LAMOST spectra: ASAS-SN V-band light curves,
LAMOST low-resolution spectra, 34 metadata columns (Gaia, 2MASS, WISE, Galactic position) and 10
classes. Nothing is downloaded here; :func:`read_astrom3` reads this local layout, which follows the
published repository (``photometry.zip`` may stay zipped or be extracted to ``photometry/``)::

    <root>/
      splits/<subset>/<seed>/train.csv     one row per object; subset full|sub50|sub25|sub10,
      splits/<subset>/<seed>/val.csv       seed 42|0|66|12|123 (a .parquet table works too)
      splits/<subset>/<seed>/test.csv
      photometry.zip  or  photometry/      <name without spaces>.dat per object, ASAS-SN format:
                                           optional header lines, then columns
                                           HJD MAG MAG_ERR [FLUX FLUX_ERR]
      spectra/<target>/<spec_filename>     LAMOST LRS FITS (any subfolder of spectra/ is searched)

Split table columns: ``name`` (object id, e.g. ``ASASSN-V J063412.44+380104.6``), ``target``
(class, one of the ``astrom3`` taxonomy in :data:`lcml.surveys.SURVEYS`), ``spec_filename`` (LAMOST file
name, may be empty), the 34 :data:`ASTROM3_METADATA_COLUMNS` and the catalog light-curve features
:data:`ASTROM3_PHOTO_COLUMNS`; any other column is carried into ``objects`` as well.

LAMOST FITS files come in two layouts, both read: one primary HDU whose rows are flux and inverse
variance with a log-linear wavelength grid (``COEFF0``, ``COEFF1``), or a binary table in HDU 1 with
array columns ``FLUX``, ``IVAR``, ``WAVELENGTH``. Spectra are cut to :data:`ASTROM3_WAVELENGTH_RANGE`.

Magnitudes become relative flux per object (:data:`lcml.data.sources.MAG_CONVERSION`); ``time`` is
the HJD of the files. An object whose photometry file is missing or unreadable is rejected; an
object whose spectrum is missing or unreadable is still ingested, without a spectrum
(``objects.has_spectrum`` is ``False`` and ``objects.spectrum_issue`` says why).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lcml.data.sources import (
    MAG_CONVERSION,
    Ingested,
    check_accounted,
    counted,
    lightcurve_table,
    mags_to_flux,
    rejected_frame,
)
from lcml.errors import InputError

#: The 34 metadata columns AstroM3's metadata encoder reads (Gaia EDR3, 2MASS, WISE, ASAS-SN mean V,
#: Galactic l/b), in the authors' order.
ASTROM3_METADATA_COLUMNS: tuple[str, ...] = (
    "mean_vmag", "phot_g_mean_mag", "e_phot_g_mean_mag", "phot_bp_mean_mag", "e_phot_bp_mean_mag",
    "phot_rp_mean_mag", "e_phot_rp_mean_mag", "bp_rp", "parallax", "parallax_error", "parallax_over_error",
    "pmra", "pmra_error", "pmdec", "pmdec_error", "j_mag", "e_j_mag", "h_mag", "e_h_mag", "k_mag", "e_k_mag",
    "w1_mag", "e_w1_mag", "w2_mag", "e_w2_mag", "w3_mag", "w4_mag", "j_k", "w1_w2", "w3_w4", "pm", "ruwe",
    "l", "b",
)
#: ASAS-SN catalog features of the light curve (period, amplitude, and the catalog's own classifier
#: statistics). ``rfr_score`` is the ASAS-SN random-forest class probability: never a model input.
ASTROM3_PHOTO_COLUMNS: tuple[str, ...] = ("amplitude", "period", "lksl_statistic", "rfr_score")
#: Wavelength window of the AstroM3 spectra, in Angstrom.
ASTROM3_WAVELENGTH_RANGE: tuple[float, float] = (3850.0, 9000.0)
ASTROM3_SPLITS = ("train", "val", "test")
REQUIRED_COLUMNS = ("name", "target")
SPECTRA_COLUMNS = ("object_id", "wavelength", "flux", "ivar")
CONVERSION = f"{MAG_CONVERSION}; time = HJD (days) as in the ASAS-SN V-band files"


def empty_spectra() -> pd.DataFrame:
    """A ``spectra`` frame without rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in SPECTRA_COLUMNS})


@dataclass
class MultimodalIngested(Ingested):
    """:class:`~lcml.data.sources.Ingested` plus one LAMOST spectrum per object that has one.

    Attributes
    ----------
    spectra
        ``object_id``, ``wavelength`` (Angstrom, float64 list), ``flux`` and ``ivar`` (float32 lists);
        the release's ``spectra.parquet``.
    """

    spectra: pd.DataFrame = field(default_factory=empty_spectra)


class _Photometry:
    """Per-object ASAS-SN ``.dat`` files in ``photometry/`` or ``photometry.zip`` (found by file name)."""

    def __init__(self, root: Path):
        self.folder = root / "photometry"
        self.archive = root / "photometry.zip"
        self.zip: zipfile.ZipFile | None = None
        self.members: dict[str, str] = {}
        if self.folder.is_dir():
            self.where = str(self.folder)
        elif self.archive.is_file():
            try:
                self.zip = zipfile.ZipFile(self.archive)
            except zipfile.BadZipFile as exc:
                raise InputError(f"{self.archive}: not a readable zip archive ({exc})") from None
            self.members = {Path(n).name: n for n in self.zip.namelist() if not n.endswith("/")}
            self.where = str(self.archive)
        else:
            raise InputError(f"{root}: neither photometry/ nor photometry.zip found (ASAS-SN light curves)")

    def read(self, file_name: str) -> tuple[str, bytes]:
        """``(source, content)``; raises ``FileNotFoundError`` when the object has no file."""
        if self.zip is not None:
            if file_name not in self.members:
                raise FileNotFoundError(f"{file_name} not in {self.archive}")
            return f"{self.archive}:{self.members[file_name]}", self.zip.read(self.members[file_name])
        path = self.folder / file_name
        return str(path), path.read_bytes()

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _parse_asassn(content: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HJD, MAG, MAG_ERR of an ASAS-SN V-band file; ``ValueError`` when it has no such table.

    Header lines (not starting with a number) are skipped; one that names ``HJD``/``MAG``/``MAG_ERR``
    fixes the column positions, otherwise the first three columns are used. Values that are not
    numbers (e.g. ``>17.2`` upper limits) become NaN, and the caller drops them.
    """
    text = content.decode("utf-8", errors="replace")
    columns = {"hjd": 0, "mag": 1, "mag_err": 2}
    rows: list[list[str]] = []
    for line in text.splitlines():
        tokens = line.replace(",", " ").split()
        if not tokens or tokens[0].startswith("#"):
            continue
        try:
            float(tokens[0])
        except ValueError:
            if not rows:
                names = [t.lower() for t in tokens]
                if {"hjd", "mag", "mag_err"} <= set(names):
                    columns = {k: names.index(k) for k in columns}
                continue
            raise ValueError(f"non-numeric HJD {tokens[0]!r} in a data line") from None
        rows.append(tokens)
    if not rows:
        raise ValueError("no data lines (expected columns HJD MAG MAG_ERR)")
    width = max(columns.values()) + 1
    if min(len(r) for r in rows) < width:
        raise ValueError(f"data lines with fewer than {width} columns (expected HJD MAG MAG_ERR ...)")
    frame = pd.DataFrame([[r[columns["hjd"]], r[columns["mag"]], r[columns["mag_err"]]] for r in rows])
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    return values[:, 0], values[:, 1], values[:, 2]


def read_lamost_spectrum(path: Path, wavelength_range: tuple[float, float] | None = ASTROM3_WAVELENGTH_RANGE
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wavelength (Angstrom), flux and inverse variance of one LAMOST low-resolution FITS file.

    Points outside ``wavelength_range`` or with a non-finite value are dropped.

    Raises
    ------
    ValueError
        Neither LAMOST layout, or no point left.
    """
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdus:
        table = hdus[1] if len(hdus) > 1 else None
        if table is not None and getattr(table, "columns", None) is not None:
            names = [n.upper() for n in table.columns.names]
            row = table.data[0]
            pick = (lambda n, i: np.asarray(row[names.index(n)] if n in names else row[i], dtype=np.float64))
            flux, ivar, wavelength = pick("FLUX", 0), pick("IVAR", 1), pick("WAVELENGTH", 2)
        else:
            header, data = hdus[0].header, hdus[0].data
            if data is None or np.ndim(data) != 2 or "COEFF0" not in header or "COEFF1" not in header:
                raise ValueError("neither a LAMOST primary image with COEFF0/COEFF1 nor a FLUX/IVAR/WAVELENGTH table")
            flux, ivar = np.asarray(data[0], np.float64), np.asarray(data[1], np.float64)
            wavelength = 10.0 ** (header["COEFF0"] + np.arange(flux.size) * header["COEFF1"])
    if not flux.size == ivar.size == wavelength.size:
        raise ValueError(f"wavelength/flux/ivar lengths differ ({wavelength.size}/{flux.size}/{ivar.size})")
    ok = np.isfinite(wavelength) & np.isfinite(flux) & np.isfinite(ivar)
    if wavelength_range is not None:
        ok &= (wavelength >= wavelength_range[0]) & (wavelength <= wavelength_range[1])
    if not ok.any():
        raise ValueError("no finite point in the wavelength range")
    return wavelength[ok], flux[ok], ivar[ok]


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, keep_default_na=True)
    except Exception as exc:
        raise InputError(f"{path}: not a readable split table ({exc})") from None


def _split_tables(root: Path, split: str | None, subset: str, seed: int, table: str | Path | None
                  ) -> list[tuple[str, Path]]:
    if table is not None:
        path = Path(table) if Path(table).is_absolute() else root / table
        if not path.is_file():
            raise InputError(f"{path}: no such split table")
        return [(path.stem, path)]
    if split is not None and split not in ASTROM3_SPLITS:
        raise InputError(f"unknown AstroM3 split {split!r}; expected one of {', '.join(ASTROM3_SPLITS)} or None")
    folder = root / "splits" / subset / str(seed)
    found = []
    for name in [split] if split else ASTROM3_SPLITS:
        candidates = [folder / f"{name}.csv", folder / f"{name}.parquet"]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise InputError(f"{folder}: no {name}.csv or {name}.parquet (AstroM3 layout splits/<subset>/<seed>/)")
        found.append((name, path))
    return found


def read_astrom3(
    root: str | Path,
    split: str | None = None,
    subset: str = "full",
    seed: int = 42,
    table: str | Path | None = None,
    wavelength_range: tuple[float, float] | None = ASTROM3_WAVELENGTH_RANGE,
) -> MultimodalIngested:
    """Read a local copy of the AstroM3 dataset (layout in the module docstring).

    Parameters
    ----------
    root
        Dataset folder holding ``splits/``, ``photometry.zip`` or ``photometry/``, and ``spectra/``.
    split
        ``"train"``, ``"val"`` or ``"test"``; ``None`` reads all three (lcml makes its own splits from
        the object id, so a release normally takes them all).
    subset, seed
        Which published split tables: ``splits/<subset>/<seed>/``.
    table
        A split table to read instead (CSV or Parquet; relative paths are under ``root``).
    wavelength_range
        Keep spectrum points in this window (Angstrom); ``None`` keeps all.

    Returns
    -------
    MultimodalIngested
        ``objects`` holds ``object_id``, ``astrom3_split``, ``n_points``, ``n_dropped_points``,
        ``ref_mag``, ``has_spectrum``, ``spectrum_issue``, then every other column of the split table
        (the 34 metadata columns, the catalog light-curve features, ``spec_filename``, ...).

    Raises
    ------
    InputError
        Missing folder, split table or photometry source; a split table without ``name``/``target``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder (AstroM3 dataset root)")
    catalog = _catalog(root, split, subset, seed, table)
    spectra_dir = root / "spectra"
    spectrum_files = {p.name: p for p in spectra_dir.rglob("*") if p.is_file()} if spectra_dir.is_dir() else {}
    photometry = _Photometry(root)
    ids, labels, times, fluxes, errors, rows, rejected, spectra = [], [], [], [], [], [], [], []
    try:
        for record in counted(catalog.to_dict("records"), len(catalog), "AstroM3 objects"):
            read = _light_curve(record, photometry, rejected)
            if read is None:
                continue
            oid, hjd, ok, ref, flux, flux_err = read
            has_spectrum, issue = _spectrum(oid, record.get("spec_filename"), spectrum_files, spectra_dir,
                                            wavelength_range, spectra)
            ids.append(oid)
            labels.append(record["target"] if isinstance(record["target"], str) else None)
            times.append(hjd[ok])
            fluxes.append(flux)
            errors.append(flux_err)
            extra = {k: v for k, v in record.items() if k not in ("name", "target", "astrom3_split", "_table", "_row")}
            rows.append({"object_id": oid, "astrom3_split": record["astrom3_split"], "n_points": int(ok.sum()),
                         "n_dropped_points": int(hjd.size - ok.sum()), "ref_mag": ref,
                         "has_spectrum": has_spectrum, "spectrum_issue": issue, **extra})
    finally:
        photometry.close()

    objects = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["object_id"])
    result = MultimodalIngested(
        lightcurve_table(ids, labels, times, fluxes, errors),
        objects,
        rejected_frame(rejected),
        CONVERSION,
        source=f"astrom3 ({'all splits' if split is None and table is None else table or split}, "
               f"subset {subset}, seed {seed}): {root}",
        spectra=pd.DataFrame(spectra, columns=list(SPECTRA_COLUMNS)) if spectra else empty_spectra(),
    )
    return check_accounted(len(catalog), result)


def _catalog(root: Path, split: str | None, subset: str, seed: int, table: str | Path | None) -> pd.DataFrame:
    """The split tables as one frame, each row knowing its split, table and row number."""
    frames = []
    for name, path in _split_tables(root, split, subset, seed, table):
        frame = _read_table(path)
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected name, target, "
                             "spec_filename and the AstroM3 metadata columns")
        frames.append(frame.assign(astrom3_split=name, _table=str(path), _row=np.arange(len(frame))))
    return pd.concat(frames, ignore_index=True)


def _light_curve(record: dict, photometry: "_Photometry", rejected: list[dict]):
    """``(id, hjd, usable points, reference magnitude, flux, flux_err)`` of one catalog row, or ``None``
    with the reason appended to ``rejected``."""
    where = f"{record['_table']} row {record['_row']}"
    oid = record["name"] if isinstance(record["name"], str) and record["name"].strip() else None
    if oid is None:
        rejected.append({"object_id": None, "source": where, "reason": "no name"})
        return None
    try:
        source, content = photometry.read(oid.replace(" ", "") + ".dat")
    except (FileNotFoundError, OSError) as exc:
        rejected.append({"object_id": oid, "source": where, "reason": f"no photometry file ({exc})"})
        return None
    try:
        hjd, mag, err = _parse_asassn(content)
    except ValueError as exc:
        rejected.append({"object_id": oid, "source": source, "reason": f"unreadable photometry: {exc}"})
        return None
    ok = np.isfinite(hjd) & np.isfinite(mag) & np.isfinite(err)
    if not ok.any():
        rejected.append({"object_id": oid, "source": source,
                         "reason": f"no parseable point ({hjd.size} rows, none with finite HJD, MAG, MAG_ERR)"})
        return None
    ref = float(np.median(mag[ok]))
    flux, flux_err = mags_to_flux(mag[ok], err[ok], ref)
    return oid, hjd, ok, ref, flux, flux_err


def _spectrum(oid: str, spec_name, spectrum_files: dict, spectra_dir: Path, wavelength_range,
              spectra: list[dict]) -> tuple[bool, str | None]:
    """Read an object's LAMOST spectrum into ``spectra``; ``(has_spectrum, why not)``."""
    if not isinstance(spec_name, str) or not spec_name.strip():
        return False, "no spec_filename"
    path = spectrum_files.get(Path(spec_name).name)
    if path is None:
        return False, f"spectrum file {spec_name} not found under {spectra_dir}"
    try:
        wavelength, spec_flux, ivar = read_lamost_spectrum(path, wavelength_range)
    except Exception as exc:  # astropy raises many types for damaged files
        return False, f"unreadable spectrum {path}: {exc}"
    spectra.append({"object_id": oid, "wavelength": wavelength, "flux": spec_flux.astype(np.float32),
                    "ivar": ivar.astype(np.float32)})
    return True, None
