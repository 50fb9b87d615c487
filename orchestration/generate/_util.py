"""Small vectorised helpers shared by the generator stages: time, ids, strings, arrow conversion."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US = 1_000_000  # microseconds per second
HOUR = 3600 * US
DAY = 24 * HOUR


def to_us(iso: str) -> int:
    """ISO date/time string -> microseconds since the Unix epoch (naive = UTC)."""
    return int(np.datetime64(iso, "us").astype(np.int64))


START = to_us("2024-01-01")  # the demo world starts
END = to_us("2026-11-01")  # the fixed extract date
HORIZON = END - 6 * HOUR  # nothing happens after this (the extracts run in the last hours before END)
NEVER = np.iinfo(np.int64).max // 4  # "no such time" (move, churn, marriage ...)

# Relative weight of activity by calendar month (Jan..Dec): a quiet summer, a busy November/December.
MONTH_WEIGHT = np.array([0.85, 0.8, 0.9, 0.9, 0.95, 0.9, 0.85, 0.85, 0.95, 1.0, 1.25, 1.45])
# Relative weight of activity by hour of day (UTC-ish local time): evenings are busiest.
# fmt: off
HOUR_WEIGHT = np.array([0.3, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.6, 0.9, 1.0, 1.05, 1.1,
                        1.2, 1.15, 1.05, 1.0, 1.05, 1.15, 1.3, 1.45, 1.5, 1.3, 0.9, 0.55])
# fmt: on
HOUR_CDF = np.cumsum(HOUR_WEIGHT) / HOUR_WEIGHT.sum()


def stage_rng(seed: int, stage: int, chunk: int = 0) -> np.random.Generator:
    """An independent, reproducible generator per (seed, stage, chunk)."""
    return np.random.default_rng([int(seed), int(stage), int(chunk)])


def month_of(t: np.ndarray) -> np.ndarray:
    """Calendar month index 0..11 of microsecond timestamps."""
    return (t.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64) % 12).astype(np.int64)


def with_time_of_day(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Replace the time of day of `t` by one drawn from the hourly activity profile."""
    day = t - t % DAY
    hour = np.searchsorted(HOUR_CDF, rng.random(len(t)))
    return day + hour * HOUR + rng.integers(0, HOUR, len(t))


def poisson_times(
    rng: np.random.Generator,
    rate_per_day: np.ndarray,
    t_lo: np.ndarray,
    t_hi: np.ndarray,
    churn_t: np.ndarray | None = None,
    churn_tau_days: float = 25.0,
    seasonal: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Events of a thinned Poisson process per owner.

    Owner i gets Poisson(rate_i * days(t_lo_i..t_hi_i)) candidate times; a candidate after the owner's
    churn time survives with probability exp(-(t - churn)/tau) and, if `seasonal`, with the month weight.
    Returns (owner index, time) arrays, sorted by owner then time.
    """
    span = np.maximum(t_hi - t_lo, 0)
    lam = rate_per_day * span / DAY
    n = rng.poisson(lam)
    owner = np.repeat(np.arange(len(n)), n)
    t = t_lo[owner] + (rng.random(len(owner)) * span[owner]).astype(np.int64)
    t = np.clip(with_time_of_day(rng, t), t_lo[owner], t_hi[owner])
    keep_p = np.ones(len(t))
    if churn_t is not None:
        c = churn_t[owner]
        late = t > c
        keep_p[late] = np.exp(-(t[late] - c[late]) / (churn_tau_days * DAY))
    if seasonal:
        keep_p *= MONTH_WEIGHT[month_of(t)] / MONTH_WEIGHT.max()
    keep = rng.random(len(t)) < keep_p
    owner, t = owner[keep], t[keep]
    order = np.lexsort((t, owner))
    return owner[order], t[order]


# ---------------------------------------------------------------------------------------------- strings
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_UP = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
_UUID_POS = np.array(
    list(range(8)) + list(range(9, 13)) + list(range(14, 18)) + list(range(19, 23)) + list(range(24, 36))
)


def fixed_width_to_arrow(chars: np.ndarray) -> pa.Array:
    """(n, w) uint8 array of ASCII bytes -> arrow string array of n strings of width w."""
    n, w = chars.shape
    offsets = np.arange(n + 1, dtype=np.int32) * w
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars)))


def _hex_chars(rng: np.random.Generator, n: int, nbytes: int, upper: bool = False) -> np.ndarray:
    b = np.frombuffer(rng.bytes(n * nbytes), dtype=np.uint8).reshape(n, nbytes)
    table = _HEX_UP if upper else _HEX
    out = np.empty((n, nbytes * 2), dtype=np.uint8)
    out[:, 0::2] = table[b >> 4]
    out[:, 1::2] = table[b & 15]
    return out


def uuid_chars(rng: np.random.Generator, n: int, upper: bool = False) -> np.ndarray:
    """n random version-4 UUIDs (xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx) as an (n, 36) uint8 array."""
    h = _hex_chars(rng, n, 16, upper)
    h[:, 12] = ord("4")
    h[:, 16] = (_HEX_UP if upper else _HEX)[8 + (h[:, 16] % 4)]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, _UUID_POS] = h
    return out


def uuid_array(rng: np.random.Generator, n: int, upper: bool = False) -> pa.Array:
    """n random version-4 UUID strings."""
    return fixed_width_to_arrow(uuid_chars(rng, n, upper))


def hex_array(rng: np.random.Generator, n: int, nbytes: int, prefix: str = "") -> pa.Array:
    """n random hex strings of 2*nbytes characters, with an optional ASCII prefix."""
    h = _hex_chars(rng, n, nbytes)
    if prefix:
        p = np.frombuffer(prefix.encode(), dtype=np.uint8)
        h = np.concatenate([np.broadcast_to(p, (n, len(p))), h], axis=1)
    return fixed_width_to_arrow(h)


def padded_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """prefix + zero-padded decimal numbers, e.g. ("003", 42, 12) -> "003000000000042"."""
    s = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), s, "") if prefix else s


def affine_permutation(k: np.ndarray, modulus: int, rng: np.random.Generator) -> np.ndarray:
    """A random-looking but collision-free map of 0..modulus-1 onto itself (for opaque ids)."""
    if modulus >= 2**40:  # pragma: no cover - programming error
        raise ValueError("modulus too large")
    while True:
        a = int(rng.integers(modulus // 3, modulus - 1))
        if np.gcd(a, modulus) == 1:
            break
    b = int(rng.integers(0, modulus))
    if modulus < 2**31:
        return (k.astype(np.int64) * a + b) % modulus
    a_hi, a_lo = divmod(a, 2**20)
    kk = k.astype(np.int64) % modulus
    # (kk * a) mod m with a split multiplier so that nothing overflows int64 (valid for m < 2**40).
    part = (kk * a_hi) % modulus
    part = (part * 2**20) % modulus
    return (part + kk * a_lo + b) % modulus


def ts_strings(t: np.ndarray, style: str) -> np.ndarray:
    """Microsecond timestamps -> export strings (object array).

    style 'iso_z': 2025-03-04T10:11:12.000Z (CRM), 'space': 2025-03-04 10:11:12 (POS),
    'iso': 2025-03-04T10:11:12Z (support).
    """
    s = np.datetime_as_string(t.astype("datetime64[us]").astype("datetime64[s]"), unit="s")
    arr = pa.array(s, pa.string())
    if style == "iso_z":
        arr = pc.binary_join_element_wise(arr, pa.scalar(".000Z"), "")
    elif style == "iso":
        arr = pc.binary_join_element_wise(arr, pa.scalar("Z"), "")
    elif style == "space":
        arr = pc.utf8_replace_slice(arr, start=10, stop=11, replacement=" ")
    else:  # pragma: no cover - programming error
        raise ValueError(style)
    return np.array(arr.to_pylist(), dtype=object)


def pick(
    rng: np.random.Generator, values: Sequence[Any], n: int, p: Sequence[float] | None = None
) -> np.ndarray:
    """n choices from a fixed list, as an object array."""
    pool = np.empty(len(values), dtype=object)
    pool[:] = list(values)
    if p is None:
        return pool[rng.integers(0, len(values), n)]
    w = np.asarray(p, dtype=float)
    return pool[rng.choice(len(values), size=n, p=w / w.sum())]


# A read-only 0-d object array holding None. numpy does exactly this conversion to a bare `None` argument,
# but its type stubs do not count `None` as array-like, so spell it out where an array is expected.
_NONE = np.array(None, dtype=object)
_NONE.setflags(write=False)


def where_or_none(cond: np.ndarray, values: Any) -> np.ndarray:
    """`values` where `cond`, else None: `np.where(cond, values, None)` (an object array)."""
    return np.where(cond, values, _NONE)


def obj(values: Sequence[Any]) -> np.ndarray:
    """A 1-D object array from a list (numpy would otherwise try to build a 2-D or unicode array)."""
    a = np.empty(len(values), dtype=object)
    a[:] = list(values)
    return a


def apply_some(
    arr: np.ndarray, mask: np.ndarray, fn: Callable[[Any, int], Any], rng: np.random.Generator
) -> int:
    """In place: arr[i] = fn(arr[i], r_i) for the masked rows (r_i a random int); returns the count."""
    idx = np.flatnonzero(mask)
    if len(idx):
        r = rng.integers(0, 2**31 - 1, len(idx))
        arr[idx] = obj([fn(v, int(ri)) for v, ri in zip(arr[idx], r, strict=True)])
    return len(idx)


def segment_first(keys: np.ndarray) -> np.ndarray:
    """Boolean mask: first row of each run of equal keys (keys must be grouped)."""
    m = np.ones(len(keys), dtype=bool)
    if len(keys) > 1:
        m[1:] = keys[1:] != keys[:-1]
    return m


def group_rank(keys: np.ndarray) -> np.ndarray:
    """0,1,2,... position of each row within its run of equal (grouped) keys."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    first = segment_first(keys)
    start_idx = np.flatnonzero(first)
    run_start = np.repeat(start_idx, np.diff(np.append(start_idx, n)))
    return np.arange(n) - run_start


def map_unique(fn: Callable[[Any], Any], values: np.ndarray) -> np.ndarray:
    """fn applied element-wise, but computed once per distinct (non-null string) value."""
    enc = pa.array(values, pa.string()).dictionary_encode()
    mapped = obj([fn(u) for u in enc.dictionary.to_pylist()])
    return mapped[enc.indices.to_numpy(zero_copy_only=False)]


def const_str(value: str, n: int) -> pa.Array:
    """An arrow string array repeating one value n times (without building n Python objects)."""
    b = np.frombuffer(value.encode(), dtype=np.uint8)
    if len(b) == 0:
        return pa.array(np.full(n, "", dtype=object), pa.string())
    return fixed_width_to_arrow(np.broadcast_to(b, (n, len(b))).copy())


class PoolCol:
    """A string column given as indices into a small pool (-1 = null); materialised only when written."""

    def __init__(self, pool: pa.Array | np.ndarray | Sequence[str], idx: np.ndarray) -> None:
        self.pool = pool if isinstance(pool, pa.Array) else pa.array(obj(list(pool)), pa.string())
        self.idx = np.asarray(idx, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, rows: np.ndarray) -> PoolCol:
        return PoolCol(self.pool, self.idx[rows])

    def to_arrow(self) -> pa.Array:
        return self.pool.take(pa.array(np.maximum(self.idx, 0), pa.int64(), mask=self.idx < 0))


def zfill_ints(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers -> zero-padded decimal strings (object array); safe for empty input."""
    if len(values) == 0:
        return np.empty(0, dtype=object)
    return np.char.zfill(np.asarray(values).astype(str), width).astype(object)


def is_set(values: np.ndarray) -> np.ndarray:
    """Element-wise `is not None` for object arrays."""
    return np.not_equal(values, _NONE).astype(bool)
