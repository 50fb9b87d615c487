"""Read the published audience tables: sizes, overlaps, size history, and why a customer is in or out."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from orchestration.identity.profile import CustomerNotFound, normalise_identifier, sql_literal
from orchestration.settings import Settings
from orchestration.warehouse.registry import get_warehouse


@dataclass
class AudienceSize:
    audience_name: str
    member_count: int
    holdout_count: int
    global_holdout_count: int
    activatable_count: int
    entered_count: int
    exited_count: int
    built_at: Any


@dataclass
class AudienceOverview:
    sizes: list[AudienceSize]
    overlaps: dict[tuple[str, str], tuple[int, float]]
    priority_lists: list[tuple[str, str, int, int]] = field(default_factory=list)


@dataclass
class Explanation:
    audience_name: str
    customer_id: str
    identifier: str
    is_member: bool
    conditions: list[tuple[str, bool]]
    is_holdout: bool | None
    is_global_holdout: bool | None
    priority_assignments: list[tuple[str, str]]
    history: list[tuple[str, Any]]


def overview(settings: Settings) -> AudienceOverview:
    """Sizes of the latest build, the overlap matrix, and the priority lists' assignment counts."""
    query = get_warehouse(settings).query_published
    rows = query(
        "select audience_name, member_count, holdout_count, global_holdout_count, activatable_count, "
        "entered_count, exited_count, built_at from audience_size_history "
        "where built_at = (select max(built_at) from audience_size_history) order by audience_name"
    )
    sizes = [AudienceSize(*row) for row in rows]
    overlaps = {
        (a, b): (int(count), float(share))
        for a, b, count, share in query(
            "select audience_a, audience_b, overlap_count, share_of_a from audience_overlaps"
        )
    }
    lists = query(
        "select priority_list_name, audience_name, min(priority_rank), count(*) "
        "from audience_priority_list_members group by 1, 2 order by 1, 3"
    )
    return AudienceOverview(sizes, overlaps, [(a, b, int(c), int(d)) for a, b, c, d in lists])


def size_history(settings: Settings) -> list[tuple[str, Any, int]]:
    return [
        (name, built_at, int(count))
        for name, built_at, count in get_warehouse(settings).query_published(
            "select audience_name, built_at, member_count from audience_size_history order by built_at, audience_name"
        )
    ]


def resolve_customer(settings: Settings, identifier: str) -> str:
    """A customer_id from `cus_…` itself or TYPE:VALUE (email:…, phone:…, …)."""
    query = get_warehouse(settings).query_published
    if identifier.startswith("customer_id:"):
        identifier = identifier.split(":", 1)[1]
    if ":" not in identifier:
        found = query(f"select customer_id from customers where customer_id = {sql_literal(identifier)}")
        if not found:
            raise CustomerNotFound(f"no customer {identifier!r}")
        return str(found[0][0])
    kind, value = normalise_identifier(identifier)
    found = query(
        "select customer_id from customer_identifiers "
        f"where identifier_type = {sql_literal(kind)} and identifier_value = {sql_literal(value)}"
    )
    if not found:
        raise CustomerNotFound(f"no customer holds {kind}:{value}")
    return str(found[0][0])


def explain(settings: Settings, audience: str, identifier: str) -> Explanation:
    """Why the customer is in (or not in) the audience: each condition's boolean, holdouts, history."""
    query = get_warehouse(settings).query_published
    known = {name for (name,) in query("select distinct audience_a from audience_overlaps")}
    if audience not in known:
        raise KeyError(f"no audience {audience!r}; known: {', '.join(sorted(known))}")
    customer_id = resolve_customer(settings, identifier)
    cid, aud = sql_literal(customer_id), sql_literal(audience)
    rows = query(
        "select condition_name, condition_value, is_member from audience_explanations "
        f"where audience_name = {aud} and customer_id = {cid} order by condition_position"
    )
    if not rows:
        raise CustomerNotFound(
            f"customer {customer_id} has no row in audience_{audience} (not in customer_traits)"
        )
    membership = query(
        "select is_holdout, is_global_holdout from audience_memberships "
        f"where audience_name = {aud} and customer_id = {cid}"
    )
    assignments = query(
        "select priority_list_name, audience_name from audience_priority_list_members "
        f"where customer_id = {cid} order by 1"
    )
    history = query(
        "select change_kind, changed_at from audience_membership_history "
        f"where audience_name = {aud} and customer_id = {cid} order by changed_at"
    )
    return Explanation(
        audience_name=audience,
        customer_id=customer_id,
        identifier=identifier,
        is_member=bool(rows[0][2]),
        conditions=[(name, bool(value)) for name, value, _ in rows],
        is_holdout=bool(membership[0][0]) if membership else None,
        is_global_holdout=bool(membership[0][1]) if membership else None,
        priority_assignments=[(a, b) for a, b in assignments],
        history=[(kind, at) for kind, at in history],
    )


_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


@dataclass
class Lift:
    """One audience's lift on one outcome (a row of audience_lift)."""

    audience_name: str
    outcome_name: str
    outcome_kind: str
    within_days: int
    treatment_count: int
    control_count: int
    treatment_mean: float | None
    control_mean: float | None
    uplift: float | None
    relative_uplift: float | None
    uplift_ci_low: float | None
    uplift_ci_high: float | None
    is_significant: bool

    @property
    def measured(self) -> bool:
        """Both arms have members whose window has ended (else there is nothing to compare yet)."""
        return self.treatment_count > 0 and self.control_count > 0


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def lift(settings: Settings) -> list[Lift]:
    """Every audience's lift per outcome, from the published audience_lift."""
    rows = get_warehouse(settings).query_published(
        "select audience_name, outcome_name, outcome_kind, within_days, treatment_count, control_count, "
        "treatment_mean, control_mean, uplift, relative_uplift, uplift_ci_low, uplift_ci_high, is_significant "
        "from audience_lift order by audience_name, outcome_name"
    )
    return [
        Lift(
            audience_name=str(row[0]),
            outcome_name=str(row[1]),
            outcome_kind=str(row[2]),
            within_days=int(row[3]),
            treatment_count=int(row[4]),
            control_count=int(row[5]),
            treatment_mean=_number(row[6]),
            control_mean=_number(row[7]),
            uplift=_number(row[8]),
            relative_uplift=_number(row[9]),
            uplift_ci_low=_number(row[10]),
            uplift_ci_high=_number(row[11]),
            is_significant=bool(row[12]),
        )
        for row in rows
    ]


def format_value(kind: str, value: float | None) -> str:
    """A mean or an uplift as a person reads it: a rate in percent, revenue in money units."""
    if value is None:
        return "–"
    return f"{value:,.2f}" if kind == "revenue" else f"{100 * value:.1f}%"


def _lift_chart(lifts: list[Lift], width: int = 760, row: int = 34) -> str:
    """Each measured uplift with its 95% interval, as an inline SVG forest plot (rates and revenue
    each on a scale of their own, centred on 0)."""
    measured = [item for item in lifts if item.measured and item.uplift is not None]
    if not measured:
        return "<p>No audience has a treatment and a control group whose window has ended yet.</p>"
    left, right = 360, 40
    plot_w = width - left - right
    spans: dict[bool, float] = {}
    for item in measured:
        bounds = (item.uplift, item.uplift_ci_low, item.uplift_ci_high)
        widest = max(abs(v) for v in bounds if v is not None)
        key = item.outcome_kind == "revenue"
        spans[key] = max(spans.get(key, 0.0), widest)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(measured) + 30}" role="img">'
    ]
    for i, item in enumerate(measured):
        span = spans[item.outcome_kind == "revenue"] or 1.0
        uplift = float(item.uplift or 0.0)
        low = item.uplift_ci_low if item.uplift_ci_low is not None else uplift
        high = item.uplift_ci_high if item.uplift_ci_high is not None else uplift

        def x(value: float, span: float = span) -> float:
            return left + plot_w * (0.5 + value / (2 * span))

        y = 20 + row * i
        colour = "#555"
        if item.is_significant:
            colour = "#1b7f3b" if uplift > 0 else "#b22222"
        label = html.escape(f"{item.audience_name} · {item.outcome_name}")
        tip = html.escape(
            f"uplift {format_value(item.outcome_kind, uplift)} [{format_value(item.outcome_kind, low)}, "
            f"{format_value(item.outcome_kind, high)}], n={item.treatment_count:,}/{item.control_count:,}"
        )
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" font-size="11">{label}</text>')
        parts.append(f'<line x1="{x(0):.1f}" y1="{y - 12}" x2="{x(0):.1f}" y2="{y + 12}" stroke="#bbb"/>')
        parts.append(
            f'<line x1="{x(low):.1f}" y1="{y}" x2="{x(high):.1f}" y2="{y}" stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(
            f'<circle cx="{x(uplift):.1f}" cy="{y}" r="4" fill="{colour}"><title>{tip}</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _size_chart(history: list[tuple[str, Any, int]], width: int = 760, height: int = 300) -> str:
    """Members per audience per build, as an inline SVG line chart (no scripts, no network)."""
    if not history:
        return "<p>No builds yet.</p>"
    builds = sorted({built_at for _, built_at, _ in history})
    names = sorted({name for name, _, _ in history})
    top = max(count for _, _, count in history) or 1
    left, right, upper, lower = 60, 200, 20, 40
    plot_w, plot_h = width - left - right, height - upper - lower

    def x(i: int) -> float:
        return left + (plot_w * i / (len(builds) - 1) if len(builds) > 1 else plot_w / 2)

    def y(v: int) -> float:
        return upper + plot_h * (1 - v / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    parts.append(
        f'<line x1="{left}" y1="{upper + plot_h}" x2="{left + plot_w}" y2="{upper + plot_h}" stroke="#444"/>'
    )
    parts.append(f'<line x1="{left}" y1="{upper}" x2="{left}" y2="{upper + plot_h}" stroke="#444"/>')
    for tick in range(5):
        value = round(top * tick / 4)
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11">{value:,}</text>'
        )
    for i, built_at in enumerate(builds):
        if len(builds) <= 12 or i in (0, len(builds) - 1):
            label = html.escape(str(built_at)[:16])
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 20}" text-anchor="middle" font-size="10">{label}</text>'
            )
    by_name = {name: {b: c for n, b, c in history if n == name} for name in names}
    for k, name in enumerate(names):
        colour = _PALETTE[k % len(_PALETTE)]
        points = [(x(i), y(by_name[name][b])) for i, b in enumerate(builds) if b in by_name[name]]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for px, py in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>')
        parts.append(
            f'<text x="{left + plot_w + 10}" y="{upper + 14 + 16 * k}" font-size="12" fill="{colour}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _heat_map(names: list[str], overlaps: dict[tuple[str, str], tuple[int, float]], cell: int = 70) -> str:
    """The overlap matrix as an inline SVG heat map: share of the row audience also in the column one."""
    label_w = 260
    size = label_w + cell * len(names) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" role="img">']
    for j, name in enumerate(names):
        cx = label_w + cell * j + cell / 2
        parts.append(
            f'<text x="{cx:.1f}" y="{label_w - 6}" font-size="11" transform="rotate(-45 {cx:.1f} {label_w - 6})">{html.escape(name)}</text>'
        )
    for i, a in enumerate(names):
        ry = label_w + cell * i
        parts.append(
            f'<text x="{label_w - 6}" y="{ry + cell / 2 + 4:.1f}" font-size="11" text-anchor="end">{html.escape(a)}</text>'
        )
        for j, b in enumerate(names):
            count, share = overlaps.get((a, b), (0, 0.0))
            shade = int(255 - 200 * share)
            parts.append(
                f'<rect x="{label_w + cell * j}" y="{ry}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="rgb({shade},{shade},255)"><title>{html.escape(a)} ∩ {html.escape(b)}: {count:,} ({share:.0%} of {html.escape(a)})</title></rect>'
            )
            colour = "#fff" if share > 0.6 else "#000"
            parts.append(
                f'<text x="{label_w + cell * j + cell / 2 - 1:.1f}" y="{ry + cell / 2 + 4:.1f}" font-size="11" '
                f'text-anchor="middle" fill="{colour}">{share:.0%}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def html_report(settings: Settings) -> str:
    """A self-contained HTML page: sizes, a size-over-time chart and the overlap heat map."""
    view = overview(settings)
    history = size_history(settings)
    names = [s.audience_name for s in view.sizes]
    rows = "".join(
        f"<tr><td>{html.escape(s.audience_name)}</td><td>{s.member_count:,}</td><td>{s.holdout_count:,}</td>"
        f"<td>{s.global_holdout_count:,}</td><td>{s.activatable_count:,}</td><td>+{s.entered_count:,}</td>"
        f"<td>−{s.exited_count:,}</td></tr>"
        for s in view.sizes
    )
    built = html.escape(str(view.sizes[0].built_at)) if view.sizes else "never"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Tessera audiences</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child,th:first-child{text-align:left}"
        "</style></head><body>"
        f"<h1>Audiences</h1><p>Latest build: {built}.</p>"
        "<table><tr><th>audience</th><th>members</th><th>holdout</th><th>global holdout</th>"
        f"<th>activatable</th><th>entered</th><th>exited</th></tr>{rows}</table>"
        f"<h2>Size over time</h2>{_size_chart(history)}"
        f"<h2>Overlaps</h2><p>Each cell: the share of the row audience that is also in the column audience.</p>"
        f"{_heat_map(names, view.overlaps)}"
        "<h2>Lift</h2><p>Uplift of treatment over the audience's holdout per outcome, with its 95% interval "
        "(green or red: the interval excludes 0).</p>"
        f"{_lift_chart(lift(settings))}</body></html>"
    )
