"""Server-side HTML of the operations page: plain f-strings, every value escaped
(``esc``), no script. ``base`` is where the page is mounted (``/carm`` in Airflow)."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from ledger.search import OUTCOMES

STYLE = """
body{font-family:system-ui,sans-serif;margin:1rem 1.5rem;color:#1f2937}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #e5e7eb;padding:.3rem .4rem;text-align:left;vertical-align:top}
th{background:#f3f4f6}.accepted{color:#047857}.rejected,.failed,.refused,.partly-rejected{color:#b91c1c}
.parked,.duplicate,.pending{color:#b45309}
form.inline{display:inline}form#filters{margin:1rem 0}nav a{margin-right:1rem}.notice{background:#ecfdf5;padding:.5rem;border:1px solid #a7f3d0}
.quiet{color:#b45309;font-weight:600}pre{white-space:pre-wrap;background:#f9fafb;padding:.5rem}
"""


def esc(value: object) -> str:
    return "" if value is None else escape(str(value))


def css(outcome: str) -> str:
    """The CSS class of an outcome word ("partly rejected" is ``partly-rejected``)."""
    return esc(outcome.replace(" ", "-"))


def layout(base: str, title: str, body: str, user: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title><style>{STYLE}</style></head>
<body><nav><a href="{esc(base)}/files">Files</a><a href="{esc(base)}/audit">Audit trail</a>
<span>signed in as <b id="user">{esc(user)}</b></span></nav>
<h1>{esc(title)}</h1>
{body}
</body></html>"""


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _due(base: str, row: dict[str, Any]) -> str:
    """The partner's count of files due for purge, linking to their list."""
    count = row.get("due_for_purge", 0)
    if not count:
        return "0"
    query = urlencode({"partner": row["partner"], "due": "yes"})
    return f'<a class="due" href="{esc(base)}/files?{esc(query)}">{count}</a>'


def partners_table(base: str, rows: list[dict[str, Any]]) -> str:
    lines = "".join(
        f"<tr><td>{esc(r['partner'])}</td><td>{r['received_today']}</td><td>{r['quarantined']}</td>"
        f"<td>{r['parked']}</td><td>{r['overdue']}</td>"
        f"<td>{esc(r['inbox_error']) if r['inbox_error'] else _age(r['oldest_inbox_seconds'])}</td>"
        f'<td class="{"quiet" if r["last_seen"] is None else ""}">{esc(r["last_seen"] or "never")}</td>'
        f"<td>{_due(base, r)}</td></tr>"
        for r in rows
    )
    return (
        '<h2>Partners now</h2><table id="partners"><tr><th>Partner</th><th>Received today</th><th>Quarantined</th>'
        "<th>Parked</th><th>In processing past its lease</th><th>Oldest inbox file</th><th>Last file seen</th>"
        f"<th>Due for purge</th></tr>{lines}</table>"
    )


def waiting_table(rows: list[dict[str, Any]]) -> str:
    """Declarations whose portal answer is not final yet, then those whose deadline passed without
    one (``expired``: the partner was told, an operator must follow them up; gateway/waiting.py)."""
    if not rows:
        return ""
    lines = "".join(
        f'<tr class="{esc(r["state"])}"><td>{esc(r["partner"])}</td><td>{esc(r["transaction_number"])}</td>'
        f"<td>{r['version']}</td><td>{esc(r['state'])}</td><td>{esc(r['status'])}</td>"
        f"<td>{_age(r['age_seconds'])}</td><td>{r['queries']}</td><td>{esc(r['next_query_at'])}</td>"
        f"<td>{esc(r['deadline'])}</td><td>{esc(r['answer'])}</td></tr>"
        for r in rows
    )
    return (
        '<h2>Waiting for a final answer</h2><table id="waiting"><tr><th>Partner</th><th>Transaction</th>'
        "<th>Version</th><th>State</th><th>Status</th><th>Age</th><th>Queries</th><th>Next query</th>"
        f"<th>Deadline</th><th>Answer</th></tr>{lines}</table>"
    )


def filters_form(base: str, filters: dict[str, str], partners: list[str]) -> str:
    def options(values: list[str], chosen: str) -> str:
        return '<option value="">all</option>' + "".join(
            f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>{esc(v)}</option>' for v in values
        )

    return f"""<form id="filters" method="get" action="{esc(base)}/files">
<label>Partner <select name="partner">{options(partners, filters.get("partner", ""))}</select></label>
<label>Outcome <select name="outcome">{options(list(OUTCOMES), filters.get("outcome", ""))}</select></label>
<label>Received from <input type="date" name="received_from" value="{esc(filters.get("received_from"))}"></label>
<label>to <input type="date" name="received_to" value="{esc(filters.get("received_to"))}"></label>
<label>Text <input type="search" name="text" value="{esc(filters.get("text"))}" placeholder="name, note, transaction"></label>
<label><input type="checkbox" name="due" value="yes"{" checked" if filters.get("due") == "yes" else ""}> due for purge</label>
<button type="submit">Filter</button></form>"""


def files_table(base: str, listing: dict[str, Any], filters: dict[str, str]) -> str:
    rows = []
    for f in listing["files"]:
        acks = " ".join(
            f'<a href="{esc(base)}/acknowledgements/{a["id"]}">{esc(a["kind"])}</a>' for a in f["acknowledgements"]
        )
        rows.append(
            f'<tr data-file="{f["id"]}"><td><a href="{esc(base)}/files/{f["id"]}">{esc(f["partner"])}</a></td>'
            f'<td><a href="{esc(base)}/files/{f["id"]}">{esc(f["name"])}</a></td><td>{esc(f["received_at"])}</td>'
            f'<td>{esc(f["format"])}</td><td class="{css(f["outcome"])}">{esc(f["outcome"])}</td>'
            f"<td>{f['documents_accepted']} / {f['documents_rejected']}</td><td>{esc(f['first_finding'])}</td>"
            f"<td>{f['warnings']}</td>"
            f"<td>{acks}</td><td>{f['attempts']}</td><td>{f['id']}</td></tr>"
        )
    pager = []
    for label, page in (("previous", listing["page"] - 1), ("next", listing["page"] + 1)):
        if 1 <= page <= listing["pages"]:
            query = urlencode({**{k: v for k, v in filters.items() if v}, "page": page})
            pager.append(f'<a rel="{label}" href="{esc(base)}/files?{esc(query)}">{label}</a>')
    return (
        f'<p id="count">{listing["total"]} files, page {listing["page"]} of {listing["pages"]}</p>'
        '<table id="files"><tr><th>Partner</th><th>Name</th><th>Received</th><th>Format</th><th>Outcome</th>'
        "<th>Documents accepted / rejected</th><th>First error</th><th>Warnings</th><th>Acknowledgements</th><th>Attempts</th>"
        f"<th>Ledger id</th></tr>{''.join(rows)}</table><p>{' '.join(pager)}</p>"
    )


def file_page(base: str, view: dict[str, Any], notice: str | None) -> str:
    fid = view["id"]
    parts = [f'<p class="notice" id="notice">{esc(notice)}</p>' if notice else ""]
    parts.append(
        f"<p>Partner <b>{esc(view['partner'])}</b>, received {esc(view['received_at'])}, format {esc(view['format'])}, "
        f'state <b id="state">{esc(view["state"])}</b>, outcome <b id="outcome" class="{css(view["outcome"])}">'
        f"{esc(view['outcome'])}</b>, attempts {view['attempts']}, ledger id {fid}</p>"
    )
    parts.append(
        f'<form class="inline" method="post" action="{esc(base)}/files/{fid}/reprocess">'
        '<button id="reprocess" type="submit">Reprocess</button></form> '
        f'<form class="inline" method="post" action="{esc(base)}/files/{fid}/resend">'
        '<button id="resend" type="submit">Resend acknowledgements</button></form>'
    )
    parts.append("<h2>Declarations: the portal's answer</h2><table id=\"declarations\"><tr><th>Message</th>"
                 "<th>Transaction</th><th>Version</th><th>Status</th><th>Assessed</th><th>Errors</th><th>Warnings</th></tr>")  # fmt: skip
    for d in view["declarations"]:
        errors, warnings = (
            "<br>".join(f"[{esc(e['code'])}] {esc(e['where'])}: {esc(e['message'])}" for e in d[key])
            for key in ("errors", "warnings")
        )
        assessed = d["assessed"] or {}
        totals = ", ".join(f"{esc(k)} {esc(v)}" for k, v in assessed.items() if not isinstance(v, list | dict))
        parts.append(
            f"<tr><td>{esc(d['message_reference'])}</td><td>{esc(d['transaction_number'])}</td>"
            f'<td>{esc(d["version"])}</td><td class="{"accepted" if d["accepted"] else "rejected"}">'
            f"{esc(d['status'])}</td><td>{totals}</td><td>{errors}</td><td>{warnings}</td></tr>"
        )
    parts.append("</table>")
    for heading, table, found in (("Errors", "findings", view["findings"]), ("Warnings", "warnings", view["warnings"])):
        parts.append(f'<h2>{heading}</h2><table id="{table}"><tr><th>Code</th><th>Where</th><th>Message</th></tr>')
        for f in found:
            parts.append(f"<tr><td>{esc(f['code'])}</td><td>{esc(f['where'])}</td><td>{esc(f['message'])}</td></tr>")
        parts.append("</table>")
    if view["findings_omitted"]:
        parts.append(f"<p>{view['findings_omitted']} more findings are counted in the partner's report.</p>")
    parts.append("<h2>Acknowledgements</h2><table id=\"acknowledgements\"><tr><th>Kind</th><th>Name</th>"
                 "<th>Written</th><th>Resends</th></tr>")  # fmt: skip
    for a in view["acknowledgements"]:
        resends = "<br>".join(f"{esc(r['name'])} ({esc(r['who'])}, {esc(r['at'])})" for r in a["resends"])
        parts.append(
            f'<tr><td>{esc(a["kind"])}</td><td><a href="{esc(base)}/acknowledgements/{a["id"]}">{esc(a["name"])}</a>'
            f"</td><td>{esc(a['written_at'])}</td><td>{resends}</td></tr>"
        )
    parts.append("</table><h2>History</h2><table id=\"history\"><tr><th>When</th><th>From</th><th>To</th>"
                 "<th>Run</th><th>Task</th><th>Note</th></tr>")  # fmt: skip
    for e in view["history"]:
        parts.append(
            f"<tr><td>{esc(e['at'])}</td><td>{esc(e['from'])}</td><td>{esc(e['to'])}</td><td>{esc(e['run_id'])}</td>"
            f"<td>{esc(e['task'])}</td><td>{esc(e['note'])}</td></tr>"
        )
    parts.append("</table>")
    parts.append(actions_table(view["actions"]))
    return "".join(parts)


def actions_table(actions: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{esc(a['at'])}</td><td>{esc(a['who'])}</td><td>{esc(a['source'])}</td><td>{esc(a['action'])}</td>"
        f"<td>{esc(a['target'])}</td><td>{esc(a['detail'])}</td></tr>"
        for a in actions
    )
    return (
        '<h2>Operator actions</h2><table id="actions"><tr><th>When</th><th>Who</th><th>From</th><th>Action</th>'
        f"<th>Target</th><th>Detail</th></tr>{rows}</table>"
    )


def acknowledgement_page(name: str, content: bytes | None, truncated: bool) -> str:
    if content is None:
        return f"<p>{esc(name)} is no longer in the outbox: the partner has collected it.</p>"
    text = content.decode("utf-8", errors="replace")
    more = "<p>(the first 256 KiB; the partner's copy is whole)</p>" if truncated else ""
    return f'<p>{esc(name)}</p><pre id="content">{esc(text)}</pre>{more}'


def problem_page(base: str, status: int, message: str, login: str | None) -> str:
    link = f'<p><a href="{esc(login)}">Sign in to Airflow</a></p>' if login else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status}</title></head><body>'
        f'<h1>{status}</h1><p id="problem">{esc(message)}</p>{link}<p><a href="{esc(base)}/files">Files</a></p>'
        "</body></html>"
    )
