"""The contract review pack on the real pipeline: `servicereview review` on the sample's client
whose service degraded (lakeside-accounting, 2026-05 to 2026-07), and what-if on its term."""

from __future__ import annotations

import html
import re
import shutil

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.core.contracts import contract_to_yaml
from pipelines.core.periods import months_between
from pipelines.core.overrides import apply_overrides
from pipelines.metrics.stage import READ_COLUMNS
from pipelines.report import review, review_agenda, review_context, whatif
from tests.conftest import copy_sample, servicereview

pytestmark = pytest.mark.slow
CLIENT = "lakeside-accounting"
DEGRADED = ["2026-05", "2026-06", "2026-07"]  # as data/sample/README.md tells the story
TERM = months_between("2025-10", "2026-09")  # its contract's term (data/sample/contracts)


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    data = copy_sample(root / "data")
    done = servicereview("review", "--client", CLIENT, "--data", str(data), home=root / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    return root, data, root / "home", done


@pytest.fixture(scope="module")
def rctx(pack):
    _, data, home, _ = pack
    return review_context.load_review(CLIENT, build_dir=home / "build", data_dir=data, reports_dir=home / "reports")


def _page(home):
    return (home / "_site_clients" / CLIENT / "2026-09" / "contract_review.html").read_text()


def test_the_summary_names_the_degraded_months_and_the_targets_missed(pack, rctx):
    *_, done = pack
    assert rctx.months == TERM
    assert list(review.degraded(rctx)) == DEGRADED
    text = done.stdout
    assert "The service degraded in May 2026, June 2026 and July 2026: Response SLA, Resolution SLA" in text
    missed = re.search(r"Targets missed over the term as a whole: (.*?)\.\n", text).group(1)
    for label in ("Response SLA", "Resolution SLA", "CSAT"):
        assert f"{label} " in missed
    k = rctx.kpis
    assert f"{int(k['tickets_created'].sum())} tickets were logged" in text
    response = rctx.pooled("response_sla_pct")
    assert f"Response SLA (target 95%): {response.value:.1f}% (n={response.n}," in text
    for month in DEGRADED:  # each degraded month's own figure is the metrics' figure
        row = k.filter(pl.col("month") == month).row(0, named=True)
        assert f"Response SLA {row['response_sla_pct']:.1f}%" in text


def test_the_agenda_points_at_the_evidence(pack, rctx):
    *_, home, _ = pack
    points = review_agenda.points(rctx)
    degraded = next(p for p in points if p.months == DEGRADED)
    assert degraded.anchor == "sla"
    missed = {p.title: p for p in points if "target missed in" in p.title}
    verdicts = rctx.verdicts
    for title, point in missed.items():  # each target point lists exactly the months it was missed
        key = next(t.key for t in review.term.TARGETS if title.startswith(t.label + " "))
        months = verdicts.filter((pl.col("key") == key) & (pl.col("verdict") == "missed"))["month"].to_list()
        assert point.months == months and len(months) >= 3
    assert {"Response SLA target missed in 8 months", "Resolution SLA target missed in 6 months"} <= set(missed)
    late = review.breaches(rctx)
    sla_point = missed["Resolution SLA target missed in 6 months"]
    assert set(sla_point.tickets) <= set(late.filter(pl.col("target") == "resolution")["ticket_id"])
    page = _page(home)
    anchors = set(re.findall(r'id="rv-([a-z]+)"', page))
    links = re.findall(r'class="sr-evidence">Evidence: <a href="#rv-([a-z]+)"', page)
    assert len(links) == len(points) and set(links) <= anchors
    assert "months: May 2026, June 2026, July 2026" in page
    scenario = next(p for p in points if p.title == "Renegotiation: 6-hour P2 resolution")  # the contract's own
    assert scenario.anchor == "scenarios" and "Resolution SLA: met in" in scenario.text  # what it changes
    assert "would have been missed in" in scenario.text
    assert "6-hour P2 resolution: sla.P2.resolution=6h" in page


def test_the_pack_is_published_with_its_pdf_and_no_peer_distribution_below_five_clients(pack):
    *_, home, done = pack
    page = _page(home)
    assert "No comparison with the provider&#x27;s other clients: fewer than 5 other clients" in page
    assert "Other clients&#x27; median" not in page
    assert (home / "_site" / "clients" / CLIENT / "2026-09" / "contract_review.html").exists()
    for csv in ("targets-missed", "after-alerts"):
        assert (home / "_site_clients" / CLIENT / "2026-09" / "tickets" / f"review-2025-10-2026-09-{csv}.csv").exists()
    if shutil.which("chromium") or shutil.which("/usr/bin/chromium"):
        assert "PDF: _site_clients/lakeside-accounting/2026-09/contract_review.pdf" in done.stdout + done.stderr
    assert "review pack: reports/2026-09/lakeside-accounting/contract_review.ipynb" in done.stderr


def test_every_published_figure_in_the_pack_carries_its_source_and_year(pack, tmp_path):
    page = _page(pack[2])
    entries = [e for e in review_agenda.load_benchmarks() if e["metric"] in ("fcr_pct", "csat_pct")]
    assert entries
    for entry in entries:
        assert str(entry["year"]) in review_agenda.citation(entry) and entry["publisher"] in review_agenda.citation(entry)
        assert html.escape(review_agenda.citation(entry)) in page, entry
    unsourced = tmp_path / "benchmarks.yml"
    unsourced.write_text("- {metric: fcr_pct, value: 70, text: '70% at first contact', population: desks}\n")
    with pytest.raises(ValueError, match=r"entry 1 \(fcr_pct\): no .*publisher.* \(no figure without its source\)"):
        review_agenda.load_benchmarks(unsourced)


def test_peers_are_shown_only_as_a_distribution_of_at_least_five(rctx):
    kpis = rctx.report.kpis.filter(pl.col("month").is_in(rctx.complete))
    copies = [kpis.with_columns(pl.lit(f"peer-{i}").alias("client_id"),
                                (pl.col("response_sla_pct") - i).alias("response_sla_pct")) for i in range(5)]
    four = review_agenda.peer_distribution(pl.concat(copies[:4]), rctx.complete)
    assert four.is_empty()
    five = review_agenda.peer_distribution(pl.concat(copies), rctx.complete)
    row = five.filter(pl.col("kpi") == "response_sla_pct").row(0, named=True)
    mine = rctx.pooled("response_sla_pct", rctx.complete).value
    assert row["clients"] == 5 and abs(row["median"] - (mine - 2)) <= 1
    assert set(five.columns) == {"kpi", "clients", "q1", "median", "q3"}  # no client, no single value


# ---------------------------------------------------------------- what-if


@pytest.fixture(scope="module")
def tables(pack):
    from pipelines.core import io

    clean = pack[2] / "build" / "clean"
    return {name: None if frame is None else frame.filter(pl.col("client_id") == CLIENT)
            for name, frame in io.read_clean(clean, columns=READ_COLUMNS).items()}


def _extracted(rctx):
    from datetime import datetime

    return datetime.fromisoformat(rctx.report.summary["export_end"])


def test_whatif_with_the_contracts_own_values_reproduces_the_actual_figures_exactly(rctx, tables):
    c = rctx.contract
    own = [f"sla.P2.resolution={int(c.sla['P2'].resolution)}m", f"targets.resolution_sla_pct={c.targets.resolution_sla_pct}",
           f"business_hours.mon={c.business_hours['mon'][0][0]:%H:%M}-{c.business_hours['mon'][0][1]:%H:%M}"]
    same = whatif.evaluate("own values", own, c, tables, rctx.months, _extracted(rctx))
    assert contract_to_yaml(apply_overrides(c, own)) == contract_to_yaml(apply_overrides(c, []))  # the same terms
    actual = rctx.actual  # from the run's own metrics tables, as the monthly reports read them
    assert same.sla.equals(actual.sla)
    assert same.credits.equals(actual.credits)
    assert actual.sla.filter(pl.col("priority") == "All")["n"].sum() > 1000


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(priority=st.sampled_from(["P2", "P3", "P4"]), target=st.sampled_from(["response", "resolution"]),
       share=st.floats(0.2, 0.95))
def test_a_stricter_target_never_yields_a_higher_compliance(rctx, tables, priority, target, share):
    minutes = getattr(rctx.contract.sla[priority], target)
    stricter = whatif.evaluate("stricter", [f"sla.{priority}.{target}={max(1, int(minutes * share))}m"],
                               rctx.contract, tables, rctx.months, _extracted(rctx))
    for scope in (priority, "All"):
        now, then = rctx.actual.row(target, scope), stricter.row(target, scope)
        assert then["n"] >= now["n"]  # a pending ticket may be decided (late) sooner, never the reverse
        assert then["pct"] <= now["pct"] + 1e-9, (scope, now, then)
    other = "response" if target == "resolution" else "resolution"
    assert stricter.row(other, priority) == rctx.actual.row(other, priority)


def test_the_whatif_command_shows_the_scenario_beside_the_actual_contract(pack):
    _, data, home, _ = pack
    done = servicereview("whatif", "--client", CLIENT, "--data", str(data), "--set", "sla.P2.resolution=4h",
                         home=home)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "what-if for lakeside-accounting, 2025-10 to 2026-09 (the contract's latest term)" in out
    assert re.search(r"Resolution SLA, P2\s+│\s+83\.5% \(n=103\)\s+│\s+\d+\.\d% \(n=103\)", out), out
    assert re.search(r"Resolution SLA: met in \d+ of 12 months \(actual 6\), so the 90% target would have been "
                     r"missed in \d+ of 12 months", out)


@pytest.mark.parametrize(("args", "message"), [
    (["whatif", "--set", "sla.P2"], "'sla.P2' is not an override like sla.P2.resolution=6h"),
    (["whatif", "--set", "sla.P2.resolution=soon"], "sla.P2.resolution: 'soon' is not a duration like 90m or 4h"),
    (["whatif", "--set", "sla.P9.resolution=6h"], "sla.P9: 'P9' is not allowed; input should be 'P1'"),
    (["whatif"], "give at least one --set (or --scenarios FILE)"),
    (["whatif", "--set", "sla.P2.resolution=6h", "--from", "2026-13"], "--from: period '2026-13' is not a month"),
    (["whatif", "--set", "sla.P2.resolution=6h", "--from", "2026-05", "--to", "2026-02"],
     "--from 2026-05 --to 2026-02: the review ends before it starts"),
    (["review", "--to", "2099-01"], "--to 2099-01 has not begun yet"),
    (["review", "--from", "2025-1"], "--from: period '2025-1' is not a month like 2026-09"),
    (["review", "--set", "targets.csat_pct=high"], "targets.csat_pct"),
    (["review", "--scenarios", "missing.yml"], "missing.yml: file not found"),
])
def test_cli_errors_name_the_option_and_what_was_expected(pack, args, message):
    _, data, home, _ = pack
    command, *rest = args
    done = servicereview(command, "--client", CLIENT, "--data", str(data), *rest, home=home, timeout=300)
    assert done.returncode == 2, (done.stdout[-500:], done.stderr[-2000:])
    assert message in " ".join(done.stderr.split()), done.stderr[-2000:]


def test_an_unknown_client_is_refused_with_the_known_ones(pack):
    _, data, home, _ = pack
    done = servicereview("whatif", "--client", "nobody", "--set", "sla.P2.resolution=6h", "--data", str(data),
                         home=home)
    assert done.returncode == 2
    assert "--client nobody: no such client (known: bondi-physio, harbor-dental" in done.stderr
