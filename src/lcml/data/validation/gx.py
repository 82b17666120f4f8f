"""Great Expectations for one release: an ephemeral context, one suite per modality, Data Docs."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lcml.data.validation import suites
from lcml.errors import LcmlError

#: Data Docs site name inside the GX context.
DOCS_SITE = "lcml"


@dataclass
class SuiteOutcome:
    """Result of one suite: failing rows with their reasons and the deterministic report entries."""

    modality: str
    suite: str
    success: bool
    n_rows: int
    bad: dict[int, list[str]]
    entries: list[dict[str, Any]]


class _Gx:
    """One ephemeral GX context for a release: suites, validation definitions, results, Data Docs."""

    def __init__(self, run_name: str):
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        # The ephemeral context comes with a docs site in a temporary folder; only ours is wanted.
        self.context.variables.data_docs_sites = {}
        self.source = self.context.data_sources.add_pandas("lcml")
        # Data Docs keys may not contain "/", so the run is named <survey>-<version>.
        self.run_id = RunIdentifier(run_name=re.sub(r"[\\/]", "-", run_name))

    def run(self, modality: str, frame: pd.DataFrame, checks: list[suites.Check]) -> SuiteOutcome:
        gx = self.gx
        name = suites.SUITE_NAMES[modality]
        suite = self.context.suites.add(gx.ExpectationSuite(name=name))
        for check in checks:
            suite.add_expectation(check.expectation)
        batch_definition = self.source.add_dataframe_asset(modality).add_batch_definition_whole_dataframe("all")
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        frame = frame.reset_index(drop=True)
        result = definition.run(
            batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"}, run_id=self.run_id
        )
        by_id = {check.expectation.id: check for check in checks}
        bad: dict[int, list[str]] = {}
        entries = []
        for outcome in result.results:
            config = outcome.expectation_config
            check = by_id[config.id]
            info = outcome.exception_info or {}
            if info.get("raised_exception"):  # a broken check must not pass as "no failing row"
                raise LcmlError(f"GX suite {name}: {config.type} raised {info.get('exception_message')}")
            if check.table_level:
                unexpected = [] if outcome.success else list(range(len(frame)))
            else:
                unexpected = [int(i) for i in outcome.result.get("unexpected_index_list") or []]
            for idx in unexpected:
                reasons = bad.setdefault(idx, [])
                if check.reason not in reasons:
                    reasons.append(check.reason)
            # only deterministic fields: the report is part of the DVC-tracked release
            entries.append({
                "suite": name,
                "modality": modality,
                "type": config.type,
                "kwargs": {k: v for k, v in config.kwargs.items() if k != "batch_id"},
                "success": bool(outcome.success),
                "unexpected_count": len(unexpected),
                "reason": check.reason,
            })
        return SuiteOutcome(modality, name, bool(result.success), len(frame), bad, entries)

    def build_docs(self, docs_dir: Path) -> Path:
        """Write the HTML Data Docs (suites and this run's results) into ``docs_dir``; return index.html."""
        docs_dir = Path(docs_dir).resolve()
        docs_dir.mkdir(parents=True, exist_ok=True)
        self.context.variables.data_docs_sites = {
            DOCS_SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        }
        self.context.build_data_docs(site_names=[DOCS_SITE])
        index = docs_dir / "index.html"
        if not index.is_file():
            raise LcmlError(f"Great Expectations built no Data Docs index at {index}")
        return index
