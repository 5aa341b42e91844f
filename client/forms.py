"""Intake forms: a versioned schema per case kind, shipped with the client.

The schema decides which fields are identity (sealed so that only k council members together can read
them) and which are the case file (any one member can triage). A form is a TOML file with an
[identity] and a [case] table; a field in the wrong table is refused, so an identifying detail can
never end up in the case file by mistake. Names and places in any script (한글, 漢字, かな) are fine.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

SCHEMA_VERSION: Final = 1
URGENCY: Final = ("low", "medium", "high", "critical")
REGIONS_HELP: Final = "province-level region only (e.g. Jilin, Liaoning, Shandong), never a town or an address"


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
        Field("full_name", "identity", "text", "full name as the person uses it, in any script (김영희, 金英姬)"),
        Field(
            "date_of_birth",
            "identity",
            "date",
            "date of birth, YYYY-MM-DD (use the 1st if only the month is known)",
            required=False,
        ),
        Field("exact_location", "identity", "text", "where the person can be found now (address, shelter, landmark)"),
        Field("contact", "identity", "text", "how to reach them or their guardian (phone, messenger id)", required=False),
        *extra,
    )


def _case(*extra: Field) -> tuple[Field, ...]:
    return (
        Field("region", "case", "text", REGIONS_HELP, max_len=60),
        Field("urgency", "case", "choice", "how soon help is needed", choices=URGENCY),
        Field("narrative", "case", "text", "the situation and the need, without names or places", max_len=8000),
        *extra,
    )


AMOUNT = Field("amount_usd", "case", "int", "amount requested in US dollars (0 if none)", required=False)
KINDS: Final[dict[str, tuple[str, tuple[Field, ...]]]] = {
    "shelter": (
        "a place to stay",
        _identity(Field("household", "identity", "text", "names of the others in the household", required=False))
        + _case(Field("people", "case", "int", "number of people needing shelter"), AMOUNT),
    ),
    "clothing": (
        "summer or winter clothing",
        _identity()
        + _case(
            Field("season", "case", "choice", "which clothing", choices=("summer", "winter")),
            Field("people", "case", "int", "number of people"),
        ),
    ),
    "food": (
        "food delivered to a shelter",
        _identity() + _case(Field("people", "case", "int", "number of people to feed"), AMOUNT),
    ),
    "medical": (
        "emergency operation or hospitalisation costs",
        _identity(
            Field("hospital", "identity", "text", "hospital name and city (identifying: it locates the person)", required=False)
        )
        + _case(
            Field(
                "treatment",
                "case",
                "choice",
                "what is needed",
                choices=("emergency-operation", "hospitalisation", "medicine", "other"),
            ),
            Field("condition", "case", "text", "the medical condition, without names", max_len=4000),
            AMOUNT,
        ),
    ),
    "financial-support": ("support to a local helper", _identity() + _case(AMOUNT)),
    "schooling": (
        "schooling and a foster-parent sponsor for a child",
        _identity(Field("guardian_name", "identity", "text", "the child's guardian or foster parent", required=False))
        + _case(
            Field("child_age", "case", "int", "the child's age in years"),
            Field("sponsor_needed", "case", "bool", "does the child need a foster-parent sponsor (true/false)"),
            AMOUNT,
        ),
    ),
    "self-reliance": (
        "work: knit cushions, wooden key holders and crosses",
        _identity()
        + _case(
            Field("product", "case", "choice", "what they make", choices=("knit-cushions", "key-holders", "crosses", "other")),
            Field("stage", "case", "choice", "what help is needed", choices=("production", "distribution", "sale")),
            AMOUNT,
            # added for programme reports; optional, so earlier case files and forms stay valid
            Field("items", "case", "int", "items made or sold so far (0 if none or not known)", required=False),
            Field("sales_usd", "case", "int", "income from sales so far, in US dollars (0 if none)", required=False),
        ),
    ),
    "relocation": (
        "relocation and settlement in a third country",
        _identity(
            Field("family_members", "identity", "text", "names and ages of family members travelling along", required=False)
        )
        + _case(
            Field("household_size", "case", "int", "number of people travelling"),
            Field("destination", "case", "text", "destination country (if known)", required=False, max_len=60),
            AMOUNT,
            # added for programme reports; optional, so earlier case files and forms stay valid
            Field(
                "stage",
                "case",
                "choice",
                "where the relocation stands",
                required=False,
                choices=("preparing", "in-transit", "awaiting-resettlement", "settled"),
            ),
        ),
    ),
    "testimony": (
        "testimony for publication, with consent",
        _identity()
        + _case(
            Field("consent", "case", "bool", "the person consents to publication (must be true)"),
            Field("anonymised", "case", "bool", "publish without any identifying detail (true/false)"),
        ),
    ),
    "press-request": (
        "a request from the press for facilities or assistance",
        (
            Field("journalist", "identity", "text", "journalist's name and outlet"),
            Field("contact", "identity", "text", "how to reach them", required=False),
            Field("request", "case", "text", "what they ask for", max_len=4000),
            Field("urgency", "case", "choice", "how soon", choices=URGENCY),
        ),
    ),
    "food-distribution": (
        "monthly food-distribution report for one route",
        (
            Field("reporter", "identity", "text", "who distributed (kept sealed)", required=False),
            Field("route", "case", "choice", "route", choices=("RN-01", "RR-02", "RR-03")),
            Field("month", "case", "month", "month reported, YYYY-MM"),
            Field("rice_kg", "case", "int", "rice distributed, in kilograms"),
            Field("shelters", "case", "int", "number of shelters reached"),
            Field("notes", "case", "text", "anything else, without names or places", required=False),
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

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def kinds_help() -> str:
    return ", ".join(KINDS)


def schema(kind: str) -> tuple[Field, ...]:
    if kind not in KINDS:
        raise FormError([f"unknown kind {kind!r}; one of: {kinds_help()}"])
    return KINDS[kind][1]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def template(kind: str) -> str:
    """A form to fill in, with every field and its help text."""
    fields = schema(kind)
    lines = [
        f"# Tessera intake form: {kind} ({KINDS[kind][0]}), schema {kind}/{SCHEMA_VERSION}",
        "# Fill in the values between the quotes. Fields in [identity] are sealed so that only several",
        "# council members together can ever read them; everything in [case] is readable by each member.",
        f'kind = "{kind}"',
        f"schema = {SCHEMA_VERSION}",
    ]
    for section in ("identity", "case"):
        lines += ["", f"[{section}]"]
        for f in fields:
            if f.section != section:
                continue
            need = "required" if f.required else "optional"
            extra = f"; one of: {', '.join(f.choices)}" if f.choices else ""
            lines.append(f"# {f.help} ({f.kind}, {need}{extra})")
            lines.append(f"{f.name} = " + ("false" if f.kind == "bool" else "0" if f.kind == "int" else '""'))
    return "\n".join(lines) + "\n"


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"\d{4}-\d{2}")


def _check(f: Field, value: Any) -> str | None:
    if f.kind in ("text", "date", "month", "choice"):
        if not isinstance(value, str):
            return f"{f.name}: expected text"
        if f.required and not value.strip():
            return f"{f.name}: required ({f.help})"
        if len(value) > f.max_len:
            return f"{f.name}: at most {f.max_len} characters"
        if value and f.kind == "date" and not _DATE.fullmatch(value):
            return f"{f.name}: expected a date YYYY-MM-DD, got {value!r}"
        if value and f.kind == "month" and not _MONTH.fullmatch(value):
            return f"{f.name}: expected a month YYYY-MM, got {value!r}"
        if value and f.kind == "choice" and value not in f.choices:
            return f"{f.name}: expected one of {', '.join(f.choices)}, got {value!r}"
    elif f.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**9:
            return f"{f.name}: expected a whole number from 0"
    elif f.kind == "bool" and not isinstance(value, bool):
        return f"{f.name}: expected true or false"
    return None


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
        raise FormError([f"the form is not valid TOML: {exc}"]) from None
    fields = schema(kind)
    problems = []
    if data.get("kind", kind) != kind:
        problems.append(f"kind: the form is for {data.get('kind')!r}, not {kind!r}")
    if data.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
        problems.append(f"schema: this client reads schema {SCHEMA_VERSION}")
    values: dict[str, dict[str, Any]] = {"identity": {}, "case": {}}
    by_name = {f.name: f for f in fields}
    for section in ("identity", "case"):
        table = data.get(section, {})
        if not isinstance(table, dict):
            problems.append(f"[{section}] must be a table")
            continue
        for name, value in table.items():
            f = by_name.get(name)
            if f is None:
                problems.append(f"{name}: not a field of a {kind} form")
            elif f.section != section:
                problems.append(f"{name}: belongs in [{f.section}], not [{section}]")
            else:
                values[section][name] = value
    unknown_top = set(data) - {"kind", "schema", "identity", "case"}
    problems += [f"{name}: not a field of a {kind} form (put fields under [identity] or [case])" for name in sorted(unknown_top)]
    for f in fields:
        value = values[f.section].get(f.name)
        if value is None:
            if f.required:
                problems.append(f"{f.name}: required ({f.help})")
            continue
        problem = _check(f, value)
        if problem:
            problems.append(problem)
    if kind == "testimony" and values["case"].get("consent") is not True:
        problems.append("consent: testimony is only recorded with the person's consent (set consent = true)")
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
        raise FormError([f"the form is not valid TOML: {exc}"]) from None
    by_name = {f.name: f for f in schema(kind)}
    problems = []
    if "identity" in data:
        problems.append(
            "[identity]: an amendment is readable by every council member alone, so it cannot carry identity details "
            "(those are sealed only at intake, for k members together); leave them out"
        )
    problems += [
        f"{name}: an amendment form has only a [case] table" for name in sorted(set(data) - {"identity", "case", "kind"})
    ]
    table = data.get("case", {})
    if not isinstance(table, dict):
        raise FormError([*problems, "[case] must be a table"])
    for name, value in table.items():
        f = by_name.get(name)
        if f is None or f.section != "case":
            where = f" (it belongs in [{f.section}])" if f is not None else ""
            problems.append(f"{name}: not a case-file field of a {kind} form{where}")
            continue
        problem = _check(f, value)
        if problem:
            problems.append(problem)
    if problems:
        raise FormError(problems)
    return dict(table)
