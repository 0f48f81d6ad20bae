"""Typed custom fields: definitions a case type may use, and the values a case may store."""

import uuid
from pathlib import Path

import pytest

import case_svc
from case_svc.custom_fields import check_definition_fields, validated_custom
from case_svc.tables import contacts
from casestream.commands import Refused
from casestream.contracts.case import CustomField
from casestream.persistence.database import Database
from casestream.testing.services import migrated_database

MIGRATIONS = Path(case_svc.__file__).parent / "migrations"
LIVE, MERGED = uuid.uuid4(), uuid.uuid4()
WARD = {"label": "Ward", "options": ["North", "South"]}
TAGS = {"label": "Needs", "options": ["ramp", "interpreter", "parking"]}


@pytest.fixture(scope="module")
async def database(create_database):
    # One migrated database for the module: these checks need tables, not a broker.
    db = Database(await migrated_database(create_database, "case", MIGRATIONS))
    async with db.transaction() as tx:
        await tx.session.execute(
            contacts.insert(),
            [
                {"id": LIVE, "display_name": "Ada", "merged_into": None},
                {"id": MERGED, "display_name": "Ada L", "merged_into": LIVE},
            ],
        )
    yield db
    await db.dispose()


def field(type_: str, **extra) -> CustomField:
    return CustomField(name="value", label=extra.pop("label", "Value"), type=type_, **extra)


def case_id(value) -> str:
    return value.type if isinstance(value, CustomField) else repr(value)[:24]


async def custom(database, fields, given, current=None):
    async with database.transaction() as tx:
        return await validated_custom(tx, fields, given, current=current)


async def refusal(database, fields, given, current=None) -> Refused:
    with pytest.raises(Refused) as caught:
        await custom(database, fields, given, current)
    assert caught.value.status_code == 422
    return caught.value


GOOD = [
    (field("text"), "Elm St, flat 2", "Elm St, flat 2"),
    (field("text"), "x" * 10_000, "x" * 10_000),
    (field("number"), 42, 42),
    (field("number"), -1.5, -1.5),
    (field("money"), "12.5", "12.50"),
    (field("money"), " 1000 ", "1000.00"),
    (field("money"), 12, "12.00"),
    (field("money"), 0.1, "0.10"),
    (field("money"), "-3.25", "-3.25"),
    (field("money"), "-0", "0.00"),
    (field("date"), "2024-02-29", "2024-02-29"),
    (field("datetime"), "2024-05-01T09:30:00+02:00", "2024-05-01T07:30:00Z"),
    (field("datetime"), "2024-05-01T09:30Z", "2024-05-01T09:30:00Z"),
    (field("boolean"), True, True),
    (field("boolean"), False, False),
    (field("select", **WARD), "South", "South"),
    (field("multiselect", **TAGS), ["parking", "ramp"], ["ramp", "parking"]),
    (field("email"), " Ada@EXAMPLE.org ", "Ada@example.org"),
    (field("phone"), " +44 (0)20 7946-0958 ", "+44 (0)20 7946-0958"),
    (field("url"), "https://example.org/a?b=1", "https://example.org/a?b=1"),
    (field("contact_reference"), str(LIVE).upper(), str(LIVE)),
]


@pytest.mark.parametrize(("spec", "given", "stored"), GOOD, ids=case_id)
async def test_good_values_are_stored_normalised(database, spec, given, stored):
    assert await custom(database, [spec], {"value": given}) == {"value": stored}


BAD = [
    (field("text"), 12, "Value must be text"),
    (field("text"), "x" * 10_001, "at most 10000 characters (it has 10001)"),
    (field("number"), "42", "Value must be a number"),
    (field("number"), True, "Value must be a number"),
    (field("number"), float("nan"), "a finite number"),
    (field("money"), "12.345", "at most 2 decimal places, like 12.50"),
    (field("money"), 1.005, "at most 2 decimal places"),
    (field("money"), "1,000", "at most 2 decimal places"),
    (field("money"), "12e3", "at most 2 decimal places"),
    (field("money"), True, "at most 2 decimal places"),
    (field("date"), "01/02/2024", "Value must be a date as YYYY-MM-DD"),
    (field("date"), "2023-02-29", "a date as YYYY-MM-DD"),
    (field("datetime"), "2024-05-01T09:30:00", "a date and time with an offset"),
    (field("datetime"), "2024-05-01", "a date and time with an offset"),
    (field("datetime"), 1714550000, "a date and time with an offset"),
    (field("boolean"), "yes", "Value must be true or false"),
    (field("boolean"), 1, "Value must be true or false"),
    (field("select", **WARD), "East", "Ward must be one of: North, South"),
    (field("multiselect", **TAGS), "ramp", "a list of distinct choices from: ramp, interp"),
    (field("multiselect", **TAGS), ["ramp", "ramp"], "a list of distinct choices"),
    (field("multiselect", **TAGS), ["ramp", "lift"], "a list of distinct choices"),
    (field("email"), "ada@", "Value must be an email address ("),
    (field("email"), ["a@example.org"], "Value must be an email address"),
    (field("phone"), "12-34", "Value must be a phone number: at least 5 digits"),
    (field("phone"), "call 0123456", "a phone number"),
    (field("phone"), "1" * 31, "at most 30 long"),
    (field("url"), "ftp://example.org", "Value must be a web address starting with http"),
    (field("url"), "https://", "a web address"),
    (field("url"), "https://example.org:port", "a web address"),
    (field("contact_reference"), "Ada", "Value must be the id (a UUID) of a contact"),
    (field("contact_reference"), str(uuid.uuid4()), "must be an existing contact"),
    (field("contact_reference"), str(MERGED), f"was merged into {LIVE}; use that"),
]


@pytest.mark.parametrize(("spec", "given", "message"), BAD, ids=case_id)
async def test_bad_values_are_refused_naming_the_field(database, spec, given, message):
    refused = await refusal(database, [spec], {"value": given})
    assert refused.field == ("body", "custom", "value")
    assert message in refused.message, refused.message


FIELDS = [
    CustomField(name="ward", label="Ward", type="select", options=["North", "South"]),
    CustomField(name="priority", label="Priority", type="number", required=True, default=3),
    CustomField(name="consent", label="Consent", type="boolean", required=True),
    CustomField(name="notes", label="Notes", type="text"),
]


async def test_opening_applies_defaults_and_needs_every_required_value(database):
    assert await custom(database, FIELDS, {"consent": False}) == {"priority": 3, "consent": False}
    # A blank value, as a web form sends for an empty input, counts as not given.
    opened = await custom(database, FIELDS, {"consent": True, "priority": None, "notes": " "})
    assert opened == {"priority": 3, "consent": True}
    given = {"consent": True, "priority": 1, "ward": "North"}
    assert await custom(database, FIELDS, given) == given

    refused = await refusal(database, FIELDS, {"ward": "North"})
    assert refused.field == ("body", "custom", "consent")
    assert refused.message == "Consent is required; give a value"
    refused = await refusal(database, FIELDS, {"consent": True, "colour": "red"})
    assert refused.field == ("body", "custom", "colour")
    assert "no custom field 'colour'" in refused.message


async def test_editing_merges_over_the_current_values(database):
    current = {"ward": "North", "priority": 3, "consent": True, "notes": "first call"}
    edited = await custom(database, FIELDS, {"priority": 5, "notes": None}, current)
    assert edited == {"ward": "North", "priority": 5, "consent": True}
    # Defaults are for opening: an edit does not bring back a value someone removed.
    assert await custom(database, FIELDS, {}, {"priority": 1, "consent": False}) == {
        "priority": 1,
        "consent": False,
    }

    refused = await refusal(database, FIELDS, {"priority": None}, current)
    assert refused.field == ("body", "custom", "priority")
    assert refused.message == "Priority is required; it cannot be cleared"
    refused = await refusal(database, FIELDS, {"ward": "West"}, current)
    assert refused.field == ("body", "custom", "ward")
    refused = await refusal(database, FIELDS, {"colour": "red"}, current)
    assert refused.field == ("body", "custom", "colour")


def test_good_definitions_pass():
    check_definition_fields(
        [
            *FIELDS,
            CustomField(name="visit_on_2", label="Visit", type="date", default="2024-01-31"),
            CustomField(name="needs", label="Needs", type="multiselect", options=["a", "b"]),
            CustomField(name="owner", label="Owner", type="contact_reference"),
            CustomField(name="budget", label="Budget", type="money", default="10", options=[]),
        ]
    )


DEFINITION_REFUSALS = [
    ({"name": "Ward"}, "name", "must be lower_snake_case"),
    ({"name": "ward__no"}, "name", "must be lower_snake_case"),
    ({"name": "x" * 64}, "name", "must be lower_snake_case"),
    ({"label": " "}, "label", "needs a label"),
    ({"type": "colour"}, "type", "Ward: the type must be one of: text, number, money"),
    ({"type": "select"}, "options", "a select field needs options"),
    ({"type": "multiselect", "options": ["a", " "]}, "options", "needs options"),
    ({"type": "select", "options": ["a", "a"]}, "options", "options must be unique"),
    ({"options": ["a"]}, "options", "only select and multiselect fields have options"),
    ({"type": "number", "default": "3"}, "default", "not valid: Ward must be a number"),
    ({"type": "select", "options": ["a"], "default": "b"}, "default", "must be one of: a"),
    ({"type": "contact_reference", "default": "me"}, "default", "the id (a UUID)"),
    ({"required": True, "type": "email", "default": "x"}, "default", "an email address"),
]


@pytest.mark.parametrize(("change", "attr", "message"), DEFINITION_REFUSALS, ids=str)
def test_bad_definitions_are_refused_naming_the_attribute(change, attr, message):
    bad = CustomField.model_validate({"name": "ward", "label": "Ward", "type": "text"} | change)
    with pytest.raises(Refused) as caught:
        check_definition_fields([FIELDS[3], bad])
    assert caught.value.field == ("body", "definition", "custom_fields", "1", attr)
    assert message in caught.value.message, caught.value.message


def test_custom_field_names_are_unique():
    with pytest.raises(Refused) as caught:
        check_definition_fields([FIELDS[0], FIELDS[1], FIELDS[0]])
    assert caught.value.field == ("body", "definition", "custom_fields", "2", "name")
    assert caught.value.message == "there is already a custom field named 'ward'"
