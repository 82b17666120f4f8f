"""Model cards: a markdown page per registered version, logged with its training run."""

from __future__ import annotations

from typing import Any

CARD = "model_card.md"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cv_section(cv: dict | None, test: dict, classes: list[str]) -> str:
    """Cross-validation over train + validation beside the test split (or why there is none)."""
    if not cv:
        return "Cross-validation: not run (`search.<family>.cv_folds: 0`)."
    ba, f1 = cv["balanced_accuracy"], cv["macro_f1"]
    rows = [[c, f"{cv['recall'][c]:.3f} ± {cv['recall_std'][c]:.3f}",
             f"{test[f'recall_{c}']:.3f}" if f"recall_{c}" in test else "absent"]
            for c in classes if c in cv["recall"]]
    return (f"Cross-validation ({cv['folds']}-fold, stratified, over train + validation; the same hyperparameters): "
            f"balanced accuracy {ba['mean']:.3f} ± {ba['std']:.3f} (test split {test['balanced_accuracy']:.3f}), "
            f"macro-F1 {f1['mean']:.3f} ± {f1['std']:.3f} (test {test['macro_f1']:.3f}).\n\n"
            + _table(["class", "CV recall (mean ± spread over folds)", "test recall"], rows))


def _members_section(members: list[dict] | None) -> str:
    """The members of a vote (family ``voting``) and their fixed weights; nothing for other families."""
    if not members:
        return ""
    total = sum(m["weight"] for m in members)
    rows = [[f"`{m['family']}`", f"{m['weight'] / total:.2f}", m.get("hp", {})] for m in members]
    return ("## Members\nThe registered model averages its members' class probabilities with these weights, "
            "fixed in `params.yaml` before training:\n\n" + _table(["family", "weight", "hyperparameters"], rows)
            + "\n\n")


def render_card(*, name: str, version: str, trained: dict, gate: dict, manifest: dict, classes: list[str],
                champion_before: str | None) -> str:
    """Markdown card: data, metrics per class, gates and verdict, settings, intended use, lineage."""
    m = trained["metrics"]
    lineage = trained["lineage"]
    counts = manifest.get("class_counts", {})
    per_class = [[c, counts.get(c, 0), f"{m[f'recall_{c}']:.3f}" if f"recall_{c}" in m else "absent from test"]
                 for c in classes]
    checks = [[c["name"], "n/a" if c["value"] is None else f"{c['value']:.3f}", f"{c['threshold']:.3f}",
               ("pass (weak evidence)" if c.get("warning") else "pass") if c["passed"] else "FAIL"]
              for c in gate.get("checks", [])]
    verdict = gate.get("verdict", "pending")
    return f"""# {name} v{version}

Family `{trained['family']}`, trained on release `{trained['release']}`; gate verdict **{verdict}**
(champion before: {'v' + champion_before if champion_before else 'none'}).

## Data
Release `{trained['release']}` ({manifest.get('n_objects', '?')} objects, source: {manifest.get('source', '?')}).
Validation: {manifest.get('validation', {}).get('n_quarantined', '?')} rows quarantined.
Splits are a hash of `object_id`; test set: {int(m.get('n_test', 0))} objects.

{_table(['class', 'objects in release', 'test recall'], per_class)}

## Metrics (test split)
accuracy {m['accuracy']:.3f} · balanced accuracy {m['balanced_accuracy']:.3f} · macro-F1 {m['macro_f1']:.3f}
· scoring latency {trained.get('latency_ms_per_curve', float('nan')):.1f} ms per curve (raw light curve to probabilities)

{_cv_section(trained.get('cv'), m, classes)}

## Gates
{_table(['check', 'value', 'threshold', 'result'], checks) if checks else 'No checks recorded.'}

{'Reasons: ' + '; '.join(gate.get('reasons', [])) if gate.get('reasons') else ''}
{'Warnings: ' + '; '.join(gate.get('warnings', [])) if gate.get('warnings') else ''}

{_members_section(trained.get('members'))}## Training
Optuna study `{trained['study']}`: {trained['n_trials']} trials ({trained['n_pruned']} pruned), best trial
{trained['best_trial']} with {trained['best_params']} (validation balanced accuracy
{trained['best_val_balanced_accuracy']:.3f}){'; the registered model refits them on train + validation' if trained.get('refit') else ''}. Profile `{lineage.get('profile')}`, params hash `{lineage.get('params_hash')}`.

## Intended use and known limits
Classifies periodic variable-star light curves into {', '.join(classes)} from raw time/flux/flux_err.
Input must be a light curve of one star spanning several cycles; the model computes its own period
(Lomb-Scargle), so eclipsing binaries may be folded at half their orbital period. Classes outside this
list are forced into one of them — check `proba`. Trained on `{trained['release']}`: if that is a
simulated release, accuracy on real survey data is not established by these numbers.

## Lineage
{_table(['key', 'value'], [[k, f'`{v}`'] for k, v in lineage.items()])}
| training run | `{trained['run_id']}` |
"""
