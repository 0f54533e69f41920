"""The standing A/A experiment's false-positive rate, by simulation: the same users, the same
outcomes, re-assigned by 2,000 different salts through the production assignment rule
(md5(salt + user id) parity, pipeline.experiment.group_expr), each read out by the production
test and decision rule. With no effect, the primary test fires at its nominal 5%, the sample
ratio check at its 0.1%, and the A/A decision says "investigate" no more often than that."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipeline.abtest.decision import decide
from pipeline.experiment import TREATMENT, group_expr
from pipeline.stats.frequentist import compare_conversion
from pipeline.stats.power import power_analysis
from pipeline.stats.srm import srm_test
from pipeline.stats.sufficient import Proportion

SALTS = 2_000  # false-positive rate's simulation error: sqrt(0.05 * 0.95 / 2000) = 0.0049
USERS = 1_000


def test_salted_assignment_gives_the_nominal_false_positive_rate(capsys) -> None:
    rng = np.random.default_rng(20240626)
    users = pl.DataFrame(
        {
            "user_id": np.unique(rng.integers(10**8, 10**9, 2 * USERS))[:USERS],
            # Outcomes that vary by user, as real ones do: a propensity, then a draw.
            "converted": rng.random(USERS) < rng.beta(2, 5, USERS),
        }
    )
    converted = users["converted"].to_numpy()
    salts = pl.DataFrame({"salt": [f"aa-{i}:" for i in range(SALTS)]})
    assigned = salts.join(users.select("user_id"), how="cross").select(
        group_expr(pl.col("user_id"), pl.col("salt")) == TREATMENT
    )
    treated = assigned.to_series().to_numpy().reshape(SALTS, USERS)  # salt-major, users in order
    n_t = treated.sum(1)
    y_t = (treated & converted).sum(1)
    n_c, y_c = USERS - n_t, converted.sum() - y_t
    primary = [
        compare_conversion(Proportion(int(a), int(b)), Proportion(int(c), int(d)))
        for a, b, c, d in zip(n_c, y_c, n_t, y_t, strict=True)
    ]
    srm = [srm_test([int(a), int(b)]) for a, b in zip(n_c, n_t, strict=True)]
    power = power_analysis(float(converted.mean()), USERS // 2, USERS // 2)
    outcomes = [
        decide(p, [("all users", s)], [], power, is_aa=True).outcome
        for p, s in zip(primary, srm, strict=True)
    ]
    false_positive = np.mean([p.significant for p in primary])
    srm_alarm = np.mean([s.flagged for s in srm])
    investigate = np.mean([o == "investigate" for o in outcomes])
    do_not_ship = np.mean([o == "do_not_ship" for o in outcomes])
    with capsys.disabled():
        print(
            f"\n[simulation] A/A over {SALTS} salts of {USERS:,} users: primary test "
            f"significant {false_positive:.4f} (alpha 0.05), sample ratio flagged "
            f"{srm_alarm:.4f} (alpha 0.001), decision investigate {investigate:.4f}, "
            f"do not ship (SRM) {do_not_ship:.4f}, ship {outcomes.count('ship')}"
        )
    assert abs(false_positive - 0.05) <= 0.0155  # 3.2 simulation standard errors
    assert srm_alarm <= 0.004
    assert investigate == pytest.approx(
        np.mean([p.significant and not s.flagged for p, s in zip(primary, srm, strict=True)])
    )
    assert "ship" not in outcomes  # an A/A never ships
    # The salts give different splits: assignment is not the same coin each time.
    assert len({tuple(row) for row in treated[:50]}) == 50
