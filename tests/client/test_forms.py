import tomllib

import pytest

from client.forms import KINDS, FormError, parse_form, template


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_template_parses_and_names_its_required_fields(kind: str) -> None:
    text = template(kind)
    data = tomllib.loads(text)
    assert data["kind"] == kind and set(data) == {"kind", "schema", "identity", "case"}
    with pytest.raises(FormError) as caught:
        parse_form(text, kind)
    required = [f.name for f in KINDS[kind][1] if f.required and f.kind not in ("int", "bool")]
    for name in required:
        assert any(p.startswith(f"{name}:") for p in caught.value.problems), name


MEDICAL = """kind = "medical"
schema = 1
[identity]
full_name = "김영희 金英姬 きむ"
exact_location = "연길시"
[case]
region = "Jilin"
urgency = "high"
narrative = "needs an operation"
treatment = "emergency-operation"
condition = "appendicitis"
amount_usd = 1200
"""


def test_a_good_form_splits_identity_from_case_file() -> None:
    form = parse_form(MEDICAL, "medical")
    assert form.identity == {"full_name": "김영희 金英姬 きむ", "exact_location": "연길시"}
    assert form.case["amount_usd"] == 1200 and "full_name" not in form.case


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (('region = "Jilin"', 'region = "Jilin"\nfull_name = "x"'), "full_name: belongs in [identity], not [case]"),
        (('urgency = "high"', 'urgency = "soon"'), "urgency: expected one of low, medium, high, critical"),
        (("amount_usd = 1200", 'amount_usd = "1200"'), "amount_usd: expected a whole number"),
        (("amount_usd = 1200", "amount_usd = -5"), "amount_usd: expected a whole number"),
        (
            ('exact_location = "연길시"', 'exact_location = "연길시"\ndate_of_birth = "1.3.1990"'),
            "date_of_birth: expected a date",
        ),
        (('narrative = "needs an operation"', 'narrative = "needs an operation"\nshoe_size = 40'), "shoe_size: not a field"),
        (('kind = "medical"', 'kind = "shelter"'), "kind: the form is for 'shelter'"),
        (("schema = 1", "schema = 9"), "schema: this client reads schema 1"),
        (('full_name = "김영희 金英姬 きむ"', 'full_name = ""'), "full_name: required"),
        (("[case]", "[case\n"), "not valid TOML"),
    ],
)
def test_each_bad_field_is_named(change: tuple[str, str], problem: str) -> None:
    with pytest.raises(FormError) as caught:
        parse_form(MEDICAL.replace(*change), "medical")
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_testimony_needs_consent() -> None:
    text = (
        template("testimony").replace('full_name = ""', 'full_name = "A"').replace('exact_location = ""', 'exact_location = "B"')
    )
    text = (
        text.replace('region = ""', 'region = "Jilin"')
        .replace('urgency = ""', 'urgency = "low"')
        .replace('narrative = ""', 'narrative = "n"')
    )
    with pytest.raises(FormError, match="consent"):
        parse_form(text, "testimony")
    assert parse_form(text.replace("consent = false", "consent = true"), "testimony").case["consent"] is True


def test_unknown_kind() -> None:
    with pytest.raises(FormError, match="unknown kind"):
        template("pizza")
