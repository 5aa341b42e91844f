"""Every word a programme report shows, in one place, marked for a gettext catalog.

`N_` only marks a message (xgettext/pybabel extract it with `--keyword=N_`); the message is translated
where it is shown, through the `Catalog` the renderer is given. English is the source language; a council
that meets in Korean gets a `tessera-report` catalog later without any change to the report code.
Messages with values use named `{fields}` so a translation may reorder them.
"""

from __future__ import annotations

import gettext
from typing import Final


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark now, translate later"
    return message


class Catalog:
    """Translates marked messages; without translations (English) it returns them unchanged."""

    def __init__(self, translations: gettext.NullTranslations | None = None) -> None:
        self._translations = translations or gettext.NullTranslations()

    def __call__(self, message: str, **values: object) -> str:
        text = self._translations.gettext(message)
        return text.format(**values) if values else text


# -- the report as a whole --------------------------------------------------------------------------
TITLE: Final = N_("Programme report")
PERIOD: Final = N_("Period: {first} to {last} (cases received in these months; food reports by the month they cover)")
PREPARED: Final = N_("Prepared on {day} by {account} on their own device. Identities were not opened.")
CASES_READ: Final = N_("Case files read: {count}. Case files that could not be read: {unreadable}.")
RICE_TARGET: Final = N_("Monthly rice target: {kg} kg (all routes together).")
SUPPRESSION: Final = N_(
    "Counts from 1 to {limit} are shown as <{threshold}, and an amount drawn from fewer than {threshold} cases is "
    "shown as “withheld”; where one small cell could be worked out from a total, a second cell is withheld too. "
    "Regions are never shown."
)
UNVERIFIED: Final = N_(
    "Decisions whose signatures or votes did not verify: {count}. Their cases are counted as waiting for a decision."
)
DOUBLE_RICE: Final = N_("Route {route} has {reports} reports for {month}; their figures are added together.")
NO_AMOUNT: Final = N_(
    "Amounts approved and declined are the amounts requested in the case files of approved and declined cases: "
    "a decision does not record an amount of its own."
)
CHARTS: Final = N_("Charts")
NOT_READ_TITLE: Final = N_("Case files this report could not read")
NOT_READ_NONE: Final = N_("Every case file in the period was read.")
NOT_READ_HINT: Final = N_(
    "These cases are counted nowhere else in this report; nothing about them is guessed. "
    "Check them with `tessera cases show CASE`."
)

# -- cell markers ----------------------------------------------------------------------------------
SMALL: Final = N_("<{threshold}")
WITHHELD: Final = N_("withheld")
NOT_APPLICABLE: Final = N_("–")
TOTAL: Final = N_("total")

# -- tables and their columns ----------------------------------------------------------------------
RICE_TABLE: Final = N_("Rice distributed per route and month (kg)")
AID_TABLE: Final = N_("Cases and amounts per kind of aid")
MEDICAL_TABLE: Final = N_("Medical costs")
SCHOOLING_TABLE: Final = N_("Children in schooling")
SELF_RELIANCE_TABLE: Final = N_("Self-reliance production and sales per product")
RELOCATION_TABLE: Final = N_("Relocations per stage")
OPEN_TABLE: Final = N_("Open cases by urgency and age")
NOT_READ_TABLE: Final = N_("Case files not read")

COL_MONTH: Final = N_("month")
COL_TOTAL_KG: Final = N_("total kg")
COL_TARGET_KG: Final = N_("target kg")
COL_PERCENT: Final = N_("percent met")
COL_SHELTERS: Final = N_("shelters reached")
COL_KIND: Final = N_("kind of aid")
COL_CASES: Final = N_("cases")
COL_OPEN: Final = N_("waiting")
COL_APPROVED: Final = N_("approved")
COL_DECLINED: Final = N_("declined")
COL_REQUESTED_USD: Final = N_("requested USD")
COL_APPROVED_USD: Final = N_("approved USD")
COL_DECLINED_USD: Final = N_("declined USD")
COL_TREATMENT: Final = N_("treatment")
COL_OUTCOME: Final = N_("decision")
COL_CHILDREN: Final = N_("children")
COL_NEED_SPONSOR: Final = N_("still need a sponsor")
COL_PRODUCT: Final = N_("product")
COL_PRODUCTION: Final = N_("at production")
COL_DISTRIBUTION: Final = N_("at distribution")
COL_SALE: Final = N_("at sale")
COL_ITEMS: Final = N_("items")
COL_SALES_USD: Final = N_("sales USD")
COL_STAGE: Final = N_("stage at intake")
COL_PEOPLE: Final = N_("people")
COL_URGENCY: Final = N_("urgency")
COL_CASE: Final = N_("case")
COL_DAY: Final = N_("received")
COL_REASON: Final = N_("why it could not be read")

# -- row labels ------------------------------------------------------------------------------------
OUTCOME_OPEN: Final = N_("waiting for a decision")
OUTCOME_APPROVED: Final = N_("approved (in schooling)")
NOT_RECORDED: Final = N_("not recorded")
AGE_BUCKETS: Final = (N_("under 7 days"), N_("7 to 29 days"), N_("30 to 89 days"), N_("90 days or more"))
LABELS: Final = {
    # kinds of aid, treatments, products, stages and urgencies as the forms name them
    "shelter": N_("shelter"),
    "clothing": N_("clothing"),
    "food": N_("food"),
    "medical": N_("medical"),
    "financial-support": N_("financial support"),
    "schooling": N_("schooling"),
    "self-reliance": N_("self-reliance"),
    "relocation": N_("relocation"),
    "emergency-operation": N_("emergency operation"),
    "hospitalisation": N_("hospitalisation"),
    "medicine": N_("medicine"),
    "other": N_("other"),
    "knit-cushions": N_("knit cushions"),
    "key-holders": N_("wooden key holders"),
    "crosses": N_("wooden crosses"),
    "preparing": N_("preparing"),
    "in-transit": N_("in transit"),
    "awaiting-resettlement": N_("awaiting resettlement"),
    "settled": N_("settled"),
    "low": N_("low"),
    "medium": N_("medium"),
    "high": N_("high"),
    "critical": N_("critical"),
}

# -- why a case file could not be read -------------------------------------------------------------
REASON_NOT_SERVED: Final = N_("the server did not give it to you (no key for you on it, or it was deleted)")
REASON_DOES_NOT_OPEN: Final = N_("it does not open with your key")
REASON_FORGED: Final = N_("a signature or binding does not verify")
REASON_MALFORMED: Final = N_("it is malformed")
REASON_FORM: Final = N_("its case file does not fit its form")

# -- charts ----------------------------------------------------------------------------------------
CHART_RICE: Final = N_("Rice per route and month against the target")
CHART_RICE_Y: Final = N_("kg of rice")
CHART_TARGET: Final = N_("target")
CHART_AID: Final = N_("Cases per kind of aid")
CHART_AID_Y: Final = N_("cases")
CHART_SUPPRESSED: Final = N_("Bars marked <{threshold} or “withheld” are drawn at zero.")

# -- the command -----------------------------------------------------------------------------------
HELP_COMMAND: Final = N_("council members: programme figures for a period (rice per route, aid, medical, schooling, ...)")
HELP_DESCRIPTION: Final = N_(
    "Reads every case file you can open, on this device, and adds up the programme for a period. "
    "Identities stay sealed; counts under 3 are hidden; nothing decrypted is written to disk."
)
HELP_FROM: Final = N_("first month (default: 11 months before --to)")
HELP_TO: Final = N_("last month (default: this month)")
HELP_TARGET: Final = N_("the council's monthly rice target in kilograms, all routes together (default: %(default)s)")
HELP_MIN_COUNT: Final = N_("hide counts below this; 3 or more (default: %(default)s)")
HELP_OUT: Final = N_("also write a CSV file per table, PNG and SVG charts and report.html into this folder")
HELP_JSON: Final = N_("print the tables as shown (small counts hidden) as JSON")
BAD_MONTH: Final = N_("{text} is not a month: write it as YYYY-MM, e.g. 2027-03")
PERIOD_BACKWARDS: Final = N_("the period starts ({first}) after it ends ({last})")
BAD_TARGET: Final = N_("--rice-target-kg: give the council's monthly target in kilograms (0 or more)")
BAD_MIN_COUNT: Final = N_("--min-count: counts under {threshold} are always hidden; give {threshold} or more")
ONLY_COUNCIL: Final = N_("only council members make programme reports: they read case files")
NO_COUNCIL: Final = N_("the council has not held its key ceremony yet: there are no cases to report on")
BAD_CASE_LIST: Final = N_("the server's list of cases is malformed; try again, or tell your administrator")
CANNOT_WRITE: Final = N_("cannot write the report into {path}: {problem}")
READING: Final = N_("reading case files")
WAITING_RATE: Final = N_("the server's request limit for this minute is reached; going on in {seconds} s")
WROTE: Final = N_("wrote {path}")
