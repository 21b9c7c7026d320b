"""The review pack's forward-looking sections: what changed since the last review, the what-if
targets, fair comparisons (published industry figures with their source; the provider's other
clients as an anonymous distribution), and the suggested agenda: rules over the findings, each
pointing at its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import polars as pl
import yaml

from pipelines.core.periods import period_title
from pipelines.report import narrative as say
from pipelines.report import contact_sections, review, review_charts, term, whatif
from pipelines.report.fragments import Fragment, bullets, esc, join, note, paragraph, table
from pipelines.report.review_context import ReviewContext

BENCHMARKS = Path(__file__).with_name("benchmarks.yml")
CITATION_FIELDS = ("metric", "value", "text", "population", "publisher", "report", "year", "url", "secondary")
MIN_PEERS = 5  # other clients that must contribute before any distribution of theirs is shown
PEER_KPIS = ("response_sla_pct", "resolution_sla_pct", "csat_pct", "fcr_pct", "proactive_pct")
# the agenda's rules
MISSED_MONTHS = 3  # a target missed in at least this many months
REPEATS = 5  # a device with at least this many repeat tickets
PROACTIVE_DROP = 2.0  # points the proactive share fell from the first half of the term to the second
AFTER_ALERTS = 5  # reactive tickets that followed an alert on the same device
WORSE_SINCE = 5.0  # points a share fell since the last review
SHOWN_IDS = 10
ANCHOR_OF = {"response_sla_pct": "sla", "resolution_sla_pct": "sla", "csat_pct": "surveys", "fcr_pct": "summary",
             "proactive_pct": "proactive", "uptime_pct": "effort", "patch_compliance_pct": "security",
             "onsite_visits": "effort"}


# ---------------------------------------------------------------- since the last review


def changes(rctx: ReviewContext) -> Fragment:
    """Each target then (as the last published review showed it) and now."""
    before = rctx.previous
    if not before:
        return review.anchored("changes", paragraph("No earlier review was published for this client, so there is "
                                                    "nothing to compare with yet."))
    now = review.figures(rctx)
    rows = []
    for key, mine in now["targets"].items():
        then = before.get("targets", {}).get(key)
        if not then:
            continue
        t = term.BY_KEY[key]
        rows.append({"target": mine["label"], "then": _figure(then, t), "now": _figure(mine, t),
                     "change": _delta(then, mine, t),
                     "months": f"{then['met']} of {then['judged']} → {mine['met']} of {mine['judged']}"})
    money = f"{say.money(before.get('credits_owed'), before.get('currency', 'USD'))} → " \
            f"{say.money(now['credits_owed'], now['currency'])}"
    rows.append({"target": "Service credits owed", "then": "", "now": "", "change": money, "months": ""})
    intro = paragraph(f"The last review covered {period_title(before['start'])} to {period_title(before['end'])}; "
                      f"this one {rctx.title}.")
    return review.anchored("changes", join(intro, table(pl.DataFrame(rows), {
        "target": "Target", "then": "Last review", "now": "This review", "change": "Change",
        "months": "Months met"})))


def _figure(figure: dict, t: term.Target) -> str:
    if not figure.get("measured", True):
        return "not measured"
    if t.key == "onsite_visits":
        return say.number(figure["value"])
    return say.pct(figure["value"], figure["n"] if t.n else None, t.kind or "sla")


def _delta(then: dict, now: dict, t: term.Target) -> str:
    a, b = then.get("value"), now.get("value")
    thin = t.kind and (say.thin(then.get("n"), t.kind) or say.thin(now.get("n"), t.kind))
    if a is None or b is None or thin or not then.get("measured", True) or not now.get("measured", True):
        return "not comparable"
    unit = " points" if t.unit == "%" else ""
    return "unchanged" if abs(b - a) < 0.05 else f"{'up' if b > a else 'down'} {abs(b - a):.1f}{unit}"


# ---------------------------------------------------------------- what-if targets


def scenarios(rctx: ReviewContext) -> Fragment:
    """The scenarios the analyst configured, side by side with the actual contract."""
    if not rctx.scenarios:
        return review.anchored("scenarios", paragraph(
            "No what-if scenario was configured for this review (the contract's term.scenarios, or "
            "`servicereview review --scenarios FILE`)."))
    parts = [paragraph("The term's tickets re-evaluated under other contract terms with the same rules as every "
                       "figure above; what the reports would have shown.")]
    for figures in rctx.whatifs:
        parts.append(paragraph(f"{figures.name}: {', '.join(figures.overrides)}"))
        parts.append(bullets(whatif.sentences(rctx.actual, figures, rctx.contract)))
    parts.append(table(whatif.comparison(rctx.actual, rctx.whatifs), caption="Actual contract and what-if, side by side"))
    return review.anchored("scenarios", join(*parts))


def scenario_chart(rctx: ReviewContext):
    if not rctx.scenarios:
        return note("No what-if scenario was configured.", "info")
    rows = pl.concat([f.sla.select(pl.lit(f.name).alias("contract"), "target", "priority", "pct", "n")
                      for f in (rctx.actual, *rctx.whatifs)])
    return review_charts.scenario_bars(rows)


# ---------------------------------------------------------------- fair comparisons


@cache
def load_benchmarks(path: Path = BENCHMARKS) -> tuple[dict, ...]:
    """The published figures (benchmarks.yml); an entry without its full citation is an error."""
    entries = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    for i, entry in enumerate(entries):
        missing = [f for f in CITATION_FIELDS if f not in entry or entry[f] in (None, "")]
        if missing:
            raise ValueError(f"{path.name}: entry {i + 1} ({entry.get('metric')}): no {', '.join(missing)} "
                             "(no figure without its source)")
    return tuple(entries)


def citation(entry: dict) -> str:
    """'HDI, 2015 Support Center Practices & Salary Report (2015), as quoted by the Freshservice blog'."""
    text = f"{entry['publisher']}, {entry['report']} ({entry['year']})"
    return text + (f", as quoted by {entry['secondary']} (secondary source)" if entry["secondary"] else "")


def benchmarks(rctx: ReviewContext) -> Fragment:
    """This client's term figures next to published industry figures, each with its source and year."""
    yours = {"fcr_pct": rctx.pooled("fcr_pct", rctx.complete), "csat_pct": rctx.pooled("csat_pct", rctx.complete),
             "survey_response_rate_pct": term.pooled(rctx.kpis, term.Target(
                 "survey_response_rate_pct", "Survey response rate", "share", "survey_response_rate_n"))}
    labels = {"fcr_pct": "First-contact resolution", "csat_pct": "CSAT", "nps": "NPS",
              "survey_response_rate_pct": "Survey response rate"}
    if rctx.contract.survey_scale == "0-10":
        rows = rctx.kpis.filter(pl.col("nps").is_not_null())
        n = int(rows["nps_n"].sum() or 0)
        yours["nps"] = term.Pooled(float((rows["nps"] * rows["nps_n"]).sum() / n) if n else None, n)
    year = int(rctx.end[:4])
    rows = []
    for entry in load_benchmarks():
        metric = entry["metric"]
        if metric not in yours:
            continue
        reason = rctx.not_measured(metric)
        mine = yours[metric]
        kind = "csat" if metric in ("csat_pct", "nps") else "fcr" if metric == "fcr_pct" else "share"
        shown = f"not measured ({reason})" if reason else (
            say.number(mine.value) if metric == "nps" and mine.n and not say.thin(mine.n, kind)
            else mine.text(kind)) + (f" (n={mine.n})" if mine.n and not reason else "")
        age = year - int(entry["year"])
        rows.append({"measure": labels[metric], "yours": shown, "published": entry["text"],
                     "source": f"{citation(entry)}; {entry['url']}",
                     "population": entry["population"] + (f"; the figure is {age} years old" if age >= 5 else "")})
    intro = paragraph("Published figures measure other populations (mostly internal help desks and contact "
                      "centres, end customers rather than an MSP's clients) and most are several years old: read "
                      "them as a rough reference, never as targets. No citable published figure exists for "
                      "resolution times, the proactive share or uptime, so none is shown for them.")
    return review.anchored("comparisons", join(intro, table(pl.DataFrame(rows), {
        "measure": "Measure", "yours": "You, over the term", "published": "Published figure",
        "source": "Source and year", "population": "Measured on"}, caption="Against published industry figures",
        empty="No published figure applies to what this client measures.")))


def peer_distribution(peers: pl.DataFrame | None, months: list[str], minimum: int = MIN_PEERS) -> pl.DataFrame:
    """Per KPI, the other clients' term values as a distribution only: how many contribute (a
    measured, judgeable value over the months) and their lower quartile, median and upper quartile,
    rounded to whole points. No row for a KPI with fewer than `minimum` contributors: nothing of
    fewer clients may be shown, since it could be traced back to one of them."""
    rows = []
    for key in PEER_KPIS if peers is not None and peers.height else ():
        t = term.BY_KEY[key]
        values = []
        for _, mine in peers.filter(pl.col("month").is_in(months) & pl.col("month_complete")).group_by("client_id"):
            p = term.pooled(mine, t)
            if p.value is not None and not say.thin(p.n, t.kind):
                values.append(p.value)
        if len(values) >= minimum:
            s = pl.Series(values)
            rows.append((key, len(values), *(round(s.quantile(q, "linear")) for q in (0.25, 0.5, 0.75))))
    return pl.DataFrame(rows, schema={"kpi": pl.String, "clients": pl.Int64, "q1": pl.Int64, "median": pl.Int64,
                                      "q3": pl.Int64}, orient="row")


def peers(rctx: ReviewContext) -> Fragment:
    """Where this client stands among the provider's other clients over the same months: their
    median and middle half only, and only when at least MIN_PEERS of them contribute."""
    found = peer_distribution(rctx.peers, rctx.complete)
    if found.is_empty():
        return paragraph(f"No comparison with the provider's other clients: fewer than {MIN_PEERS} other clients have "
                         "a measured figure over these months, and a distribution of fewer could point at one of them.")
    rows = []
    for key, clients, q1, median, q3 in found.iter_rows():
        t = term.BY_KEY[key]
        mine = rctx.pooled(key, rctx.complete)
        if mine.value is None or say.thin(mine.n, t.kind):
            where = "too few of yours to place"
        else:
            where = ("above the upper quartile" if mine.value > q3 else "below the lower quartile" if mine.value < q1
                     else "in the middle half, above the median" if mine.value >= median
                     else "in the middle half, below the median")
        rows.append({"measure": t.label, "yours": mine.text(t.kind), "median": f"{median}%",
                     "middle": f"{q1}–{q3}%", "clients": clients, "where": where})
    intro = paragraph("The provider's other clients over the same months, as a distribution only (figures rounded to "
                      "whole points): no client is named and no single client's figure is shown.")
    return join(intro, table(pl.DataFrame(rows), {
        "measure": "Measure", "yours": "You", "median": "Other clients' median", "middle": "Middle half",
        "clients": "Clients", "where": "Where you stand"}, caption="Against the provider's other clients"))


# ---------------------------------------------------------------- contact log (issue 14)


def contacts(rctx: ReviewContext) -> Fragment:
    """The contact-log reconciliation (calls and e-mails in the client's own record against the
    tickets) of the term's last month. Earlier months are in their own monthly reports: the
    metrics hold the matches as they stand at the term's end, and a month is shown only as it
    stood at its own end."""
    if not contact_sections.has_log(rctx.report):
        return note("No contact log (the client's own record of calls and e-mails) was provided.", "info")
    return contact_sections.reconciliation(rctx.report)


# ---------------------------------------------------------------- suggested agenda


@dataclass(frozen=True)
class Point:
    """One discussion point: what was found, and where its evidence is."""

    title: str
    text: str
    anchor: str  # the section with the evidence (review.ANCHORS)
    months: list[str] = field(default_factory=list)
    tickets: list[str] = field(default_factory=list)

    def evidence(self) -> str:
        """'section "..."; months: ...; tickets: ...'."""
        return "; ".join([review.evidence(self.anchor), *self.details()])

    def details(self) -> list[str]:
        parts = []
        if self.months:
            parts.append(f"months: {', '.join(period_title(m) for m in self.months)}")
        if self.tickets:
            more = f" and {len(self.tickets) - SHOWN_IDS} more" if len(self.tickets) > SHOWN_IDS else ""
            parts.append(f"tickets: {', '.join(self.tickets[:SHOWN_IDS])}{more}")
        return parts


def points(rctx: ReviewContext) -> list[Point]:
    """The agenda's rules over the term's findings, in order of the evidence sections."""
    if not rctx.months:
        return []
    found: list[Point] = []
    worse = review.degraded(rctx)
    if worse:
        found.append(Point("The months the service degraded",
                           f"{term.month_list(list(worse))} were clearly worse than the rest of the term: what "
                           "happened, and what stops it happening again?", "sla", list(worse)))
    missed = review.breaches(rctx)
    for row in review.target_rows(rctx):
        if len(row["missed"]) >= MISSED_MONTHS:
            t = row["target"]
            sla = t.key in ("response_sla_pct", "resolution_sla_pct")
            ids = missed.filter(pl.col("month").is_in(row["missed"]) & (pl.col("target") == t.key.split("_")[0])
                                )["ticket_id"].unique(maintain_order=True).to_list() if sla else []
            found.append(Point(f"{t.label} target missed in {len(row['missed'])} months",
                               f"{t.label} reached its target ({row['goal']:g}{t.unit}) in {row['met']} of "
                               f"{row['judged']} judged months.", ANCHOR_OF[t.key], row["missed"], ids))
        if row["not_measured"]:
            found.append(Point(f"{row['target'].label} cannot be measured",
                               f"The export does not support it ({row['not_measured']}): agree how it will be "
                               "measured in the next term.", "summary"))
    repeats = review.repeat_assets(rctx).filter(pl.col("device") & (pl.col("repeats") >= REPEATS))
    if repeats.height:
        devices = ", ".join(f"{on} ({n})" for on, n in repeats.select("on", "repeats").iter_rows())
        found.append(Point(f"Repeat tickets on {say.plural(repeats.height, 'device')}",
                           f"At least {REPEATS} tickets repeated an earlier problem on {devices}: a fix for the "
                           "cause, or a replacement?", "recurring",
                           tickets=[t for ids in repeats["repeat_ids"] for t in ids]))
    first, second = term.halves(rctx.complete)
    a, b = rctx.pooled("proactive_pct", first), rctx.pooled("proactive_pct", second)
    if not rctx.not_measured("proactive_pct") and a.value is not None and b.value is not None \
            and not say.thin(a.n, "share") and not say.thin(b.n, "share") and a.value - b.value >= PROACTIVE_DROP:
        found.append(Point("Less proactive work", f"The proactive share fell from {a.value:.1f}% in the first half of "
                           f"the term to {b.value:.1f}% in the second.", "proactive", second))
    follow = review.alert_followups(rctx) if not rctx.not_measured("proactive_pct") else pl.DataFrame()
    if follow.height >= AFTER_ALERTS:
        found.append(Point("Alerts that people then had to report", f"{follow.height} reactive tickets followed a "
                           "monitoring alert on the same device within "
                           f"{review.ALERT_WINDOW_DAYS} days.", "proactive", tickets=follow["ticket_id"].to_list()))
    comments = review.negative_comments(rctx).filter(pl.col("theme").str.contains("(?i)communicat"))
    if comments.height:
        ids = comments["ticket_id"].unique(maintain_order=True).to_list()
        found.append(Point("Communication", f"{say.plural(len(ids), 'negative comment')} about communication and "
                           "updates.", "surveys", tickets=ids))
    owed = term.credits_owed(rctx.kpis, rctx.contract).filter(pl.col("credit_pct") > 0)
    if owed.height:
        found.append(Point("Service credits", f"{say.money(float(owed['amount'].sum()), rctx.contract.currency)} "
                           f"of service credits are owed for {say.plural(owed.height, 'month')}.", "effort",
                           owed["month"].to_list()))
    found += _since_last(rctx)
    for figures in rctx.whatifs:  # in words: the first SLA target the scenario changes (else the first line)
        lines = whatif.sentences(rctx.actual, figures, rctx.contract)
        changed = [f"{t.title()} SLA:" for t in ("response", "resolution") if figures.row(t) != rctx.actual.row(t)]
        line = next((x for x in lines if changed and x.startswith(changed[0])), lines[0])
        found.append(Point(f"Renegotiation: {figures.name}", f"With {', '.join(figures.overrides)}: {line}",
                           "scenarios"))
    return found


def _since_last(rctx: ReviewContext) -> list[Point]:
    before = rctx.previous.get("targets", {}) if rctx.previous else {}
    now = review.figures(rctx)["targets"]
    out = []
    for key, mine in now.items():
        then, t = before.get(key), term.BY_KEY[key]
        if not then or t.unit != "%" or _delta(then, mine, t) == "not comparable":
            continue
        if then["value"] - mine["value"] >= WORSE_SINCE:
            out.append(Point(f"{t.label} worse than at the last review", f"{t.label} went from {then['value']:.1f}% to "
                             f"{mine['value']:.1f}% since the last review.", "changes"))
    return out


def agenda(rctx: ReviewContext) -> Fragment:
    """The suggested agenda: each point with a link to its evidence."""
    found = points(rctx)
    if not found:
        return review.anchored("agenda", paragraph("No rule found anything to put on the agenda: every target was met "
                                                   "in most months and nothing recurred."))
    items = "".join(f'<li><b>{esc(p.title)}.</b> {esc(p.text)} <span class="sr-evidence">Evidence: '
                    f'<a href="#rv-{esc(p.anchor)}">{esc(review.evidence(p.anchor))}</a>'
                    f"{esc(''.join(f'; {d}' for d in p.details()))}</span></li>" for p in found)
    text = "\n".join(f"{i}. {p.title}. {p.text} Evidence: {p.evidence()}" for i, p in enumerate(found, 1))
    return review.anchored("agenda", Fragment(f'<ol class="sr-agenda">{items}</ol>', text))
