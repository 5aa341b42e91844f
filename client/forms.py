"""Intake forms: a versioned schema per case kind, shipped with the client.

The schema decides which fields are identity (sealed so that only k council members together can read
them) and which are the case file (any one member can triage). A form is a TOML file with an
[identity] and a [case] table; a field in the wrong table is refused, so an identifying detail can
never end up in the case file by mistake. Names and places in any script (한글, 漢字, かな) are fine.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Final

from client.i18n import _
from client.report.strings import N_

SCHEMA_VERSION: Final = 1
URGENCY: Final = ("low", "medium", "high", "critical")
REGIONS_HELP: Final = N_("province-level region only (e.g. Jilin, Liaoning, Shandong), never a town or an address")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    section: str  # "identity" | "case"
    kind: str  # "text" | "date" | "int" | "choice" | "bool" | "month"
    help: str
    required: bool = True
    choices: tuple[str, ...] = ()
    max_len: int = 2000


def _identity(*extra: Field) -> tuple[Field, ...]:
    return (
        Field("full_name", "identity", "text", N_("full name as the person uses it, in any script (김영희, 金英姬)")),
        Field(
            "date_of_birth",
            "identity",
            "date",
            N_("date of birth, YYYY-MM-DD (use the 1st if only the month is known)"),
            required=False,
        ),
        Field("exact_location", "identity", "text", N_("where the person can be found now (address, shelter, landmark)")),
        Field("contact", "identity", "text", N_("how to reach them or their guardian (phone, messenger id)"), required=False),
        *extra,
    )


def _case(*extra: Field) -> tuple[Field, ...]:
    return (
        Field("region", "case", "text", REGIONS_HELP, max_len=60),
        Field("urgency", "case", "choice", N_("how soon help is needed"), choices=URGENCY),
        Field("narrative", "case", "text", N_("the situation and the need, without names or places"), max_len=8000),
        *extra,
    )


AMOUNT = Field("amount_usd", "case", "int", N_("amount requested in US dollars (0 if none)"), required=False)
KINDS: Final[dict[str, tuple[str, tuple[Field, ...]]]] = {
    "shelter": (
        N_("a place to stay"),
        _identity(Field("household", "identity", "text", N_("names of the others in the household"), required=False))
        + _case(Field("people", "case", "int", N_("number of people needing shelter")), AMOUNT),
    ),
    "clothing": (
        N_("summer or winter clothing"),
        _identity()
        + _case(
            Field("season", "case", "choice", N_("which clothing"), choices=("summer", "winter")),
            Field("people", "case", "int", N_("number of people")),
        ),
    ),
    "food": (
        N_("food delivered to a shelter"),
        _identity() + _case(Field("people", "case", "int", N_("number of people to feed")), AMOUNT),
    ),
    "medical": (
        N_("emergency operation or hospitalisation costs"),
        _identity(
            Field(
                "hospital", "identity", "text", N_("hospital name and city (identifying: it locates the person)"), required=False
            )
        )
        + _case(
            Field(
                "treatment",
                "case",
                "choice",
                N_("what is needed"),
                choices=("emergency-operation", "hospitalisation", "medicine", "other"),
            ),
            Field("condition", "case", "text", N_("the medical condition, without names"), max_len=4000),
            AMOUNT,
        ),
    ),
    "financial-support": (N_("support to a local helper"), _identity() + _case(AMOUNT)),
    "schooling": (
        N_("schooling and a foster-parent sponsor for a child"),
        _identity(Field("guardian_name", "identity", "text", N_("the child's guardian or foster parent"), required=False))
        + _case(
            Field("child_age", "case", "int", N_("the child's age in years")),
            Field("sponsor_needed", "case", "bool", N_("does the child need a foster-parent sponsor (true/false)")),
            AMOUNT,
        ),
    ),
    "self-reliance": (
        N_("work: knit cushions, wooden key holders and crosses"),
        _identity()
        + _case(
            Field(
                "product", "case", "choice", N_("what they make"), choices=("knit-cushions", "key-holders", "crosses", "other")
            ),
            Field("stage", "case", "choice", N_("what help is needed"), choices=("production", "distribution", "sale")),
            AMOUNT,
            # added for programme reports; optional, so earlier case files and forms stay valid
            Field("items", "case", "int", N_("items made or sold so far (0 if none or not known)"), required=False),
            Field("sales_usd", "case", "int", N_("income from sales so far, in US dollars (0 if none)"), required=False),
        ),
    ),
    "relocation": (
        N_("relocation and settlement in a third country"),
        _identity(
            Field("family_members", "identity", "text", N_("names and ages of family members travelling along"), required=False)
        )
        + _case(
            Field("household_size", "case", "int", N_("number of people travelling")),
            Field("destination", "case", "text", N_("destination country (if known)"), required=False, max_len=60),
            AMOUNT,
            # added for programme reports; optional, so earlier case files and forms stay valid
            Field(
                "stage",
                "case",
                "choice",
                N_("where the relocation stands"),
                required=False,
                choices=("preparing", "in-transit", "awaiting-resettlement", "settled"),
            ),
        ),
    ),
    "testimony": (
        N_("testimony for publication, with consent"),
        _identity()
        + _case(
            Field("consent", "case", "bool", N_("the person consents to publication (must be true)")),
            Field("anonymised", "case", "bool", N_("publish without any identifying detail (true/false)")),
        ),
    ),
    "press-request": (
        N_("a request from the press for facilities or assistance"),
        (
            Field("journalist", "identity", "text", N_("journalist's name and outlet")),
            Field("contact", "identity", "text", N_("how to reach them"), required=False),
            Field("request", "case", "text", N_("what they ask for"), max_len=4000),
            Field("urgency", "case", "choice", N_("how soon"), choices=URGENCY),
        ),
    ),
    "food-distribution": (
        N_("monthly food-distribution report for one route"),
        (
            Field("reporter", "identity", "text", N_("who distributed (kept sealed)"), required=False),
            Field("route", "case", "choice", N_("route"), choices=("RN-01", "RR-02", "RR-03")),
            Field("month", "case", "month", N_("month reported, YYYY-MM")),
            Field("rice_kg", "case", "int", N_("rice distributed, in kilograms")),
            Field("shelters", "case", "int", N_("number of shelters reached")),
            Field("notes", "case", "text", N_("anything else, without names or places"), required=False),
        ),
    ),
}


# Where a kind's attachments go unless the helper says otherwise (`--identity` / `--case-file`): to the
# identity (opened only by k members together) because photos and papers usually show a face or a name;
# to the case file only for kinds whose papers are receipts and goods the council triages.
ATTACHMENT_DEFAULT: Final[dict[str, str]] = {kind: "identity" for kind in KINDS} | {
    "food": "case",
    "clothing": "case",
    "self-reliance": "case",
    "food-distribution": "case",
}


def attachment_default(kind: str) -> str:
    schema(kind)  # raises FormError for an unknown kind
    return ATTACHMENT_DEFAULT[kind]


class FormError(Exception):
    """The form has invalid fields."""

    def __init__(self, problems: list[str], *, fields: list[Problem] | None = None) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.fields = fields or []  # per field, for a form shown with its errors (the app)


def kinds_help() -> str:
    return ", ".join(KINDS)


def schema(kind: str) -> tuple[Field, ...]:
    if kind not in KINDS:
        raise FormError([_("unknown kind {kind}; one of: {kinds}", kind=repr(kind), kinds=kinds_help())])

    return KINDS[kind][1]


def template(kind: str) -> str:
    """A form to fill in, with every field and its help text."""
    fields = schema(kind)
    # the comments in the language of the command (`_`): a helper reads them; the names and values stay as parsed
    lines = [
        "# "
        + _(
            "Tessera intake form: {kind} ({what}), schema {schema}",
            kind=kind,
            what=_(KINDS[kind][0]),
            schema=f"{kind}/{SCHEMA_VERSION}",
        ),
        "# " + _("Fill in the values between the quotes."),
        "# " + _("Fields in [identity] are sealed so that only several council members together can ever read them;"),
        "# " + _("everything in [case] is readable by each member."),

        f'kind = "{kind}"',
        f"schema = {SCHEMA_VERSION}",
    ]
    for section in ("identity", "case"):
        lines += ["", f"[{section}]"]
        for f in fields:
            if f.section != section:
                continue
            need = _("required") if f.required else _("optional")
            extra = "; " + _("one of: {choices}", choices=", ".join(f.choices)) if f.choices else ""
            lines.append(f"# {_(f.help)} ({f.kind}, {need}{extra})")
            lines.append(f"{f.name} = " + ("false" if f.kind == "bool" else "0" if f.kind == "int" else '""'))
    return "\n".join(lines) + "\n"


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"\d{4}-\d{2}")


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one field: a message marked for translation, and the values it names.

    `text()` is the English sentence the CLI prints; the app translates `message` and formats it the same way."""

    field: str
    message: str
    values: Mapping[str, Any] = dataclass_field(default_factory=dict)

    def text(self, translate: Callable[[str], str] = lambda m: m) -> str:
        # a field's help text is itself a message of the catalog; the other values are the person's own input
        values = {k: translate(v) if k == "help" else v for k, v in self.values.items()}
        return translate(self.message).format(**values)


REQUIRED: Final = N_("required ({help})")
EXPECTED_TEXT: Final = N_("expected text")
TOO_LONG: Final = N_("at most {max_len} characters")
EXPECTED_DATE: Final = N_("expected a date YYYY-MM-DD, got {value}")
EXPECTED_MONTH: Final = N_("expected a month YYYY-MM, got {value}")
EXPECTED_CHOICE: Final = N_("expected one of {choices}, got {value}")
EXPECTED_NUMBER: Final = N_("expected a whole number from 0")
EXPECTED_BOOL: Final = N_("expected true or false")
NEEDS_CONSENT: Final = N_("testimony is only recorded with the person's consent (set consent = true)")


def _check(f: Field, value: Any) -> Problem | None:
    def problem(message: str, **values: Any) -> Problem:
        return Problem(f.name, message, values)

    if f.kind in ("text", "date", "month", "choice"):
        if not isinstance(value, str):
            return problem(EXPECTED_TEXT)
        if f.required and not value.strip():
            return problem(REQUIRED, help=f.help)
        if len(value) > f.max_len:
            return problem(TOO_LONG, max_len=f.max_len)
        if value and f.kind == "date" and not _DATE.fullmatch(value):
            return problem(EXPECTED_DATE, value=repr(value))
        if value and f.kind == "month" and not _MONTH.fullmatch(value):
            return problem(EXPECTED_MONTH, value=repr(value))
        if value and f.kind == "choice" and value not in f.choices:
            return problem(EXPECTED_CHOICE, choices=", ".join(f.choices), value=repr(value))
    elif f.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**9:
            return problem(EXPECTED_NUMBER)
    elif f.kind == "bool" and not isinstance(value, bool):
        return problem(EXPECTED_BOOL)
    return None


def check_fields(kind: str, identity: Mapping[str, Any], case: Mapping[str, Any]) -> list[Problem]:
    """Every problem of a form's values, per field (the CLI's `parse_form` and the app's form alike).
    `identity` and `case` hold only fields of their own section; a missing optional field may be absent."""
    fields = schema(kind)
    values = {"identity": identity, "case": case}
    problems = []
    for f in fields:
        value = values[f.section].get(f.name)
        if value is None:
            if f.required:
                problems.append(Problem(f.name, REQUIRED, {"help": f.help}))
            continue
        problem = _check(f, value)
        if problem:
            problems.append(problem)
    if kind == "testimony" and case.get("consent") is not True:
        problems.append(Problem("consent", NEEDS_CONSENT))
    return problems


@dataclass(frozen=True, slots=True)
class Form:
    kind: str
    identity: Mapping[str, Any]
    case: Mapping[str, Any]


def parse_form(text: str, kind: str) -> Form:
    """Validate a filled-in form; raises FormError naming every bad field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormError([_("the form is not valid TOML: {problem}", problem=exc)]) from None
    fields = schema(kind)
    problems = []
    if data.get("kind", kind) != kind:
        problems.append("kind: " + _("the form is for {form}, not {kind}", form=repr(data.get("kind")), kind=repr(kind)))
    if data.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
        problems.append("schema: " + _("this client reads schema {version}", version=SCHEMA_VERSION))
    values: dict[str, dict[str, Any]] = {"identity": {}, "case": {}}
    by_name = {f.name: f for f in fields}
    for section in ("identity", "case"):
        table = data.get(section, {})
        if not isinstance(table, dict):
            problems.append(_("[{section}] must be a table", section=section))
            continue
        for name, value in table.items():
            f = by_name.get(name)
            if f is None:
                problems.append(f"{name}: " + _("not a field of a {kind} form", kind=kind))
            elif f.section != section:
                problems.append(f"{name}: " + _("belongs in [{right}], not [{wrong}]", right=f.section, wrong=section))
            else:
                values[section][name] = value
    unknown_top = set(data) - {"kind", "schema", "identity", "case"}
    problems += [
        f"{name}: " + _("not a field of a {kind} form (put fields under [identity] or [case])", kind=kind)
        for name in sorted(unknown_top)
    ]
    problems += [f"{p.field}: {p.text(_)}" for p in check_fields(kind, values["identity"], values["case"])]
    if problems:
        raise FormError(problems)
    return Form(kind=kind, identity=values["identity"], case=values["case"])


def parse_amendment(text: str, kind: str) -> dict[str, Any]:
    """The case-file fields of an amendment form (a TOML file with a [case] table naming some fields of the case's
    kind). Raises FormError naming every bad field; an [identity] table is refused: an amendment is read by every
    council member alone, and identity details are sealed only at intake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormError([_("the form is not valid TOML: {problem}", problem=exc)]) from None
    by_name = {f.name: f for f in schema(kind)}
    problems = []
    if "identity" in data:
        problems.append(
            "[identity]: "
            + _(
                "an amendment is readable by every council member alone, so it cannot carry identity details (those "
                "are sealed only at intake, for k members together); leave them out"
            )
        )
    problems += [
        f"{name}: " + _("an amendment form has only a [case] table") for name in sorted(set(data) - {"identity", "case", "kind"})
    ]
    table = data.get("case", {})
    if not isinstance(table, dict):
        raise FormError([*problems, _("[{section}] must be a table", section="case")])
    for name, value in table.items():
        f = by_name.get(name)
        if f is None or f.section != "case":
            if f is not None:
                problems.append(
                    f"{name}: "
                    + _("not a case-file field of a {kind} form (it belongs in [{section}])", kind=kind, section=f.section)
                )
            else:
                problems.append(f"{name}: " + _("not a case-file field of a {kind} form", kind=kind))
            continue

        problem = _check(f, value)
        if problem:
            problems.append(f"{problem.field}: {problem.text(_)}")

    if problems:
        raise FormError(problems)
    return dict(table)


# -- what a person reads in the app: each field's and each choice's name, marked for translation ---------------
LABELS: Final[dict[str, str]] = {
    "full_name": N_("Full name"),
    "date_of_birth": N_("Date of birth"),
    "exact_location": N_("Where the person is now"),
    "contact": N_("Contact"),
    "household": N_("Household"),
    "region": N_("Region (province)"),
    "urgency": N_("Urgency"),
    "narrative": N_("Situation and need"),
    "people": N_("Number of people"),
    "amount_usd": N_("Amount (USD)"),
    "season": N_("Season"),
    "hospital": N_("Hospital"),
    "treatment": N_("Treatment"),
    "condition": N_("Medical condition"),
    "guardian_name": N_("Guardian"),
    "child_age": N_("Child's age"),
    "sponsor_needed": N_("Sponsor needed"),
    "product": N_("Product"),
    "stage": N_("Stage"),
    "items": N_("Items made or sold"),
    "sales_usd": N_("Sales (USD)"),
    "family_members": N_("Family members travelling"),
    "household_size": N_("People travelling"),
    "destination": N_("Destination country"),
    "consent": N_("Consent to publication"),
    "anonymised": N_("Publish anonymised"),
    "journalist": N_("Journalist"),
    "request": N_("Request"),
    "reporter": N_("Reporter"),
    "route": N_("Route"),
    "month": N_("Month"),
    "rice_kg": N_("Rice (kg)"),
    "shelters": N_("Shelters reached"),
    "notes": N_("Notes"),
}
CHOICE_LABELS: Final[dict[str, str]] = {
    "low": N_("low"),
    "medium": N_("medium"),
    "high": N_("high"),
    "critical": N_("critical"),
    "summer": N_("summer"),
    "winter": N_("winter"),
    "emergency-operation": N_("emergency operation"),
    "hospitalisation": N_("hospitalisation"),
    "medicine": N_("medicine"),
    "other": N_("other"),
    "knit-cushions": N_("knit cushions"),
    "key-holders": N_("wooden key holders"),
    "crosses": N_("crosses"),
    "production": N_("production"),
    "distribution": N_("distribution"),
    "sale": N_("sale"),
    "preparing": N_("preparing"),
    "in-transit": N_("in transit"),
    "awaiting-resettlement": N_("awaiting resettlement"),
    "settled": N_("settled"),
    "RN-01": "RN-01",
    "RR-02": "RR-02",
    "RR-03": "RR-03",
}


def label(name: str) -> str:
    """The English name of a field or a choice (a key for the translation catalogs)."""
    return LABELS.get(name) or CHOICE_LABELS.get(name) or name


def form_from_strings(kind: str, raw: Mapping[str, str]) -> Form:
    """A form from the text of a web form (every value a string, a checkbox present only when ticked): numbers
    parsed, an empty optional field left out. Raises FormError whose `fields` names each field's Problem."""
    identity: dict[str, Any] = {}
    case: dict[str, Any] = {}
    bad: list[Problem] = []
    for f in schema(kind):
        text = raw.get(f.name, "")
        value: Any
        if f.kind == "bool":
            value = text in ("on", "true", "1", "yes")
        elif f.kind == "int":
            if not text.strip():
                continue
            try:
                value = int(text.strip())
            except ValueError:
                bad.append(Problem(f.name, EXPECTED_NUMBER))
                continue
        else:
            if not text.strip() and not f.required:
                continue
            value = text
        (identity if f.section == "identity" else case)[f.name] = value
    problems = bad + [p for p in check_fields(kind, identity, case) if p.field not in {b.field for b in bad}]
    if problems:
        raise FormError([f"{p.field}: {p.text()}" for p in problems], fields=problems)
    return Form(kind=kind, identity=identity, case=case)
