"""Airflow Assets: one per survey; `survey_release` emits it, `retrain_classifiers` is scheduled on it.

Light on purpose (only ``airflow.sdk`` and :mod:`lcml.surveys`): DAG files import it at parse time.
Every survey of :data:`lcml.surveys.SURVEYS` has an Asset, so every release can be announced.
"""

from __future__ import annotations

from lcml.surveys import SURVEYS


def release_asset(survey: str):
    """The Asset that a new release of ``survey`` updates; its event's extra carries ``release``."""
    from airflow.sdk import Asset

    return Asset(name=f"lcml-release-{survey}", uri=f"lcml://releases/{survey}")


def release_assets() -> list:
    """One Asset per survey: what ``survey_release`` may update and ``retrain_classifiers`` is scheduled on."""
    return [release_asset(s) for s in SURVEYS]


def release_from_events(context) -> str | None:
    """Release id from the newest triggering asset event of this run, if it was asset-triggered."""
    events = context.get("triggering_asset_events") or {}
    newest = None
    for asset_events in events.values():
        for event in asset_events:
            release = (event.extra or {}).get("release")
            if release and (newest is None or event.timestamp > newest[0]):
                newest = (event.timestamp, release)
    return newest[1] if newest else None
