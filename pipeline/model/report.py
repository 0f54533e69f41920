"""Plain-text lines of a model card's evaluation: each split, the model beside its baselines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ROWS = (
    ("model", "xgboost"),
    ("logistic_regression", "logistic reg."),
    ("majority_class", "majority"),
)


def _row(name: str, m: Mapping[str, Any]) -> str:
    roc_low, roc_high = m["roc_auc_ci"]
    pr_low, pr_high = m["pr_auc_ci"]
    return (
        f"  {name:<14} ROC-AUC {m['roc_auc']:.4f} [{roc_low:.4f}, {roc_high:.4f}]  "
        f"PR-AUC {m['pr_auc']:.4f} [{pr_low:.4f}, {pr_high:.4f}]  acc {m['accuracy']:.4f}  "
        f"log-loss {m['log_loss']:.4f}  Brier {m['brier']:.4f}"
    )


def metrics_lines(card: Mapping[str, Any]) -> list[str]:
    lines = [
        f"{card['engine']} model on {card['rows']['total']:,} cart sessions "
        f"({card['rows']['abandoned'] / card['rows']['total']:.1%} abandoned), "
        f"{card['data_window']['first_session_start']} .. {card['data_window']['last_session_start']}"
    ]
    for split in ("random_split", "time_split"):
        report = card["evaluation"].get(split)
        if not report:
            continue
        lines.append(
            f"{split.replace('_', ' ')}: {report['description']} "
            f"(train {report['train_rows']:,}, test {report['test_rows']:,})"
        )
        if report.get("booster"):
            lines.append(f"  scored: {report['booster']}")
        scores = {"model": report["model"], **report["baselines"]}
        lines += [_row(label, scores[key]) for key, label in ROWS]
        model = report["model"]
        lines.append("  calibration (predicted -> observed, rows):")
        lines += [
            f"    {b['bin_low']:.1f}-{b['bin_high']:.1f}: {b['mean_predicted']:.3f} -> "
            f"{b['observed_rate']:.3f} ({b['rows']:,})"
            for b in model["calibration"]
        ]
        cr = model["classification_report"]
        lines.append(
            "  report: "
            + ", ".join(
                f"{k} P={cr[k]['precision']:.3f} R={cr[k]['recall']:.3f} F1={cr[k]['f1-score']:.3f}"
                for k in ("purchased", "abandoned")
            )
        )
    return lines
