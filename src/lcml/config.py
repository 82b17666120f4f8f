"""Settings: ``params.yaml`` (grouped by stage, with profiles) and the local state paths.

Everything the embedded default writes lives under one folder, ``$LCML_HOME`` (default
``<project>/.lcml``). Environment variables point the same code at servers:

=======================  ===============================================
``LCML_PROJECT_DIR``     project root holding ``params.yaml``, ``data/``, ``data.dvc`` (default: cwd)
``LCML_HOME``            local state folder (default ``<project>/.lcml``)
``LCML_PARAMS``          path of ``params.yaml`` (default ``<project>/params.yaml``)
``LCML_PROFILE``         profile applied over the base parameters (default ``demo``)
``MLFLOW_TRACKING_URI``  MLflow backend (default ``sqlite:///<home>/mlflow.db``)
``LCML_OPTUNA_STORAGE``  Optuna RDB storage (default ``sqlite:///<home>/optuna.db``)
``LCML_DVC_REMOTE``      DVC remote URL (default ``<home>/dvc-remote``)
=======================  ===============================================
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lcml.errors import ConfigError

DEFAULT_PROFILE = "demo"
#: the profile of a run on a real survey's own files (``--survey`` with ``--source``) when none is named
SURVEY_PROFILE = "survey"


def source_profile(profile: str | None) -> str:
    """The profile of a run on a survey's files: ``profile``, else ``$LCML_PROFILE``, else :data:`SURVEY_PROFILE`."""
    return profile or os.environ.get("LCML_PROFILE") or SURVEY_PROFILE


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SimulateParams(_Strict):
    n_objects: int = Field(gt=0)
    seed: int = Field(default=0, ge=0)
    duration_days: float = Field(ge=1)
    class_fractions: dict[str, float] | None = None


class SplitParams(_Strict):
    train: float = Field(gt=0, lt=1)
    val: float = Field(gt=0, lt=1)
    test: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> "SplitParams":
        if abs(self.train + self.val + self.test - 1.0) > 1e-6:
            raise ValueError("data.split fractions train + val + test must sum to 1")
        return self


class DataParams(_Strict):
    survey: str
    release: str
    min_points: int = Field(ge=3)
    split: SplitParams
    simulate: SimulateParams


class ValidateParams(_Strict):
    max_bad_fraction: float = Field(ge=0, le=1)
    #: fewer points than this quarantines a curve (default: data.min_points); bins for folded releases
    min_points: int | None = Field(default=None, ge=3)
    #: per-class minimum of accepted objects; a class below it is flagged (fails with min_per_class_required)
    min_per_class: int = Field(default=0, ge=0)
    min_per_class_required: bool = False
    #: repeated timestamps: "reject" quarantines the curve, "merge" accepts it (merged at ingest)
    duplicate_times: Literal["reject", "merge"] = "reject"
    #: per survey: keys replacing the ones above (surveys differ: Catalina has ~250 epochs, K2SC 64 bins)
    surveys: dict[str, dict] = {}

    def for_survey(self, survey: str) -> "ValidateParams":
        override = self.surveys.get(survey) or {}
        try:
            return ValidateParams.model_validate({**self.model_dump(exclude={"surveys"}), **override})
        except ValidationError as exc:
            raise ConfigError(f"validation.surveys.{survey}: {exc.errors()[0]['msg']}") from None


class PeriodParams(_Strict):
    min_period_days: float = Field(gt=0)
    max_period_days: float = Field(gt=0)
    oversample: float = Field(gt=0)
    #: the baseline's periodograms on a grid of this many points per peak width, their highest peaks
    #: refined on the ``oversample`` grid (lcml.features.periodogram.coarse_peaks); None: the whole
    #: fine grid (what a model saved without this key was trained with)
    coarse: float | None = Field(default=None, gt=0)


class FeatureParams(_Strict):
    fold_length: int = Field(ge=8)
    period: PeriodParams
    #: curves are already phase-folded (time = phase in [0, 1)): no period search, no folding.
    #: Set from the release manifest, never in params.yaml; recorded with each model.
    folded: bool = False
    #: per survey: keys replacing the ones above (``period`` merges key by key); Catalina's long-period
    #: variables need a search out to years, Kepler's 90-day quarters do not
    surveys: dict[str, dict] = {}

    def for_survey(self, survey: str) -> "FeatureParams":
        """These settings with ``surveys[survey]`` applied (and no ``surveys``: a model records what it used)."""
        values = self.model_dump(exclude={"surveys"})
        override = dict(self.surveys.get(survey) or {})
        values["period"] = {**values["period"], **(override.pop("period", None) or {})}
        try:
            return FeatureParams.model_validate({**values, **override})
        except ValidationError as exc:
            raise ConfigError(f"features.surveys.{survey}: {exc.errors()[0]['msg']}") from None


class FamilySearchParams(_Strict):
    n_trials: int = Field(ge=1)
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    patience: int = Field(ge=1)
    pruner: str = "median"
    seed: int = 0
    class_weighted: bool = True
    heartbeat_seconds: int = Field(default=30, ge=1)
    #: DataLoader worker processes of the torch families (0: batches made in the training process)
    loader_workers: int = Field(default=0, ge=0)
    #: hyperparameter -> [low, high] (ints: int range), [low, high, log], [low, high, step] or {choices: [...]}
    space: dict[str, Any]
    #: family settings that are not searched (e.g. swin: preset, img_size, local weights)
    options: dict[str, Any] = {}
    #: after the search, fit the best hyperparameters again on train + validation (families that
    #: train without a validation split: baseline); the test split stays untouched
    refit: bool = False
    #: after the search, k-fold cross-validation of the best hyperparameters over train + validation
    #: (0: none); its mean and spread go to the run and the model card beside the test split
    cv_folds: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _space_is_well_formed(self) -> "FamilySearchParams":
        if self.cv_folds == 1:
            raise ValueError("cv_folds: 0 (no cross-validation) or at least 2")
        for name, spec in self.space.items():
            ok = (isinstance(spec, dict) and list(spec) == ["choices"] and spec["choices"]) or (
                isinstance(spec, (list, tuple)) and len(spec) in (2, 3)
                and all(isinstance(v, (int, float)) for v in spec[:2]) and spec[0] <= spec[1])
            if not ok:
                raise ValueError(f"space.{name}: expected [low, high], [low, high, log|step] or {{choices: [...]}}, got {spec!r}")
        return self


class SearchParams(_Strict):
    #: model families searched (in parallel in the retrain DAG), each with its own section below
    families: list[str] = ["conv_bilstm"]
    #: workers sharing one study when Optuna's storage is a database server (1 on SQLite)
    workers: int = Field(default=2, ge=1)
    conv_bilstm: FamilySearchParams
    swin: FamilySearchParams | None = None
    baseline: FamilySearchParams | None = None
    astrom3: FamilySearchParams | None = None
    fusion: FamilySearchParams | None = None
    voting: FamilySearchParams | None = None
    lc_text: FamilySearchParams | None = None
    lc_image: FamilySearchParams | None = None
    lc_audio: FamilySearchParams | None = None

    @classmethod
    def family_names(cls) -> tuple[str, ...]:
        """The model families lcml has: one section each (the one list; :data:`lcml.families.FAMILIES`)."""
        return tuple(name for name in cls.model_fields if name not in ("families", "workers"))

    @model_validator(mode="after")
    def _families_have_sections(self) -> "SearchParams":
        known = self.family_names()
        for family in self.families:
            if family not in known:
                raise ValueError(f"unknown family {family!r} ({', '.join(known)})")
            if getattr(self, family) is None:
                raise ValueError(f"family {family} is searched but has no search.{family} section")
        return self

    def of(self, family: str) -> FamilySearchParams:
        return getattr(self, family)


class GateParams(_Strict):
    metric: str = "balanced_accuracy"
    floors: dict[str, float]
    class_recall_floors: dict[str, float] = {}
    #: test objects of a class from which its recall floor is judged on the point estimate; below
    #: this, only a 95% interval wholly under the floor fails it (lcml.registry.gates)
    recall_min_support: int = Field(default=30, ge=0)
    min_improvement: float = Field(ge=0)
    max_latency_ms: float | None = Field(default=None, gt=0)
    #: per registered model, keys that replace the ones above (e.g. a rare-class recall floor)
    models: dict[str, dict] = {}

    def for_model(self, name: str) -> "GateParams":
        """The gates of registered model ``name``: the defaults with its overrides applied."""
        override = self.models.get(name) or {}
        base = self.model_dump(exclude={"models"})
        try:
            return GateParams.model_validate({**base, **override})
        except ValidationError as exc:
            raise ConfigError(f"gates.models.{name}: {exc.errors()[0]['msg']}") from None


class RegistryParams(_Strict):
    #: registered model of a survey's classifiers; ``{survey}`` is replaced by the release's survey
    model_name: str
    #: registered model of a survey's CLIP encoders (AstroM3 pretraining)
    encoder_name: str = "{survey}-clip-encoder"
    retry_seconds: float = Field(default=300, ge=0)  # keep retrying an unreachable registry this long

    def name_for(self, survey: str) -> str:
        return self.model_name.replace("{survey}", survey)

    def encoder_for(self, survey: str) -> str:
        return self.encoder_name.replace("{survey}", survey)


class PretrainParams(_Strict):
    """AstroM3 CLIP pretraining of a release (the retrain DAG's ``pretrain_clip`` task)."""

    epochs: int = Field(default=10, ge=1)
    embed_dim: int = Field(default=64, ge=2)
    batch_size: int = Field(default=128, ge=2)
    lr: float = Field(default=1e-3, gt=0)
    seed: int = 0


class Params(_Strict):
    """The whole ``params.yaml`` after the chosen profile has been applied."""

    profile: str
    data: DataParams
    validation: ValidateParams
    features: FeatureParams
    search: SearchParams
    gates: GateParams
    registry: RegistryParams
    pretrain: PretrainParams = PretrainParams()

    def hash(self) -> str:
        """Stable short hash of the effective parameters (recorded on every model version)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        # an empty mapping replaces (clears) rather than merges, so a profile can drop base entries
        if isinstance(value, dict) and value and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_params(
    path: str | Path | None = None,
    profile: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Params:
    """Read ``params.yaml``, apply a profile and then ``overrides`` (nested dict), and validate.

    Parameters
    ----------
    path
        The YAML file; default ``$LCML_PARAMS`` or ``<project>/params.yaml``.
    profile
        Name under ``profiles:``; default ``$LCML_PROFILE`` or ``demo``.
    overrides
        Nested mapping merged last, e.g. ``{"search": {"conv_bilstm": {"n_trials": 2}}}``.
    """
    path = Path(path) if path else params_path()
    if not path.is_file():
        raise ConfigError(f"params file not found: {path} (set LCML_PARAMS or LCML_PROJECT_DIR)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    profiles = raw.pop("profiles", {}) or {}
    profile = profile or os.environ.get("LCML_PROFILE") or DEFAULT_PROFILE
    if profile not in profiles and profile != "base":
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(f"{path}: unknown profile {profile!r} (known: base, {known})")
    merged = _deep_merge(raw, profiles.get(profile) or {})
    merged = _deep_merge(merged, overrides or {})
    merged["profile"] = profile
    try:
        return Params.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path} (profile {profile}): {where}: {first['msg']}") from None


def project_dir() -> Path:
    return Path(os.environ.get("LCML_PROJECT_DIR") or Path.cwd()).resolve()


def params_path() -> Path:
    return Path(os.environ.get("LCML_PARAMS") or project_dir() / "params.yaml")


@dataclass(frozen=True)
class Paths:
    """Where the embedded default keeps its state; environment variables override each."""

    project: Path
    home: Path

    @classmethod
    def from_env(cls) -> "Paths":
        project = project_dir()
        home = Path(os.environ.get("LCML_HOME") or project / ".lcml").resolve()
        return cls(project=project, home=home)

    @property
    def data(self) -> Path:
        return self.project / "data"

    @property
    def releases(self) -> Path:
        return self.data / "releases"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def feature_cache(self) -> Path:
        """Where trainings keep the feature arrays of their splits (:func:`lcml.features.extract.feature_cache`)."""
        return self.home / "cache" / "features"

    @property
    def airflow_home(self) -> Path:
        return Path(os.environ.get("AIRFLOW_HOME") or self.home / "airflow")

    @property
    def mlflow_tracking_uri(self) -> str:
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def optuna_storage(self) -> str:
        return os.environ.get("LCML_OPTUNA_STORAGE") or f"sqlite:///{self.home / 'optuna.db'}"

    @property
    def dvc_remote(self) -> str:
        return os.environ.get("LCML_DVC_REMOTE") or str(self.home / "dvc-remote")

    def ensure(self) -> "Paths":
        for folder in (self.home, self.reports, self.mlflow_artifacts, self.releases):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def context(profile: str | None = None, overrides: dict | None = None) -> tuple[Params, Paths]:
    """Parameters (profile and overrides applied) and state paths, with the state folders created.

    What every flow of :mod:`lcml.pipeline` starts from; the one place a profile becomes settings.
    """
    return load_params(profile=profile, overrides=overrides), Paths.from_env().ensure()
