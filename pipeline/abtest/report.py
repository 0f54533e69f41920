"""Writers: a versioned JSON document for machines and a Markdown report for people.

The Markdown opens with the decision (what to do, by which rule, about which experiment), then
the evidence, and ends with a glossary.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from pipeline.abtest.decision import Decision
from pipeline.abtest.readout import PRIMARY_LABEL, Population, Readout, correction_name
from pipeline.stats.bayesian import BayesianResult
from pipeline.stats.cuped import CupedResult
from pipeline.stats.frequentist import ConversionResult, MeanResult
from pipeline.stats.models import MESSAGES, Interval
from pipeline.stats.sequential import SequentialResult

KIND = "ecom.abtest.readout"

# Derived values written beside a dataclass's fields, so JSON readers need not recompute them.
_PROPERTIES: dict[type, tuple[str, ...]] = {
    ConversionResult: ("p_value", "significant"),
    MeanResult: ("p_value", "significant"),
    SequentialResult: ("first_fixed_rejection", "first_sequential_rejection"),
    Decision: ("words",),
}

GLOSSARY: tuple[tuple[str, str], ...] = (
    (
        "pp",
        "percentage points: the difference of two percentages (7.0% to 8.0% is +1.0 pp, "
        "a +14% relative lift).",
    ),
    (
        "relative lift",
        "the difference divided by Control's value (its absolute value when negative).",
    ),
    (
        "interval (CI)",
        "a 95% confidence interval: the range of effects compatible with the "
        "data; intervals built this way cover the true effect 95% of the time. An interval that "
        "excludes 0 is the same statement as p < 0.05 here.",
    ),
    (
        "p-value",
        "how often a difference at least this large would appear by chance if the "
        "redesign did nothing.",
    ),
    (
        "SRM",
        "sample ratio mismatch: the groups are not the 50/50 split the assignment "
        "promises, a sign of broken assignment or logging; flagged at p < 0.001.",
    ),
    (
        "exposed / users who reached the cart",
        "users with at least one add-to-cart event in the "
        "experiment, counted before the injection so the trigger means the same in both groups; "
        "the checkout can only change what they do.",
    ),
    (
        "CUPED",
        "variance reduction with a pre-period covariate (Deng et al. 2013): each user's "
        "metric minus theta times their value before the start; same effect, narrower interval.",
    ),
    (
        "guardrail",
        "a metric the change must not hurt; non-inferiority means a loss larger than "
        "the margin is ruled out.",
    ),
    (
        "chance to beat control",
        "the Bayesian posterior probability that Treatment is better "
        "(flat prior, as GrowthBook's default).",
    ),
    (
        "expected loss",
        "the lift you expect to give up, on average over the posterior, if the "
        "choice turns out wrong.",
    ),
    (
        "power / MDE",
        "the chance a test detects an effect of a given size; the minimum "
        "detectable effect (MDE) is the smallest one detected 80% of the time.",
    ),
    (
        "sequential",
        "an always-valid confidence sequence that may be checked every week and "
        "stopped when it excludes 0 without inflating false positives; a fixed-horizon interval "
        "checked weekly does inflate them.",
    ),
    (
        "A/A test",
        "both groups get the same experience (uplift rate 0): any 'effect' is chance; "
        "about 5% of A/A tests are significant at alpha 0.05.",
    ),
)


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


def document(readout: Readout) -> dict[str, Any]:
    return {
        "kind": KIND,
        "schema_version": readout.schema_version,
        **to_jsonable(readout),
        "glossary": dict(GLOSSARY),
        "message_texts": dict(MESSAGES),
    }


def write_json(readout: Readout, path: Path) -> Path:
    path.write_text(json.dumps(document(readout), indent=2, allow_nan=False) + "\n")
    return path


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if not _finite(x) else f"{x * 100:.{digits}f}%"


def _signed_pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if not _finite(x) else f"{x * 100:+.{digits}f}%"


def _pp(x: float | None) -> str:
    return "n/a" if not _finite(x) else f"{x * 100:+.2f} pp"


def _ci(ci: Interval | None, scale: float = 100, unit: str = " pp") -> str:
    if ci is None:
        return "n/a"
    return f"[{ci.lower * scale:+.2f}, {ci.upper * scale:+.2f}]{unit}"


def _p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _num(x: float | None, digits: int = 4) -> str:
    return "n/a" if not _finite(x) else f"{x:,.{digits}f}"


def _level(r: Readout) -> int:
    return round((1 - r.config.alpha) * 100)


def decision_block(r: Readout) -> list[str]:
    """The top of the report: decision, rule, experiment, hypothesis, population."""
    d, e, p = r.decision, r.experiment, r.primary
    if e.start is None:
        dates = "no users in the experiment window"
    else:
        dates = f"{e.start} to {e.end} ({e.days} days)"
    pre = (
        f"events before {e.start} (no injection; CUPED covariates)"
        if e.start_setting is not None
        else "none (the experiment starts on the data's first day; set ECOM_EXPERIMENT_START "
        "for one)"
    )
    rate = (
        "0: an A/A test, both groups got the same checkout"
        if e.is_aa
        else f"{e.uplift_rate:g} of Treatment's cart events became purchases"
    )
    recorded = (
        "recorded in the ingest manifests"
        if e.settings_source == "manifests"
        else ("from the current settings (no ingest manifests found)")
    )
    srm = p.srm
    srm_words = "MISMATCH" if srm.flagged else "no mismatch"
    return [
        f"## Decision: {d.words}",
        "",
        f"**{d.headline}**",
        "",
        f"- **Rule:** {d.rule}",
        f"- **Hypothesis:** {e.hypothesis}",
        f"- **Experiment:** {dates}; pre-period: {pre}.",
        f"- **Injected uplift:** {rate} ({recorded}).",
        f"- **Primary analysis:** {PRIMARY_LABEL.lower()}: {srm.observed[0]:,} Control vs "
        f"{srm.observed[1]:,} Treatment users (sample ratio p = {srm.p_value:.3f}, {srm_words}); "
        f"alpha {r.config.alpha}, two-sided.",
        "",
    ]


def _srm_section(r: Readout) -> list[str]:
    lines = [
        "## Sample ratio checks",
        "",
        "Checked first, per population: a mismatch means assignment or logging is broken.",
        "",
        "| population | control | treatment | chi² | p | result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for pop in (r.primary, r.all_users):
        s = pop.srm
        result = "MISMATCH: do not trust the results" if s.flagged else "no mismatch"
        if sum(s.observed) == 0:
            result = MESSAGES[s.message]
        lines.append(
            f"| {pop.description} | {s.observed[0]:,} | {s.observed[1]:,} | {s.statistic:.3f} | "
            f"{_p(s.p_value)} | {result} |"
        )
    return [*lines, "", f"Flagged below p = {r.primary.srm.alpha}.", ""]


def _conversion_lines(r: Readout, pop: Population) -> list[str]:
    c = pop.conversion
    level = _level(r)
    lines = [
        "| group | users | converters | conversion |",
        "|---|---:|---:|---:|",
        f"| control | {c.control.n:,} | {c.control.successes:,} | {_pct(c.control.mean)} |",
        f"| treatment | {c.treatment.n:,} | {c.treatment.successes:,} | {_pct(c.treatment.mean)} |",
        "",
    ]
    if c.message != "ok":
        return [*lines, f"No test: {MESSAGES[c.message]}.", ""]
    assert c.absolute is not None and c.pearson is not None and c.yates is not None
    rel = (
        f"{c.relative.estimate * 100:+.2f}%, {level}% CI {_ci(c.relative.ci, unit='%')} "
        "(delta method)"
        if c.relative is not None
        else f"n/a ({MESSAGES[c.relative_message]})"
    )
    return [
        *lines,
        f"- Absolute lift: {_pp(c.absolute.estimate)}, {level}% CI {_ci(c.absolute.ci)}; "
        f"two-sided z-test p {_p(c.p_value)}.",
        f"- Relative lift: {rel}.",
        f"- Cross-check, chi-square test of independence: chi² = {c.pearson.statistic:.3f}, "
        f"p {_p(c.pearson.p_value)}; with Yates' correction chi² = {c.yates.statistic:.3f}, "
        f"p {_p(c.yates.p_value)}.",
        "",
    ]


def _primary_section(r: Readout) -> list[str]:
    return [
        f"## Primary metric: {PRIMARY_LABEL.lower()}",
        "",
        f"Population: {r.primary.description}. Converted = at least one purchase in the "
        "experiment. The verdict uses the two-sided two-proportion z-test with the unpooled "
        "standard error: the test this interval inverts, so p < alpha exactly when the interval "
        "excludes 0.",
        "",
        *_conversion_lines(r, r.primary),
    ]


def _cuped_lines(name: str, cuped: CupedResult, covariate: str, unit: str) -> list[str]:
    if cuped.message not in ("ok", "no_covariate_variance", "no_pre_period"):
        return [f"- {name}: not available ({MESSAGES[cuped.message]})."]
    u, a = cuped.unadjusted.absolute, cuped.adjusted.absolute
    assert u is not None and a is not None
    scale, digits = (100, 2) if unit == "pp" else (1, 4)

    def eff(x) -> str:
        return (
            f"{x.estimate * scale:+.{digits}f} {unit} [{x.ci.lower * scale:+.{digits}f}, "
            f"{x.ci.upper * scale:+.{digits}f}]"
        )

    lines = [
        f"- {name} (covariate: {covariate}): unadjusted {eff(u)}; CUPED {eff(a)}; "
        f"theta {cuped.theta:.4f}, correlation "
        f"{'n/a' if cuped.correlation is None else f'{cuped.correlation:.3f}'}, variance "
        f"reduction {_pct(cuped.variance_reduction, 1)}."
    ]
    if cuped.message != "ok":
        lines.append(f"  Note: {MESSAGES[cuped.message]}.")
    return lines


def _cuped_section(r: Readout) -> list[str]:
    return [
        "## CUPED (pre-period adjustment)",
        "",
        "Each user's metric minus theta x their pre-period value (theta pooled over both groups, "
        "as GrowthBook's gbstats): the same effect with a narrower interval when the pre-period "
        "predicts the experiment (variance falls by about the squared correlation).",
        "",
        *_cuped_lines(PRIMARY_LABEL, r.cuped, "pre-period conversion", "pp"),
        *_cuped_lines("Revenue per user", r.revenue_cuped, "pre-period revenue", "per user"),
        "",
    ]


def _all_users_section(r: Readout) -> list[str]:
    return [
        "## Secondary: conversion of all users",
        "",
        f"Population: {r.all_users.description}. Users who never reach the cart cannot be "
        "affected by the checkout, so the effect is diluted here.",
        "",
        *_conversion_lines(r, r.all_users),
    ]


def _truth_lines(r: Readout, truth, conversion: ConversionResult, name: str) -> list[str]:
    if truth.message == "empty_group":
        return [f"| {name} | n/a | n/a | n/a | n/a |"]
    est, rel = conversion.absolute, conversion.relative

    def covered(flag: bool | None) -> str:
        return "n/a" if flag is None else ("yes" if flag else "**no**")

    return [
        f"| {name}, absolute | {_pp(truth.absolute)} | {_pp(est.estimate if est else None)} | "
        f"{_ci(est.ci if est else None)} | {covered(truth.absolute_covered)} |",
        f"| {name}, relative | {_signed_pct(truth.relative)} | "
        f"{_signed_pct(rel.estimate if rel else None)} | "
        f"{_ci(rel.ci if rel else None, unit='%')} | {covered(truth.relative_covered)} |",
    ]


def _truth_section(r: Readout) -> list[str]:
    t = r.truth
    lines = [
        "## Injected truth vs recovered estimate",
        "",
        "The uplift was injected at ingestion, so the data knows Treatment's conversion without "
        "it: the true effect in this sample.",
        "",
        "| population | true effect in sample | estimate | interval | covers truth |",
        "|---|---:|---:|---:|---:|",
        *_truth_lines(r, t, r.primary.conversion, "reached the cart"),
        *_truth_lines(r, r.truth_all_users, r.all_users.conversion, "all users"),
        "",
    ]
    if t.message != "empty_group":
        lines.append(
            f"Treatment's users who reached the cart convert at {_pct(t.treatment_rate)} with "
            f"the injected purchases and {_pct(t.treatment_rate_without_injection)} without."
        )
    if t.placebo.p_value is not None:
        lines.append(
            "Placebo check (Control vs Treatment without its injected purchases, which should "
            f"not differ): p {_p(t.placebo.p_value)}."
        )
    return [*lines, ""]


def _mean_row(name: str, m: MeanResult) -> str:
    if m.message != "ok" or m.absolute is None:
        return (
            f"| {name} | {_num(m.control_mean)} | {_num(m.treatment_mean)} | n/a | n/a | n/a | "
            f"{MESSAGES[m.message]} |"
        )
    rel = "n/a" if m.relative is None else f"{m.relative.estimate * 100:+.2f}%"
    return (
        f"| {name} | {_num(m.control_mean)} | {_num(m.treatment_mean)} | "
        f"{m.absolute.estimate:+.4f} [{m.absolute.ci.lower:+.4f}, {m.absolute.ci.upper:+.4f}] | "
        f"{rel} | {_p(m.p_value)} | |"
    )


def _guardrail_section(r: Readout) -> list[str]:
    lines = [
        "## Guardrails",
        "",
        "Each is a one-sided question on the relative lift (Welch's t-test, delta method). "
        f"Harm p-values are adjusted by {CORRECTION_NAME_GUARDRAILS} across the "
        f"{len(r.guardrails)} guardrails, so the chance that any of them wrongly blocks a good "
        f"change stays at most {r.config.alpha}. Revenue per user must also be shown "
        f"non-inferior: a fall of more than {r.config.revenue_margin:.0%} ruled out at one-sided "
        f"alpha {r.config.alpha}; the decision needs every non-inferiority test to pass (an "
        "intersection-union test), which needs no correction. The primary metric is a single "
        "pre-registered test and is not corrected either.",
        "",
        "| guardrail | good if | control | treatment | relative [CI] | harm p (adjusted) | "
        "non-inferiority p | status |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for g in r.guardrails:
        m = g.comparison
        rel = (
            "n/a"
            if m.relative is None
            else f"{m.relative.estimate * 100:+.2f}% {_ci(m.relative.ci, unit='%')}"
        )
        ni = "n/a" if g.margin is None else _p(g.p_noninferiority)
        status = g.status.replace("_", " ")
        if g.status == "not_tested":
            status += f" ({MESSAGES[g.message]})"
        lines.append(
            f"| {g.label} | {'higher' if g.good_direction == 'increase' else 'lower'} | "
            f"{_num(m.control_mean)} | {_num(m.treatment_mean)} | {rel} | "
            f"{_p(g.p_harm)} ({_p(g.p_harm_adjusted)}) | {ni} | {status} |"
        )
    return [
        *lines,
        "",
        "Remove-from-cart rate: removals per cart event of users who reached the cart (users as "
        "units, delta method). Sessions per user: sessions in the experiment, all users.",
        "",
    ]


CORRECTION_NAME_GUARDRAILS = "Holm (family-wise error rate)"


def _revenue_section(r: Readout) -> list[str]:
    lines = [
        "## Revenue (Welch's t-test, all users)",
        "",
        "| metric | control | treatment | difference [CI] | relative | p | note |",
        "|---|---:|---:|---:|---:|---:|---|",
        _mean_row("revenue per user", r.revenue),
    ]
    if r.revenue_winsorized is not None:
        assert r.config.winsorize_at is not None
        lines.append(
            _mean_row(
                f"revenue per user, winsorized at p{r.config.winsorize_at * 100:g} of users with "
                f"revenue (cap {_num(r.revenue_cap, 2)})",
                r.revenue_winsorized,
            )
        )
    lines += [
        _mean_row("revenue per order", r.revenue_per_order),
        _mean_row("revenue per purchased item", r.revenue_per_item),
        "",
        "An order is a session with at least one purchase; a purchased item is one purchase "
        "event (a line item; an order holds several). Both ratios use users as units "
        "(delta-method variance).",
        "",
    ]
    return lines


def _bayes_row(name: str, b: BayesianResult) -> str:
    if b.message != "ok":
        return f"| {name} | n/a | n/a | n/a | n/a | {MESSAGES[b.message]} |"
    return (
        f"| {name} | {_signed_pct(b.posterior_mean)} {_ci(b.credible_interval, unit='%')} | "
        f"{_pct(b.chance_to_win, 1)} | {_signed_pct(b.loss_if_shipped, 3)} | "
        f"{_signed_pct(b.loss_if_kept, 3)} | |"
    )


def _bayesian_section(r: Readout) -> list[str]:
    return [
        "## Bayesian view",
        "",
        "GrowthBook's Bayesian engine on the same counts: a Gaussian posterior of the relative "
        "lift with a flat prior. Expected loss is the relative lift given up, on average, if "
        "the choice is wrong.",
        "",
        "| metric | relative lift [credible interval] | chance to beat control | "
        "expected loss if shipped | expected loss if kept | note |",
        "|---|---:|---:|---:|---:|---|",
        _bayes_row(PRIMARY_LABEL.lower(), r.bayesian["conversion"]),
        _bayes_row("revenue per user", r.bayesian["revenue_per_user"]),
        "",
    ]


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
    lines += [
        "For the verdict's test (two-sided z-test, unpooled) on the primary population.",
        "",
        f"- Minimum detectable effect at {p.power:.0%} power, alpha {p.alpha}, on the observed "
        f"{p.n_control:,} + {p.n_treatment:,} users and {_pct(p.baseline)} baseline: {mde}.",
        f"- Users needed per group to detect a {p.target_relative_lift:+.1%} relative lift: "
        f"{need}.",
    ]
    if p.true_effect == 0:
        lines.append(
            "- No effect was injected (an A/A test): a significant result here would be a false "
            f"positive, which the test gives {p.alpha:.0%} of the time."
        )
    elif p.true_effect is not None and p.power_at_true_effect is not None:
        lines.append(
            f"- The injected effect in this sample is {_pp(p.true_effect)}: this sample had "
            f"{p.power_at_true_effect:.0%} power to detect an effect that size."
        )
    return [*lines, ""]


def _sequential_section(r: Readout) -> list[str]:
    s = r.sequential
    lines = [
        "## Peeking-safe weekly view",
        "",
        "Cumulative conversion lift of users who reached the cart, at the end of each week from "
        "the start day (a user counts from the week of their first cart), with an always-valid "
        f"confidence sequence (GrowthBook's asymptotic confidence sequence, a normal-mixture "
        f"mSPRT; tuning parameter N* = {s.tuning:,.0f}). Watch it as often as you like: "
        f"stopping when the sequence excludes zero keeps the false-positive rate at {s.alpha}. "
        "The fixed-horizon interval is shown for contrast; checking it weekly inflates false "
        "positives.",
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
    tested = sum(s.adjusted_p is not None for s in r.segments)
    lines = [
        "## Segments",
        "",
        "Conversion lift of users who reached the cart, by what is known when a user enters the "
        "experiment (segments defined by later behaviour could be changed by the treatment): "
        "the month of entry, and new vs returning (seen before the start day; everyone is new "
        f"without a pre-period). p-values adjusted across all {tested} segment tests with "
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


def _glossary() -> list[str]:
    lines = ["## Glossary", ""]
    lines += [f"- **{term}**: {text}" for term, text in GLOSSARY]
    return [*lines, ""]


def markdown(readout: Readout) -> str:
    r = readout
    lines = ["# Experiment readout: redesigned checkout", "", *decision_block(r)]
    for warning in r.warnings:
        lines += [f"> **Warning:** {warning}", ""]
    lines += ["# Evidence", ""]
    lines += _srm_section(r)
    lines += _primary_section(r)
    lines += _cuped_section(r)
    lines += _guardrail_section(r)
    lines += _all_users_section(r)
    lines += _truth_section(r)
    lines += _revenue_section(r)
    lines += _bayesian_section(r)
    lines += _power_section(r)
    lines += _sequential_section(r)
    lines += _segments_section(r)
    lines += _glossary()
    lines += [f"_Readout schema {r.schema_version}; alpha {r.config.alpha}._", ""]
    return "\n".join(lines)


def write_markdown(readout: Readout, path: Path) -> Path:
    path.write_text(markdown(readout))
    return path
