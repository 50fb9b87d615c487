"""`tessera bench lift`: does audience_lift recover a planted treatment effect, and how often does it
call a null effect significant? Each seed: a small world, a build (the send), the planted response
(orchestration/generate/campaign.py), a rebuild measured as of the end of the outcome window.

The worlds are built with the bench's audiences (`bench_environment`): a copy of the project's
audiences folder with the files of bench_audiences/ laid over it. There the null audience,
emailable_big_spenders, is broad and half held out (bench_audiences/emailable_big_spenders.yml says
why), so its false-positive rate is measured on arms of about 90 members at 500 persons, not on the shipped
audience's 0-3 held-out members, which the minimum arm size always calls "not significant". The
effect audience, lapsed_high_value, is the shipped one (10% held out)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from orchestration.audiences.definitions import AUDIENCES_DIR_ENV, audiences_dir
from orchestration.audiences.report import Lift, lift
from orchestration.build.pipeline import build, environment
from orchestration.generate import generate
from orchestration.generate.campaign import (
    EFFECT_AUDIENCE,
    NULL_AUDIENCE,
    CampaignTruth,
    plant_campaign_response,
)
from orchestration.identity.bench import bench_settings
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse.files import written_aside

# The lift_outcomes entry the planted response is measured on (audiences/_audiences.yml).
OUTCOME_NAME = "ordered_within_14_days"
# Audience files that replace the project's in the bench's worlds (the module docstring says why).
BENCH_AUDIENCES = Path(__file__).with_name("bench_audiences")
# dbt's own switch for `--exclude-resource-type`: the bench's builds run no unit tests. They check
# the models' SQL on fixed rows, the same on every world, and take about a quarter of a small world's
# dbt time; the data tests, which judge the world and gate publishing, all run.
SKIPPED_RESOURCE_TYPES = ("DBT_EXCLUDE_RESOURCE_TYPES", "unit_test")


def write_bench_audiences(folder: Path) -> Path:
    """The bench's audiences folder in `folder`: the project's audiences (audiences/, or
    $TESSERA_AUDIENCES_DIR), with each file of bench_audiences/ in place of the one of its name."""
    shutil.copytree(audiences_dir(PROJECT_DIR), folder, dirs_exist_ok=True)
    for path in sorted(BENCH_AUDIENCES.glob("*.yml")):
        shutil.copyfile(path, folder / path.name)
    return folder


@contextlib.contextmanager
def bench_environment(workdir: Path) -> Iterator[Path]:
    """While open, every build reads the bench's audiences (written to `workdir`/audiences) and runs
    no dbt unit tests; the environment is restored after. Journeys go with the project's audiences,
    so the bench's builds have none (orchestration/audiences/definitions.py), which the lift does not
    read. Yields the audiences folder."""
    folder = write_bench_audiences(workdir / "audiences")
    wanted = {AUDIENCES_DIR_ENV: str(folder), SKIPPED_RESOURCE_TYPES[0]: SKIPPED_RESOURCE_TYPES[1]}
    with environment(wanted):
        yield folder


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
    out: Path | None = None,
    **plant: Any,
) -> dict[str, Any]:
    """`seeds` worlds (seeds first_seed, first_seed + 1, …), built with the bench's audiences: the
    effect audience's estimate, interval and coverage of the truth, and the null audience's rate of
    "significant" lift. With `out`, the figures so far are written there after every seed."""
    started = time.monotonic()
    results: list[SeedResult] = []
    with bench_environment(workdir) as folder:
        null_definition = _definition(folder, plant.get("null_audience", NULL_AUDIENCE))
        effect_definition = _definition(folder, plant.get("effect_audience", EFFECT_AUDIENCE))
        for k in range(seeds):
            seed_folder = workdir / f"seed_{first_seed + k}"
            try:
                result = run_lift_seed(customers, first_seed + k, seed_folder, **plant)
            finally:
                shutil.rmtree(seed_folder, ignore_errors=True)
            results.append(result)
            if progress is not None:
                progress(k, result)
            if out is not None:
                figures = summarize(results, customers, seeds, started, effect_definition, null_definition)
                with written_aside(out) as aside:
                    aside.write_text(json.dumps(figures, indent=2) + "\n")
    return summarize(results, customers, seeds, started, effect_definition, null_definition)


def _definition(folder: Path, audience: str) -> dict[str, Any]:
    """What the bench's worlds used for `audience`: its holdout, its description, and whether the
    bench replaced the project's file."""
    path = folder / f"{audience}.yml"
    entry = yaml.safe_load(path.read_text()) if path.exists() else {}
    return {
        "holdout_percent": entry.get("holdout_percent"),
        "description": entry.get("description"),
        "bench_variant": (BENCH_AUDIENCES / f"{audience}.yml").exists(),
    }


def _arm_sizes(lifts: list[Lift]) -> dict[str, Any]:
    treatment = sorted(item.treatment_count for item in lifts)
    control = sorted(item.control_count for item in lifts)
    return {
        "treatment": {"min": treatment[0], "median": treatment[len(treatment) // 2], "max": treatment[-1]},
        "control": {"min": control[0], "median": control[len(control) // 2], "max": control[-1]},
    }


def summarize(
    results: list[SeedResult],
    customers: int,
    seeds: int,
    started: float,
    effect_definition: dict[str, Any] | None = None,
    null_definition: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The bench's figures over `results` (of `seeds` planned)."""
    done = len(results)
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
        "seeds_done": done,
        "first_seed": first.seed,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.monotonic() - started, 1),
        "seconds_per_seed": round((time.monotonic() - started) / done, 1),
        "outcome": OUTCOME_NAME,
        "baseline": first.truth.baseline,
        "effect_audience": {
            "name": first.truth.effect_audience,
            **(effect_definition or {}),
            "true_uplift": first.truth.effect,
            "interval_covers_truth": f"{covered}/{done}",
            "coverage": _share(covered, done),
            "significant": f"{effect_significant}/{done}",
            "arm_sizes": _arm_sizes([r.effect for r in results]),
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
            **(null_definition or {}),
            "true_uplift": first.truth.null_effect,
            "significant": f"{null_significant}/{done}",
            "false_positive_rate": _share(null_significant, done),
            "interval_excludes_zero": f"{null_excludes_zero}/{done}",
            "arm_sizes": _arm_sizes([r.null for r in results]),
            "per_seed": [
                {
                    "seed": r.seed,
                    "treatment": r.null.treatment_count,
                    "control": r.null.control_count,
                    "uplift": _round(r.null.uplift),
                    "ci": [_round(r.null.uplift_ci_low), _round(r.null.uplift_ci_high)],
                    "excludes_zero": _excludes_zero(r.null),
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
