"""Writers: a versioned JSON document for machines and a Markdown report for people."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from pipeline.abtest.readout import Readout, correction_name
from pipeline.experiment import UPLIFT_RATE
from pipeline.stats.frequentist import ConversionResult, MeanResult
from pipeline.stats.models import MESSAGES, Interval
from pipeline.stats.sequential import SequentialResult

# Derived values written beside a dataclass's fields, so JSON readers need not recompute them.
_PROPERTIES: dict[type, tuple[str, ...]] = {
    ConversionResult: ("p_value", "significant"),
    MeanResult: ("p_value", "significant"),
    SequentialResult: ("first_fixed_rejection", "first_sequential_rejection"),
}


def to_jsonable(value: Any) -> Any:
    """Dataclasses to dicts; non-finite floats to null (JSON has no NaN)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in _PROPERTIES.get(type(value), ()):
            out[name] = to_jsonable(getattr(value, name))
        if hasattr(value, "mean") and "mean" not in out:
            out["mean"] = to_jsonable(value.mean)
        return out
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalars
        return to_jsonable(value.item())
    return value


def write_json(readout: Readout, path: Path) -> Path:
    document = {
        "kind": "ecom.abtest.readout",
        "schema_version": readout.schema_version,
        **to_jsonable(readout),
        "message_texts": dict(MESSAGES),
    }
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    return path


def _pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x * 100:.{digits}f}%"


def _signed_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.2f}%"


def _pp(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.2f} pp"


def _ci(ci: Interval | None, scale: float = 100, unit: str = " pp") -> str:
    if ci is None:
        return "n/a"
    return f"[{ci.lower * scale:+.2f}, {ci.upper * scale:+.2f}]{unit}"


def _p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _money(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.4f}"


def _conversion_section(r: Readout) -> list[str]:
    c = r.conversion
    level = round((1 - r.config.alpha) * 100)
    lines = [
        "## Conversion (user converted = at least one purchase)",
        "",
        "| group | users | converters | conversion |",
        "|---|---:|---:|---:|",
        f"| control | {c.control.n:,} | {c.control.successes:,} | {_pct(c.control.mean)} |",
        f"| treatment | {c.treatment.n:,} | {c.treatment.successes:,} | {_pct(c.treatment.mean)} |",
        "",
    ]
    if c.message != "ok":
        return [*lines, f"No test: {MESSAGES[c.message]}.", ""]
    assert c.absolute is not None and c.pearson is not None and c.yates is not None
    used = "Yates-corrected" if c.verdict_test == "yates" else "uncorrected (Pearson)"
    lines += [
        f"- Absolute lift: {_pp(c.absolute.estimate)}, {level}% CI {_ci(c.absolute.ci)} "
        "(two-proportion interval).",
        (
            f"- Relative lift: {c.relative.estimate * 100:+.2f}%, {level}% CI "
            f"{_ci(c.relative.ci, unit='%')} (delta method)."
            if c.relative is not None
            else f"- Relative lift: n/a ({MESSAGES[c.relative_message]})."
        ),
        f"- Chi-square test of independence: with Yates' correction chi² = "
        f"{c.yates.statistic:.3f}, p {_p(c.yates.p_value)}; without chi² = "
        f"{c.pearson.statistic:.3f}, p {_p(c.pearson.p_value)}.",
        f"- The verdict uses the **{used}** test at alpha = {r.config.alpha}.",
        "",
    ]
    return lines


def _truth_section(r: Readout) -> list[str]:
    t = r.truth
    lines = ["## Injected truth vs recovered estimate", ""]
    if t.message == "empty_group":
        return [*lines, f"Not available: {MESSAGES['empty_group']}.", ""]
    est = r.conversion.absolute
    rel = r.conversion.relative

    def covered(flag: bool | None) -> str:
        return "n/a" if flag is None else ("yes" if flag else "**no**")

    lines += [
        f"The uplift was injected at ingestion ({UPLIFT_RATE:.0%} of Treatment cart events became "
        "purchases), so "
        "the data knows Treatment's conversion without it: the true effect in this sample.",
        "",
        "| | true effect in sample | estimate | interval | covers truth |",
        "|---|---:|---:|---:|---:|",
        f"| absolute | {_pp(t.absolute)} | {_pp(est.estimate if est else None)} | "
        f"{_ci(est.ci if est else None)} | {covered(t.absolute_covered)} |",
        f"| relative | {_signed_pct(t.relative)} | {_signed_pct(rel.estimate if rel else None)} | "
        f"{_ci(rel.ci if rel else None, unit='%')} | {covered(t.relative_covered)} |",
        "",
        f"Treatment converts at {_pct(t.treatment_rate)} with the injected purchases and "
        f"{_pct(t.treatment_rate_without_injection)} without them.",
    ]
    if t.placebo.p_value is not None:
        lines.append(
            f"Placebo check (Control vs Treatment without injection, which should not differ): "
            f"p {_p(t.placebo.p_value)}."
        )
    return [*lines, ""]


def _mean_row(name: str, m) -> str:
    if m.message != "ok":
        return f"| {name} | {_money(m.control_mean)} | {_money(m.treatment_mean)} | n/a | n/a | n/a | {MESSAGES[m.message]} |"
    rel = "n/a" if m.relative is None else f"{m.relative.estimate * 100:+.2f}%"
    return (
        f"| {name} | {_money(m.control_mean)} | {_money(m.treatment_mean)} | "
        f"{m.absolute.estimate:+.4f} [{m.absolute.ci.lower:+.4f}, {m.absolute.ci.upper:+.4f}] | "
        f"{rel} | {_p(m.p_value)} | |"
    )


def _revenue_section(r: Readout) -> list[str]:
    lines = [
        "## Revenue per user and average order value (Welch's t-test)",
        "",
        "| metric | control | treatment | difference [CI] | relative | p | note |",
        "|---|---:|---:|---:|---:|---:|---|",
        _mean_row("revenue per user", r.revenue),
    ]
    if r.revenue_winsorized is not None:
        lines.append(
            _mean_row(
                f"revenue per user, winsorized at p{r.config.winsorize_at * 100:g} "
                f"(cap {_money(r.revenue_cap)})",
                r.revenue_winsorized,
            )
        )
    lines += [
        _mean_row("average order value", r.order_value),
        "",
        "Average order value is revenue / orders with users as units (delta-method variance).",
        "",
    ]
    return lines


def _power_section(r: Readout) -> list[str]:
    p = r.power
    lines = ["## Power", ""]
    if p.message == "empty_group":
        return [*lines, f"Not available: {MESSAGES['empty_group']}.", ""]
    mde = (
        f"{_pp(p.mde_absolute)} ({_pct(p.mde_relative, 1)} relative)"
        if p.mde_absolute is not None
        else "none reachable"
    )
    need = f"{p.required_per_group:,}" if p.required_per_group is not None else "n/a"
    test = (
        "Yates-corrected chi-square (Fleiss' formula with continuity correction)"
        if p.test == "yates"
        else "uncorrected chi-square (pooled z-test, Fleiss' formula)"
    )
    return [
        *lines,
        f"Computed for the test the verdict uses: the {test}.",
        "",
        f"- Minimum detectable effect at {p.power:.0%} power, alpha {p.alpha}, on the observed "
        f"{p.n_control:,} + {p.n_treatment:,} users and {_pct(p.baseline)} baseline: {mde}.",
        f"- Users needed per group to detect a {p.target_relative_lift:+.1%} relative lift: "
        f"{need}.",
        "",
    ]


def _sequential_section(r: Readout) -> list[str]:
    s = r.sequential
    lines = [
        "## Peeking-safe weekly view",
        "",
        f"Cumulative conversion lift at the end of each week with an always-valid confidence "
        f"sequence (GrowthBook's asymptotic confidence sequence, a normal-mixture mSPRT; tuning "
        f"parameter N* = {s.tuning:,.0f}). Watch it as often as you like: stopping when the "
        f"sequence excludes zero keeps the false-positive rate at {s.alpha}. The fixed-horizon "
        "interval is shown for contrast; checking it weekly inflates false positives.",
        "",
    ]
    if s.message in ("empty_group", "single_look"):
        lines += [f"Note: {MESSAGES[s.message]}.", ""]
    if not s.looks:
        return lines
    lines += [
        "| week | ends | users C / T | lift | fixed CI | sequential CI | always-valid p |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for look in s.looks:
        ends = r.week_ends[look.week] if look.week < len(r.week_ends) else ""
        users = f"{look.control.n:,} / {look.treatment.n:,}"
        if look.message != "ok":
            lines.append(
                f"| {look.week + 1} | {ends} | {users} | n/a | {MESSAGES[look.message]} | | |"
            )
            continue
        lines.append(
            f"| {look.week + 1} | {ends} | {users} | {_pp(look.estimate)} | "
            f"{_ci(look.fixed_ci)} | {_ci(look.sequential_ci)} | {_p(look.sequential_p)} |"
        )
    first_seq, first_fixed = s.first_sequential_rejection, s.first_fixed_rejection
    lines += [
        "",
        "- Sequential: "
        + (
            f"significant from week {first_seq + 1}."
            if first_seq is not None
            else "never significant."
        ),
        "- Fixed-horizon test checked weekly (unsafe): "
        + (
            f"first significant at week {first_fixed + 1}."
            if first_fixed is not None
            else "never significant."
        ),
        "",
    ]
    return lines


def _segments_section(r: Readout) -> list[str]:
    lines = [
        "## Segments",
        "",
        f"Conversion lift by month (users active that month) and by new vs returning users "
        f"(new: the first month; returning: later months). p-values adjusted across all "
        f"{sum(s.adjusted_p is not None for s in r.segments)} segment tests with "
        f"{correction_name(r.config)}.",
        "",
        "| dimension | segment | users C / T | conversion C / T | lift [CI] | p | adjusted p |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    if not r.segments:
        return [*lines, "", "No segments found.", ""]
    for seg in r.segments:
        res = seg.result
        if res is None or res.absolute is None:
            note = MESSAGES[seg.message]
            users = "" if res is None else f"{res.control.n:,} / {res.treatment.n:,}"
            lines.append(f"| {seg.dimension} | {seg.segment} | {users} | n/a | {note} | | |")
            continue
        mark = " *" if seg.significant_adjusted else ""
        lines.append(
            f"| {seg.dimension} | {seg.segment} | {res.control.n:,} / {res.treatment.n:,} | "
            f"{_pct(res.control.mean)} / {_pct(res.treatment.mean)} | {_pp(res.absolute.estimate)} "
            f"{_ci(res.absolute.ci)} | {_p(res.p_value)} | {_p(seg.adjusted_p)}{mark} |"
        )
    return [*lines, "", f"\\* significant at alpha {r.config.alpha} after correction.", ""]


def markdown(readout: Readout) -> str:
    r = readout
    lines = ["# Experiment readout: redesigned checkout", "", f"**{r.verdict}**", ""]
    for warning in r.warnings:
        lines += [f"> **Warning:** {warning}", ""]
    srm = r.srm
    lines += [
        "## Sample ratio check",
        "",
        f"Control {srm.observed[0]:,} vs Treatment {srm.observed[1]:,} users against a 50/50 "
        f"design: chi-square = {srm.statistic:.3f}, p {_p(srm.p_value)} "
        f"({'MISMATCH: do not trust the results' if srm.flagged else 'no mismatch'}; flagged "
        f"below p = {srm.alpha}).",
        "",
    ]
    lines += _conversion_section(r)
    lines += _truth_section(r)
    lines += _revenue_section(r)
    lines += _power_section(r)
    lines += _sequential_section(r)
    lines += _segments_section(r)
    lines += [f"_Readout schema {r.schema_version}; alpha {r.config.alpha}._", ""]
    return "\n".join(lines)


def write_markdown(readout: Readout, path: Path) -> Path:
    path.write_text(markdown(readout))
    return path
