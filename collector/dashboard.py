"""The HTML dashboard: the report as tiles, hand-drawn SVG charts and a table, with filters.

Rows, chart bars and filters carry the names the stack declared (`collector.names`); the SID
is in the table's key column and in every tooltip.

Server-rendered, no scripts and nothing from a CDN (the machines have no internet): a filter is
a link, so every view has a URL that can be shared and is the same page a test clicks to.
"""

from __future__ import annotations

import html
from importlib import resources
from string import Template
from urllib.parse import urlencode

from sqlalchemy import Engine, select

from collector.names import NameMap
from collector.reports import (
    COLUMNS,
    GROUPINGS,
    LABEL_TITLES,
    Report,
    ReportFilter,
    ReportRow,
    build_report,
    cell,
    label_columns,
)
from collector.storage.schema import messages
from collector.usage import UsageSource

GROUP_TITLES = {
    "account": "subaccount",
    "service": "messaging service",
    "sender": "sender",
    "day": "day",
    "tenant": "tenant",
    "use_case": "use case",
}
OUTCOME_COLOURS = (
    ("delivered", "var(--delivered)"),
    ("undelivered", "var(--undelivered)"),
    ("failed", "var(--failed)"),
    ("in flight", "var(--pending)"),
)
MAX_FILTER_CHIPS = 40


def _template() -> Template:
    text = resources.files("collector").joinpath("templates/dashboard.html").read_text("utf-8")
    return Template(text)


def _active(flag: bool) -> str:
    return ' class="active"' if flag else ""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def short(key: str) -> str:
    """`AC1234…cdef` for SIDs, so chart labels stay readable; the full key is in the tooltip."""
    if len(key) == 34 and key[:2].isalpha() and key[:2].isupper():
        return f"{key[:6]}…{key[-4:]}"
    return key


def display(row: ReportRow) -> str:
    """A row's readable name: display name (or tenant) and use case, else the short key."""
    label = row.label
    who = label.display_name or label.tenant or label.name
    parts = [part for part in (who, label.use_case) if part]
    if label.use_case and label.use_case == who:
        parts = [who]
    return " · ".join(parts) if parts else short(row.key)


def display_names(rows: list[ReportRow]) -> list[str]:
    """`display` for each row; rows that would read the same (two tenants with one display
    name) say which tenant, or which SID, they are."""
    names = [display(row) for row in rows]
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    return [
        f"{name} [{row.label.tenant or short(row.key)}]" if seen[name] > 1 else name
        for name, row in zip(names, rows, strict=True)
    ]


def _link(by: str, filters: ReportFilter, **changes: str | None) -> str:
    params = {"by": by, **filters_params(filters)}
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return "/dashboard?" + urlencode(params)


def filters_params(filters: ReportFilter) -> dict[str, str]:
    names = {
        "account_sid": "account",
        "messaging_service_sid": "service",
        "sender": "sender",
        "day": "day",
    }
    return {names[key]: value for key, value in filters.active().items() if key in names}


def _chips(
    label: str,
    name: str,
    current: str | None,
    values: list[str],
    by: str,
    filters: ReportFilter,
    titles: dict[str, str] | None = None,
) -> str:
    titles = titles or {}
    chips = [
        f'<a href="{_esc(_link(by, filters, **{name: None}))}" data-filter="{name}" data-value=""'
        f"{_active(current is None)}>all</a>"
    ]
    for value in values[:MAX_FILTER_CHIPS]:
        active = _active(value == current)
        chips.append(
            f'<a href="{_esc(_link(by, filters, **{name: value}))}" data-filter="{name}"'
            f' data-value="{_esc(value)}" title="{_esc(value)}"{active}>'
            f"{_esc(titles.get(value) or short(value))}</a>"
        )
    return (
        f'<nav aria-label="{_esc(label)}"><span class="label">{_esc(label)}</span>'
        f"{''.join(chips)}</nav>"
    )


def _navigation(
    report: Report, accounts: list[str], days: list[str], names: NameMap | None = None
) -> str:
    tabs = [
        f'<a href="{_esc(_link(g, report.filters))}" data-group="{g}"'
        f"{_active(g == report.by)}>by {GROUP_TITLES[g]}</a>"
        for g in GROUPINGS
    ]
    parts = [f'<nav aria-label="group by"><span class="label">group</span>{"".join(tabs)}</nav>']
    account_titles = {}
    for sid in accounts:
        names_of = (names or NameMap()).label("account", sid)
        if names_of.display_name or names_of.tenant or names_of.name:
            account_titles[sid] = names_of.display_name or names_of.tenant or names_of.name or sid
    parts.append(
        _chips(
            "subaccount",
            "account",
            report.filters.account_sid,
            accounts,
            report.by,
            report.filters,
            account_titles,
        )
    )
    parts.append(_chips("day", "day", report.filters.day, days, report.by, report.filters))
    for name, label, value in (
        ("service", "service", report.filters.messaging_service_sid),
        ("sender", "sender", report.filters.sender),
    ):
        if value:
            parts.append(_chips(label, name, value, [value], report.by, report.filters))
    return "\n".join(parts)


def _tiles(total: ReportRow) -> str:
    tiles = [
        ("messages", "messages", str(total.messages)),
        ("sent", "sent", str(total.sent)),
        ("delivered", "delivered", str(total.delivered)),
        ("undelivered", "undelivered", str(total.undelivered)),
        ("failed", "failed", str(total.failed)),
        ("delivery_rate", "delivery rate", cell(total, "delivery_rate")),
        ("delivered_p50_s", "p50 to delivered", _seconds(total.delivered_p50_s)),
        ("delivered_p95_s", "p95 to delivered", _seconds(total.delivered_p95_s)),
        ("spend", "spend", cell(total, "spend")),
    ]
    return "".join(
        f'<div class="tile" data-metric="{key}"><div class="name">{_esc(name)}</div>'
        f'<div class="value">{_esc(value)}</div></div>'
        for key, name, value in tiles
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def outcomes_chart(rows: list[ReportRow]) -> str:
    """Stacked horizontal bars: each group's messages by outcome."""
    label_width, bar_width, row_height = 150, 360, 22
    height = row_height * len(rows) + 10
    largest = max((row.messages for row in rows), default=0) or 1
    parts = [
        f'<svg role="img" aria-label="outcomes per group" width="{label_width + bar_width + 60}"'
        f' height="{height}" viewBox="0 0 {label_width + bar_width + 60} {height}">'
    ]
    names = display_names(rows)
    for index, row in enumerate(rows):
        y = 5 + index * row_height
        in_flight = max(0, row.messages - row.delivered - row.undelivered - row.failed)
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"<title>{_esc(row.key)}</title>{_esc(names[index])}</text>"
        )
        x = float(label_width)
        for (name, colour), count in zip(
            OUTCOME_COLOURS, (row.delivered, row.undelivered, row.failed, in_flight), strict=True
        ):
            if not count:
                continue
            width = bar_width * count / largest
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{row_height - 6}"'
                f' fill="{colour}" data-series="{name}" data-count="{count}">'
                f"<title>{_esc(row.key)}: {count} {name}</title></rect>"
            )
            x += width
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y + 14}" font-size="12" fill="#616e7c">'
            f"{row.messages}</text>"
        )
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{c}"></i>{n}</span>' for n, c in OUTCOME_COLOURS)
    return (
        f'<figure data-chart="outcomes"><figcaption>Outcomes</figcaption>'
        f'<div class="legend">{legend}</div>{"".join(parts)}</figure>'
    )


def rate_chart(rows: list[ReportRow]) -> str:
    """Delivery rate per group, 0-100 %, with a 95 % guide line."""
    label_width, bar_width, row_height = 150, 320, 22
    height = row_height * len(rows) + 24
    guide = label_width + bar_width * 0.95
    parts = [
        f'<svg role="img" aria-label="delivery rate per group"'
        f' width="{label_width + bar_width + 70}"'
        f' height="{height}" viewBox="0 0 {label_width + bar_width + 70} {height}">',
        f'<line x1="{guide:.1f}" y1="0" x2="{guide:.1f}" y2="{height - 14}" stroke="#9fb3c8"'
        ' stroke-dasharray="3 3"/>',
        f'<text x="{guide:.1f}" y="{height - 2}" font-size="10" text-anchor="middle"'
        ' fill="#616e7c">95%</text>',
    ]
    names = display_names(rows)
    for index, row in enumerate(rows):
        y = 5 + index * row_height
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"<title>{_esc(row.key)}</title>{_esc(names[index])}</text>"
        )
        if row.delivery_rate is None:
            parts.append(
                f'<text x="{label_width + 4}" y="{y + 14}" font-size="12" fill="#616e7c">-</text>'
            )
            continue
        width = bar_width * row.delivery_rate
        colour = "var(--delivered)" if row.delivery_rate >= 0.95 else "var(--undelivered)"
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{width:.1f}" height="{row_height - 6}"'
            f' fill="{colour}" data-series="delivery rate" data-value="{row.delivery_rate}">'
            f"<title>{_esc(row.key)}: {cell(row, 'delivery_rate')}</title></rect>"
            f'<text x="{label_width + width + 6:.1f}" y="{y + 14}" font-size="12">'
            f"{_esc(cell(row, 'delivery_rate'))}</text>"
        )
    parts.append("</svg>")
    return (
        '<figure data-chart="delivery-rate"><figcaption>Delivery rate</figcaption>'
        f"{''.join(parts)}</figure>"
    )


def _table(report: Report) -> str:
    labels = label_columns(report)
    titles = [(name, LABEL_TITLES[name]) for name in labels] + list(COLUMNS)
    head = "".join(
        f"<th>{_esc(GROUP_TITLES[report.by] if name == 'key' else title)}</th>"
        for name, title in titles
    )
    body = []
    for row, css in [*((r, "") for r in report.rows), (report.total, "total")]:
        cells = "".join(
            f'<td data-column="{name}">{_esc(_table_cell(row, name, total=bool(css)))}</td>'
            for name, _ in titles
        )
        body.append(f'<tr class="{css}" data-key="{_esc(row.key)}">{cells}</tr>')
    return (
        f'<table data-report-by="{report.by}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _table_cell(row: ReportRow, name: str, *, total: bool) -> str:
    return "" if total and name in LABEL_TITLES else cell(row, name)


def _choices(engine: Engine, filters: ReportFilter) -> tuple[list[str], list[str]]:
    """Accounts and days to offer as filters (days within the chosen account)."""
    with engine.connect() as connection:
        accounts = (
            connection.execute(
                select(messages.c.account_sid).distinct().order_by(messages.c.account_sid)
            )
            .scalars()
            .all()
        )
        days_query = select(messages.c.day).distinct().order_by(messages.c.day.desc())
        if filters.account_sid:
            days_query = days_query.where(messages.c.account_sid == filters.account_sid)
        days = connection.execute(days_query).scalars().all()
    return list(accounts), list(days)


def render_report(
    report: Report, accounts: list[str], days: list[str], names: NameMap | None = None
) -> str:
    if report.rows:
        content = (
            '<section class="charts">'
            f"{outcomes_chart(report.rows)}{rate_chart(report.rows)}</section>" + _table(report)
        )
    else:
        content = (
            '<p class="empty" data-empty="true">No status callbacks stored for this view yet.</p>'
        )
    notes = f'<p class="note">{_esc(report.spend_note)}</p>' if report.spend_note else ""
    return _template().substitute(
        generated_at=_esc(report.generated_at),
        navigation=_navigation(report, accounts, days, names),
        tiles=_tiles(report.total),
        content=content,
        notes=notes,
    )


def render_page(
    engine: Engine,
    by: str,
    filters: ReportFilter,
    usage: UsageSource | None,
    names: NameMap | None = None,
) -> str:
    report = build_report(engine, by, filters, usage, names)  # type: ignore[arg-type]
    accounts, days = _choices(engine, filters)
    return render_report(report, accounts, days, names)
