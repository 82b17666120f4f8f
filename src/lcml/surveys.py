"""SURVEYS: the one table of the surveys lcml knows. Every other list of surveys is read from here.

Import-light on purpose (standard library and :mod:`lcml.errors` only): DAG files read it at parse
time. Readers and simulators are named by dotted path (``module:function``) and imported only when
a release is built.

=============  ===============================================  ==============================================
survey         sources a release is built from                  also
=============  ===============================================  ==============================================
kepler         folder of Kepler FITS (+ labels CSV)             simulated ``sim*`` releases; MAST mission
k2             K2SC folded Parquet; folder of K2 FITS           simulated ``sim*`` releases; MAST mission
tess           folder of TESS FITS (+ labels CSV)               MAST mission
catalina-sss   the shipped Parquet; ``<id>.dat`` / CSV files
crts           the shipped Parquet; ``<id>.dat`` / CSV files
astrom3        AstroM3 dataset folder (light curve, spectrum,   simulated ``sim*`` releases (multimodal)
               metadata)
=============  ===============================================  ==============================================

To add a survey: one :class:`Survey` row here (its taxonomy and at least one :class:`Reader`), the
reader under :mod:`lcml.data.sources`, and a fixture in ``tests/test_surveys.py``, which walks every
row through release, validation and announcement.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

from lcml.errors import InputError

#: File names read as mission FITS light curves (by the FITS reader and by ``lcml predict``).
FITS_SUFFIXES = (".fits", ".fits.gz", ".fit")


@dataclass(frozen=True)
class Reader:
    """One way of building a release of a survey from files.

    Attributes
    ----------
    accepts
        ``parquet`` (a ``.parquet`` file), ``folder`` (a directory) or ``any`` (a file or a folder).
    function
        ``module:function`` called as ``function(source, **kwargs)``; returns an
        :class:`~lcml.data.sources.Ingested`.
    describe
        The source in words, for help and error messages.
    labels
        Whether a labels CSV (``--labels``) is passed as ``labels=``; a reader without it refuses one.
    sample
        Whether ``--limit``/``--seed`` sampling is passed (``limit=``, ``sample_seed=``).
    survey_arg
        Whether the survey's name is passed as ``survey=``.
    """

    accepts: str
    function: str
    describe: str
    labels: bool = False
    sample: bool = False
    survey_arg: bool = False

    def matches(self, source: Path) -> bool:
        if self.accepts == "parquet":
            return source.is_file() and source.name.lower().endswith(".parquet")
        if self.accepts == "folder":
            return source.is_dir()
        return True

    def load(self) -> Callable[..., Any]:
        return load_callable(self.function)


@dataclass(frozen=True)
class Mission:
    """How a MAST mission names its stars and which light curves a fetch takes by default."""

    name: str  #: lightkurve's ``mission`` argument
    prefix: str  #: target name prefix, as in the FITS ``OBJECT`` header (``KIC 10002792``)
    id_column: str  #: the catalog column that holds this mission's ids
    aliases: tuple[str, ...]  #: prefixes accepted in id values (lower case)
    author: str  #: default ``author``: the mission's own pipeline (PDCSAP/SAP columns the reader expects)
    exptime: str  #: default ``exptime``: one cadence, so stitched segments never overlap in time


@dataclass(frozen=True)
class Survey:
    """One survey: what its classifier predicts, how its releases are built, simulated and fetched."""

    name: str
    taxonomy: tuple[str, ...]
    readers: tuple[Reader, ...]
    #: ``module:function`` making ``sim*`` releases on demand (the embedded default), or ``None``
    simulator: str | None = None
    #: MAST mission for ``lcml data fetch``, or ``None``
    mission: Mission | None = None

    def reader_for(self, source: Path) -> Reader:
        """The first reader that accepts ``source``; ``InputError`` listing the accepted sources otherwise."""
        for reader in self.readers:
            if reader.matches(source):
                return reader
        accepted = "; ".join(r.describe for r in self.readers)
        raise InputError(f"{source}: {self.name} releases are built from: {accepted}")

    @property
    def simulated(self) -> bool:
        return self.simulator is not None


_FITS = Reader("folder", "lcml.data.sources.kepler:read_fits_folder", "a folder of mission FITS files", labels=True)
_CATALINA = (
    Reader("parquet", "lcml.data.sources.catalina:read_catalina_parquet", "the survey's Parquet file (id, label, mjd, "
           "mag, mag_err)", sample=True, survey_arg=True),
    Reader("any", "lcml.data.sources.catalina_text:read_catalina_text", "<id>.dat files (MJD mag err) or a CRTS CSV, "
           "a file or a folder", labels=True),
)
_KEPLER_CLASSES = ("T2CEP", "RR", "HYB", "GDOR", "EB", "DSCT")

#: The surveys, by name. Taxonomies: the classes each survey's classifier predicts.
SURVEYS: dict[str, Survey] = {s.name: s for s in (
    # StarWhisper LightCurve's Kepler classes
    Survey("kepler", _KEPLER_CLASSES, (_FITS,), simulator="lcml.data.simulate.lightcurves:simulate_kepler",
           mission=Mission("Kepler", "KIC", "kic", ("kic", "kplr"), "Kepler", "long")),
    # K2VARCAT (Armstrong et al. 2016); "Noise" and "OTHPER" are catalog classes too
    Survey("k2", ("DSCUT", "EA", "EB", "GDOR", "RRab", "OTHPER", "Noise"),
           (Reader("parquet", "lcml.data.sources.k2:read_k2_folded", "the K2SC phase-folded Parquet file"), _FITS),
           simulator="lcml.data.simulate.lightcurves:simulate_k2",
           mission=Mission("K2", "EPIC", "epic", ("epic", "ktwo"), "K2", "long")),
    # StarWhisper's classes too: its classifiers are trained on Kepler and applied to TESS curves
    Survey("tess", _KEPLER_CLASSES, (_FITS,),
           mission=Mission("TESS", "TIC", "tic", ("tic", "tess"), "SPOC", "short")),
    # Catalina Sky Survey, Siding Spring (Drake et al. 2017), as labelled in the Hosenie et al. 2020 split
    Survey("catalina-sss", ("EW", "EA", "RRab", "RRc", "Rot", "LPV", "RRd", "Blazhko", "Cep-II", "ACEP", "dSct"),
           _CATALINA),
    # Catalina Real-Time Transient Survey periodic variables (Drake et al. 2014)
    Survey("crts", ("EA", "EW", "RRc", "RRab", "RS_CVn", "LPV", "RRd", "beta_lyrae", "HADS", "ELL", "Cep_II",
                    "PCEB", "Blazhko", "ACEP", "Hump", "LADS"), _CATALINA),
    # AstroM3 (Rizhko & Bloom 2024): ASAS-SN classes with LAMOST spectra
    Survey("astrom3", ("EW", "SR", "EA", "RRAB", "EB", "ROT", "RRC", "HADS", "M", "DSCT"),
           (Reader("folder", "lcml.data.sources.astrom3:read_astrom3", "an AstroM3 dataset folder"),),
           simulator="lcml.data.simulate.multimodal:simulate_multimodal"),
)}


def survey(name: str) -> Survey:
    """The survey called ``name``; ``InputError`` naming the known surveys otherwise."""
    try:
        return SURVEYS[name]
    except KeyError:
        raise InputError(f"unknown survey {name!r}; known: {', '.join(SURVEYS)}") from None


def classes_for(name: str) -> tuple[str, ...]:
    """The class names of survey ``name`` (its taxonomy)."""
    return survey(name).taxonomy


def survey_of(release: str) -> Survey:
    """The survey of release ``<survey>/<version>``."""
    return survey(release.split("/", 1)[0])


def missions() -> dict[str, Mission]:
    """MAST missions by survey name (the surveys ``lcml data fetch`` downloads)."""
    return {name: s.mission for name, s in SURVEYS.items() if s.mission is not None}


def load_callable(dotted: str) -> Callable[..., Any]:
    """The function named ``module:function``."""
    module, _, attr = dotted.partition(":")
    return getattr(import_module(module), attr)
