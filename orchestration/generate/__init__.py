"""Deterministic, vectorised demo-data generator with planted truth.

``generate(customers, seed, out)`` writes every raw table of docs/raw_schema.md to
``out/raw/<source>/<table>.parquet`` and the planted person mapping to ``out/truth/truth.parquet``.
See docs/demo_data.md for the world model, the noise rates and timings.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ._util import stage_rng
from .consent import write_consent
from .esp import EspGenerator, Unsubscribes
from .events import EventGenerator, build_kiosks
from .people import build_people
from .reference import write_reference
from .schema import PERSON_TABLES, RAW_TABLES, SCHEMAS
from .sink import Sink
from .sources import LOADED, write_crm, write_pos, write_shop, write_support
from .trade_fair import write_trade_fair
from .world import COUNTRIES, REGIONS, build_campaigns, build_catalogue, build_pools, build_stores

__all__ = ["generate", "SCHEMAS", "PERSON_TABLES", "RAW_TABLES"]

CHUNK_PERSONS = 100_000  # events and ESP are generated (and written) per chunk of persons


def generate(customers: int, seed: int, out: Path | str) -> dict[str, Any]:
    """Generate the demo world for `customers` persons with `seed` into directory `out`.

    Returns {"tables": {"crm.contacts": rows, ...}, "persons": N, "seconds": float}.
    """
    if customers < 0:
        raise ValueError("customers must be >= 0")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    began = time.perf_counter()
    out = Path(out)
    n = int(customers)
    pools = build_pools(seed)
    stores = build_stores(stage_rng(seed, 1))
    cat = build_catalogue(stage_rng(seed, 2))
    campaigns = build_campaigns()
    P = build_people(stage_rng(seed, 3), n, pools)

    sink = Sink(out)
    try:
        sink.write(
            "pos.stores",
            {
                "store_id": np.array([s.store_id for s in stores], dtype=object),
                "store_name": np.array([s.name for s in stores], dtype=object),
                "city": np.array([s.city for s in stores], dtype=object),
                "region": np.array([REGIONS[s.region].name for s in stores], dtype=object),
                "country": np.array(
                    [COUNTRIES[REGIONS[s.region].country].code for s in stores], dtype=object
                ),
                "latitude": np.array([s.lat for s in stores]),
                "longitude": np.array([s.lon for s in stores]),
                "_loaded_at": LOADED["pos"],
            },
        )
        rainy, closed = write_reference(stage_rng(seed, 5), sink)
        crm_id, crm_created = write_crm(stage_rng(seed, 10), P, pools, sink)
        shop = write_shop(stage_rng(seed, 20), P, cat, stores, sink)
        write_pos(stage_rng(seed, 40), P, stores, rainy, closed, sink)
        write_support(stage_rng(seed, 50), P, sink)
        events = EventGenerator(P, shop, cat, stores, build_kiosks(stage_rng(seed, 60), P, stores))
        esp = EspGenerator(P, campaigns)
        unsubs: list[Unsubscribes] = []
        for k, a in enumerate(range(0, n, CHUNK_PERSONS)):
            b = min(a + CHUNK_PERSONS, n)
            events.chunk(stage_rng(seed, 61, k), a, b, sink)
            unsubs.append(esp.chunk(stage_rng(seed, 70, k), a, b, sink))
        write_consent(stage_rng(seed, 80), P, shop, crm_id, crm_created, unsubs, sink)
        # A person source declared in YAML (out/person_sources.yml), not a raw Parquet table.
        write_trade_fair(stage_rng(seed, 90), P, out, sink)
    finally:
        sink.close()
    return {
        "tables": {name: sink.counts.get(name, 0) for name in RAW_TABLES},
        "persons": n,
        "seconds": round(time.perf_counter() - began, 3),
    }
