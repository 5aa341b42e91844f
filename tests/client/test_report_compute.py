"""The report's figures against a known synthetic programme: every expected figure below was worked out by
hand from the cases listed here (the sums are written out), not by the code under test."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from client.report import strings as s
from client.report.compute import Report, Settings, age_bucket, compute_report
from client.report.records import CaseRecord, Decision, Period, PeriodError, RecordError, Unreadable, case_record, day_of

PERIOD = Period("2027-01", "2027-03")


def day(text: str) -> int:
    return day_of(datetime.date.fromisoformat(text))


TODAY = day("2027-04-03")


def case(
    case_id: str,
    kind: str,
    received: str,
    *,
    decided: str | None = None,
    verified: bool = True,
    state: str = "open",
    **fields: Any,
) -> CaseRecord:
    decisions = () if decided is None else (Decision(action=decided, state="adopted", verified=verified, day=day(received) + 1),)
    if kind != "food-distribution":
        fields.setdefault("region", "Jilin")
    return CaseRecord(case_id=case_id, kind=kind, fields=fields, state=state, day=day(received), decisions=decisions)


def food(case_id: str, route: str, month: str, kg: int, shelters: int, received: str = "2027-04-01") -> CaseRecord:
    return case(case_id, "food-distribution", received, route=route, month=month, rice_kg=kg, shelters=shelters)


PROGRAMME = [
    # food reports: (route, month, kg, shelters)
    food("F1", "RN-01", "2027-01", 2400, 5, received="2027-02-01"),
    food("F2", "RR-02", "2027-01", 2300, 4, received="2027-02-02"),
    food("F3", "RN-01", "2027-02", 2500, 5, received="2027-03-01"),
    food("F4", "RR-02", "2027-02", 2200, 4, received="2027-03-01"),
    food("F5", "RR-03", "2027-02", 800, 2, received="2027-03-03"),
    food("F6", "RN-01", "2027-03", 2450, 5),
    food("F7", "RN-01", "2027-03", 50, 0),  # a second report for the same route and month
    food("F8", "RR-02", "2027-03", 2350, 4),
    food("F9", "RN-01", "2026-12", 2000, 5, received="2027-01-02"),  # received in the period, for December: out
    # medical
    case("M1", "medical", "2027-01-10", decided="approve", urgency="high", treatment="emergency-operation", amount_usd=3000),
    case("M2", "medical", "2027-01-12", decided="approve", urgency="high", treatment="emergency-operation", amount_usd=2500),
    case("M3", "medical", "2027-02-01", decided="approve", urgency="medium", treatment="hospitalisation", amount_usd=1200),
    case("M4", "medical", "2027-02-03", decided="decline", urgency="low", treatment="medicine", amount_usd=150),
    case("M5", "medical", "2027-03-29", urgency="critical", treatment="medicine", amount_usd=200),
    # an approval whose votes did not verify: still waiting
    case(
        "M6",
        "medical",
        "2027-03-01",
        decided="approve",
        verified=False,
        urgency="high",
        treatment="hospitalisation",
        amount_usd=900,
    ),
    case("M7", "medical", "2026-12-20", decided="approve", urgency="high", treatment="emergency-operation", amount_usd=4000),
    # schooling
    case("S1", "schooling", "2027-01-15", decided="approve", urgency="medium", child_age=9, sponsor_needed=True, amount_usd=100),
    case(
        "S2", "schooling", "2027-01-16", decided="approve", urgency="medium", child_age=10, sponsor_needed=False, amount_usd=100
    ),
    case("S3", "schooling", "2027-01-17", decided="approve", urgency="medium", child_age=7, sponsor_needed=True, amount_usd=120),
    case("S4", "schooling", "2027-02-15", urgency="medium", child_age=12, sponsor_needed=True, amount_usd=80),
    case("S5", "schooling", "2027-02-16", decided="decline", urgency="low", child_age=15, sponsor_needed=False, amount_usd=50),
    # self-reliance (R3 and R4 are case files from before `items` and `sales_usd` existed)
    case(
        "R1",
        "self-reliance",
        "2027-01-20",
        decided="approve",
        urgency="low",
        product="knit-cushions",
        stage="production",
        amount_usd=200,
        items=40,
        sales_usd=0,
    ),
    case(
        "R2",
        "self-reliance",
        "2027-03-27",
        urgency="low",
        product="knit-cushions",
        stage="sale",
        amount_usd=0,
        items=30,
        sales_usd=450,
    ),
    case("R3", "self-reliance", "2027-03-28", urgency="low", product="crosses", stage="distribution", amount_usd=100, items=10),
    case(
        "R4",
        "self-reliance",
        "2027-02-20",
        decided="decline",
        urgency="low",
        product="key-holders",
        stage="production",
        amount_usd=150,
    ),
    # relocation (L3 is from before `stage` existed)
    case(
        "L1", "relocation", "2027-01-25", decided="approve", urgency="high", household_size=4, stage="in-transit", amount_usd=1000
    ),
    case("L2", "relocation", "2027-01-03", urgency="high", household_size=2, stage="in-transit", amount_usd=800),
    case("L3", "relocation", "2027-02-05", decided="approve", urgency="high", household_size=3, amount_usd=600),
    case("L4", "relocation", "2027-02-06", decided="decline", urgency="low", household_size=1, stage="settled", amount_usd=0),
    # clothing (no amounts), shelter, financial support, and two kinds that are not aid
    case("C1", "clothing", "2027-01-05", urgency="critical", season="winter", people=5),
    case("C2", "clothing", "2027-01-06", decided="approve", urgency="low", season="summer", people=3),
    case("H1", "shelter", "2027-03-04", decided="request-info", urgency="medium", people=3, amount_usd=300),  # not a decision
    case("H2", "shelter", "2027-01-08", state="closed", urgency="high", people=2, amount_usd=0),
    case("B1", "financial-support", "2027-02-10", decided="approve", urgency="low", amount_usd=500),
    case("P1", "press-request", "2027-03-10", urgency="medium"),
    case("T1", "testimony", "2027-02-01", urgency="low", consent=True, anonymised=True),
]
UNREADABLE = [
    Unreadable(case_id="U1", day=day("2027-02-11"), reason=s.REASON_DOES_NOT_OPEN),
    Unreadable(case_id="U0", day=day("2026-11-30"), reason=s.REASON_DOES_NOT_OPEN),  # before the period: left out
]


@pytest.fixture(scope="module")
def report() -> Report:
    return compute_report(PROGRAMME, UNREADABLE, period=PERIOD, today=TODAY, settings=Settings())


def test_rice_per_route_per_month_against_the_target(report: Report) -> None:
    rice = report.table("rice")
    assert [r[0] for r in rice.rows] == ["2027-01", "2027-02", "2027-03"]
    # January: 2400 + 2300 = 4700 kg, 4700/5000 = 94 %, 5 + 4 = 9 shelters; RR-03 did not report
    assert rice.rows[0][1:] == (2400, 2300, None, 4700, 5000, 94, 9)
    # February: 2500 + 2200 + 800 = 5500 kg, 110 %, 5 + 4 + 2 = 11 shelters
    assert rice.rows[1][1:] == (2500, 2200, 800, 5500, 5000, 110, 11)
    # March: RN-01 reported twice, 2450 + 50 = 2500; 2500 + 2350 = 4850 kg, 97 %, 5 + 0 + 4 = 9 shelters
    assert rice.rows[2][1:] == (2500, 2350, None, 4850, 5000, 97, 9)
    # the period: RN-01 2400 + 2500 + 2500 = 7400, RR-02 2300 + 2200 + 2350 = 6850, RR-03 800;
    # 15050 kg against 3 x 5000 = 15000 (100 %); 9 + 11 + 9 = 29 shelters. December's report is not in it.
    assert rice.total == ("total", 7400, 6850, 800, 15050, 15000, 100, 29)
    assert report.doubled_rice == (("RN-01", "2027-03", 2),)


def test_a_month_without_reports_is_not_a_month_without_rice() -> None:
    report = compute_report(PROGRAMME, [], period=Period("2027-03", "2027-04"), today=TODAY, settings=Settings())
    rice = report.table("rice")
    assert rice.rows[1] == ("2027-04", None, None, None, None, 5000, None, None)
    assert rice.total == ("total", 2500, 2350, None, 4850, 10000, 49, 9)  # 4850 / 10000


def test_rice_target_is_the_council_setting() -> None:
    report = compute_report(PROGRAMME, [], period=PERIOD, today=TODAY, settings=Settings(rice_target_kg=7000))
    rice = report.table("rice")
    assert rice.value("2027-02", "target_kg") == 7000
    assert rice.value("2027-02", "percent") == 79  # 5500 / 7000 = 78.6 %
    assert rice.value("total", "target_kg") == 21000


def test_cases_and_amounts_per_kind_of_aid(report: Report) -> None:
    aid = report.table("aid")
    row = {r[0]: r[1:] for r in aid.rows}
    # (cases, waiting, approved, declined, requested USD, approved USD, declined USD)
    assert row["medical"] == (6, 2, 3, 1, 3000 + 2500 + 1200 + 150 + 200 + 900, 3000 + 2500 + 1200, 150)
    assert row["schooling"] == (5, 1, 3, 1, 100 + 100 + 120 + 80 + 50, 100 + 100 + 120, 50)
    assert row["self-reliance"] == (4, 2, 1, 1, 200 + 0 + 100 + 150, 200, 150)
    assert row["relocation"] == (4, 1, 2, 1, 1000 + 800 + 600 + 0, 1000 + 600, 0)
    assert row["clothing"] == (2, 1, 1, 0, None, None, None)  # the clothing form asks for no amount
    assert row["shelter"] == (2, 2, 0, 0, 300, 0, 0)  # a request for information decides nothing
    assert row["financial-support"] == (1, 0, 1, 0, 500, 500, 0)
    assert row["food"] == (0, 0, 0, 0, 0, 0, 0)
    # 2 + 2 + 0 + 6 + 1 + 5 + 4 + 4 = 24 cases; 9 waiting, 11 approved, 4 declined
    # requested 300 + 7950 + 500 + 450 + 450 + 2400 = 12050; approved 6700 + 500 + 320 + 200 + 1600 = 9320;
    # declined 150 + 50 + 150 + 0 = 350
    assert aid.total == ("total", 24, 9, 11, 4, 12050, 9320, 350)


def test_medical_costs(report: Report) -> None:
    medical = report.table("medical")
    row = {r[0]: r[1:] for r in medical.rows}
    assert row["emergency-operation"] == (2, 2, 5500, 5500)  # M1 + M2; M7 came before the period
    assert row["hospitalisation"] == (2, 1, 2100, 1200)  # M3 approved, M6 unverified
    assert row["medicine"] == (2, 0, 350, 0)
    assert row["other"] == (0, 0, 0, 0)
    assert medical.total == ("total", 6, 3, 7950, 6700)


def test_children_in_schooling_and_sponsors(report: Report) -> None:
    schooling = report.table("schooling")
    assert schooling.value(s.OUTCOME_APPROVED, "children") == 3  # S1, S2, S3
    assert schooling.value(s.OUTCOME_APPROVED, "need_sponsor") == 2  # S1, S3
    assert schooling.value(s.OUTCOME_OPEN, "children") == 1  # S4; S5 was declined
    assert schooling.value(s.OUTCOME_OPEN, "need_sponsor") == 1
    assert schooling.total == ("total", 4, 3)


def test_self_reliance_per_product(report: Report) -> None:
    table = report.table("self_reliance")
    row = {r[0]: r[1:] for r in table.rows}
    # (cases, at production, at distribution, at sale, items, sales USD, requested USD)
    assert row["knit-cushions"] == (2, 1, 0, 1, 40 + 30, 450, 200)
    assert row["key-holders"] == (1, 1, 0, 0, 0, 0, 150)
    assert row["crosses"] == (1, 0, 1, 0, 10, 0, 100)
    assert row["other"] == (0, 0, 0, 0, 0, 0, 0)
    assert table.total == ("total", 4, 2, 1, 1, 80, 450, 450)


def test_relocations_per_stage(report: Report) -> None:
    table = report.table("relocation")
    row = {r[0]: r[1:] for r in table.rows}
    # (cases, people, waiting, approved, declined)
    assert row["in-transit"] == (2, 4 + 2, 1, 1, 0)
    assert row["settled"] == (1, 1, 0, 0, 1)
    assert row[s.NOT_RECORDED] == (1, 3, 0, 1, 0)
    assert row["preparing"] == row["awaiting-resettlement"] == (0, 0, 0, 0, 0)
    assert table.total == ("total", 4, 10, 1, 2, 1)


def test_open_cases_by_urgency_and_age(report: Report) -> None:
    table = report.table("open")
    row = {r[0]: r[1:] for r in table.rows}
    # ages on 2027-04-03: M5 5 days, C1 88 (critical); M6 33, L2 90 (high); P1 24, S4 46, H1 30 (medium);
    # R3 6, R2 7, T1 61 (low). H2 is closed; decided cases and food reports are not open cases.
    assert row["critical"] == (1, 0, 1, 0, 2)
    assert row["high"] == (0, 0, 1, 1, 2)
    assert row["medium"] == (0, 1, 2, 0, 3)
    assert row["low"] == (1, 1, 1, 0, 3)
    assert table.total == ("total", 2, 2, 5, 1, 10)
    assert [age_bucket(a) for a in (0, 6, 7, 29, 30, 89, 90, 400)] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_what_was_read_and_not(report: Report) -> None:
    # 8 food reports for the period + 6 medical + 5 schooling + 4 self-reliance + 4 relocation + 2 clothing
    # + 2 shelter + 1 financial + 1 press + 1 testimony = 34
    assert report.cases_read == 34
    assert [u.case_id for u in report.unreadable] == ["U1"]
    assert report.table("not_read").rows == (("U1", "2027-02-11", s.REASON_DOES_NOT_OPEN),)
    assert report.unverified_decisions == 1  # M6


def test_an_unreadable_case_is_counted_nowhere_else() -> None:
    """The same programme with M1 unreadable: its figures drop out of every table, nothing is guessed."""
    without = [c for c in PROGRAMME if c.case_id != "M1"]
    lost = Unreadable(case_id="M1", day=day("2027-01-10"), reason=s.REASON_FORGED)
    report = compute_report(without, [lost], period=PERIOD, today=TODAY, settings=Settings())
    assert report.table("medical").value("emergency-operation", "cases") == 1
    assert report.table("aid").value("medical", "approved_usd") == 2500 + 1200
    assert report.cases_read == 33 and len(report.unreadable) == 1


def test_case_record_checks_the_form() -> None:
    body = {
        "kind": "medical",
        "schema": 1,
        "fields": {
            "region": "Jilin",
            "urgency": "high",
            "narrative": "x",
            "condition": "y",
            "treatment": "medicine",
            "amount_usd": 10,
        },
    }
    record = case_record(case_id="A", body=body, state="open", day=1, decisions=())
    assert record.fields == {"urgency": "high", "treatment": "medicine", "amount_usd": 10}  # free text is dropped
    for bad in ({"amount_usd": "10"}, {"amount_usd": True}, {"treatment": "magic"}, {"urgency": None}):
        with pytest.raises(RecordError):
            case_record(case_id="A", body={**body, "fields": {**body["fields"], **bad}}, state="open", day=1, decisions=())
    with pytest.raises(RecordError):
        case_record(case_id="A", body={"kind": "unknown", "fields": {}}, state="open", day=1, decisions=())
    # an optional choice left empty in the form is "not recorded", not an error
    relocation = {
        "kind": "relocation",
        "fields": {"region": "Jilin", "urgency": "low", "narrative": "x", "household_size": 2, "destination": "", "stage": ""},
    }
    assert "stage" not in case_record(case_id="B", body=relocation, state="open", day=1, decisions=()).fields


def test_period() -> None:
    assert list(Period("2026-11", "2027-02").months()) == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert Period.ending("2027-03") == Period("2026-04", "2027-03")
    assert PERIOD.first_day == day("2027-01-01") and PERIOD.last_day == day("2027-03-31")
    for first, last in (("2027-13", "2027-12"), ("2027-3", "2027-04"), ("2027-05", "2027-04")):
        with pytest.raises(PeriodError):
            Period(first, last)
