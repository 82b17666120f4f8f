"""The run summary that ``make demo``, ``lcml pipeline run`` and ``lcml train`` print."""

from __future__ import annotations


def print_summary(s: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    reg = s["registry"]
    val = s["validation"]
    search = s["search"]
    m = s["test_metrics"]
    table = Table(title=f"lcml retrain summary — {s.get('tag', '')}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("release", s["release"])
    table.add_row("class counts", ", ".join(f"{k} {v}" for k, v in s["class_counts"].items()))
    table.add_row("validation", f"{'passed' if val['passed'] else 'FAILED'}: {val['n_quarantined']}/{val['n_rows']} "
                                f"rows quarantined ({val['bad_fraction']:.1%}, max {val['max_bad_fraction']:.0%})")
    table.add_row("data md5 (DVC)", str(s.get("data_md5")))
    table.add_row("family", s.get("family", "conv_bilstm"))
    table.add_row("search", f"{search['n_trials']} trials, {search['n_pruned']} pruned; best trial "
                            f"{search['best_trial']} {search['best_params']}")
    table.add_row("test metrics", f"balanced acc {m['balanced_accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, "
                                  f"acc {m['accuracy']:.3f} (n={int(m['n_test'])})")
    table.add_row("per-class recall", ", ".join(f"{k[7:]} {v:.2f}" for k, v in m.items() if k.startswith("recall_")))
    if reg.get("skipped"):
        table.add_row("registered", f"nothing new: {reg['model_name']} v{reg['version']} was already trained from "
                                    "this release with these params and code (--force retrains)")
    else:
        table.add_row("registered", f"{reg['model_name']} v{reg['version']}")
    verdict = reg["verdict"] + ("" if not reg["reasons"] else ": " + "; ".join(reg["reasons"]))
    table.add_row("gate verdict", verdict)
    for warning in reg.get("warnings", []):
        table.add_row("gate warning", warning)
    if len(s.get("candidates", [])) > 1:
        table.add_row("candidates", "\n".join(
            f"{c['family']}: v{c['version']} {c['verdict']}, test balanced acc "
            f"{c['test_metrics'].get('balanced_accuracy', float('nan')):.3f}" + (" (already trained)" if c["skipped"] else "")
            for c in s["candidates"]))
    champion = f"v{reg['champion']}" if reg["champion"] else "none"
    if reg["champion_before"] not in (None, reg["champion"]):
        champion += f" (was v{reg['champion_before']})"
    table.add_row("champion", champion)
    if "dag_seconds" in s:
        table.add_row("DAG wall time", f"{s['dag_seconds']} s")
    table.add_row("MLflow UI", "make mlflow-ui   → http://127.0.0.1:5000")
    table.add_row("Airflow UI", "make airflow-ui  → http://127.0.0.1:8080")
    Console(width=120).print(table)
