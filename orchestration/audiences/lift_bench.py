"""`tessera bench lift`: does audience_lift recover a planted treatment effect, and how often does it
call a null effect significant? Each seed: a small world, a build (the send), the planted response
(orchestration/generate/campaign.py), a rebuild measured as of the end of the outcome window."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.audiences.report import Lift, lift
from orchestration.build.pipeline import build
from orchestration.generate import generate
from orchestration.generate.campaign import CampaignTruth, plant_campaign_response
from orchestration.identity.bench import bench_settings
from orchestration.settings import Settings

# The lift_outcomes entry the planted response is measured on (audiences/_audiences.yml).
OUTCOME_NAME = "ordered_within_14_days"


@dataclass
class SeedResult:
    """One seed: the effect audience's and the null audience's measured lift, and the truth."""

    seed: int
    truth: CampaignTruth
    effect: Lift
    null: Lift

    @property
    def true_uplift(self) -> float:
        return self.truth.effect

    @property
    def covered(self) -> bool:
        low, high = self.effect.uplift_ci_low, self.effect.uplift_ci_high
        return low is not None and high is not None and low <= self.true_uplift <= high


def lift_as_of(truth: CampaignTruth) -> str:
    """The simulated clock of the rebuild: the outcome window of the send has just ended (one second
    after it, so members who entered at the rebuild itself are not matured yet)."""
    if truth.sent_at is None:
        raise ValueError("the campaign truth has no send time")
    sent = dt.datetime.fromisoformat(truth.sent_at)
    return (sent + dt.timedelta(days=truth.within_days, seconds=1)).isoformat(sep=" ")


def measured(settings: Settings, audience: str, outcome: str = OUTCOME_NAME) -> Lift:
    found = [
        item for item in lift(settings) if item.audience_name == audience and item.outcome_name == outcome
    ]
    if not found:
        raise LookupError(f"audience_lift has no row for {audience} / {outcome}")
    return found[0]


def respond_and_measure(settings: Settings, seed: int, **plant: Any) -> SeedResult:
    """On a published build (the send): plant the response, rebuild as of the window's end, read the
    lift of both audiences."""
    truth = plant_campaign_response(settings, seed=seed, **plant)
    build(settings, reason="tessera bench lift", dbt_vars={"audience_lift_as_of": lift_as_of(truth)})
    return SeedResult(
        seed,
        truth,
        measured(settings, truth.effect_audience),
        measured(settings, truth.null_audience),
    )


def run_lift_seed(customers: int, seed: int, workdir: Path, **plant: Any) -> SeedResult:
    """A world of `customers` for `seed`, built (the send), then respond_and_measure."""
    settings = bench_settings(workdir)
    generate(customers=customers, seed=seed, out=settings.data_dir)
    build(settings, reason="tessera bench lift")
    return respond_and_measure(settings, seed, **plant)


def _share(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def run_lift_benchmark(
    customers: int,
    seeds: int,
    first_seed: int,
    workdir: Path,
    progress: Callable[[int, SeedResult], None] | None = None,
    **plant: Any,
) -> dict[str, Any]:
    """`seeds` worlds (seeds first_seed, first_seed + 1, …): the effect audience's estimate, interval
    and coverage of the truth, and the null audience's rate of "significant" lift."""
    started = time.monotonic()
    results: list[SeedResult] = []
    for k in range(seeds):
        folder = workdir / f"seed_{first_seed + k}"
        try:
            result = run_lift_seed(customers, first_seed + k, folder, **plant)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        results.append(result)
        if progress is not None:
            progress(k, result)
    first = results[0]
    effect_significant = sum(r.effect.is_significant for r in results)
    null_significant = sum(r.null.is_significant for r in results)
    # The rule before the minimum arm size: the interval alone excludes 0.
    null_excludes_zero = sum(_excludes_zero(r.null) for r in results)
    covered = sum(r.covered for r in results)
    return {
        "benchmark": "lift",
        "customers": customers,
        "seeds": seeds,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.monotonic() - started, 1),
        "outcome": OUTCOME_NAME,
        "baseline": first.truth.baseline,
        "effect_audience": {
            "name": first.truth.effect_audience,
            "true_uplift": first.truth.effect,
            "interval_covers_truth": f"{covered}/{seeds}",
            "coverage": _share(covered, seeds),
            "significant": f"{effect_significant}/{seeds}",
            "per_seed": [
                {
                    "seed": r.seed,
                    "treatment": r.effect.treatment_count,
                    "control": r.effect.control_count,
                    "uplift": _round(r.effect.uplift),
                    "ci": [_round(r.effect.uplift_ci_low), _round(r.effect.uplift_ci_high)],
                    "covered": r.covered,
                    "significant": r.effect.is_significant,
                }
                for r in results
            ],
        },
        "null_audience": {
            "name": first.truth.null_audience,
            "true_uplift": first.truth.null_effect,
            "significant": f"{null_significant}/{seeds}",
            "false_positive_rate": _share(null_significant, seeds),
            "interval_excludes_zero": f"{null_excludes_zero}/{seeds}",
            "per_seed": [
                {
                    "seed": r.seed,
                    "treatment": r.null.treatment_count,
                    "control": r.null.control_count,
                    "uplift": _round(r.null.uplift),
                    "ci": [_round(r.null.uplift_ci_low), _round(r.null.uplift_ci_high)],
                    "significant": r.null.is_significant,
                }
                for r in results
            ],
        },
    }


def _excludes_zero(item: Lift) -> bool:
    low, high = item.uplift_ci_low, item.uplift_ci_high
    return low is not None and high is not None and (low > 0 or high < 0)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
