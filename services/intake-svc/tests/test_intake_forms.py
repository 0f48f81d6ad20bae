"""Staff endpoints (forms and their checks against the case type, submissions) and the public
form page."""

from __future__ import annotations

import pytest

from casestream import topics
from casestream.contracts.case import CaseTypeDefinition, CaseTypeVersion, CustomField
from casestream.testing.plugin import eventually
from casestream.testing.services import STAFF_HEADERS

from .conftest import CONTACT_FORM, case_type_event, contact_form, knows_case_types


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/forms/x"), ("GET", "/forms"), ("GET", "/forms/x"), ("GET", "/submissions")],
)
async def test_staff_endpoints_want_a_token(intake, method, path):
    bare = await intake.client.request(method, path, json=CONTACT_FORM)
    assert bare.status_code == 401
    wrong = await intake.client.request(
        method, path, json=CONTACT_FORM, headers={"Authorization": "Bearer guess"}
    )
    assert wrong.status_code == 401


async def test_put_creates_then_replaces_a_form(intake):
    created = await intake.client.put("/forms/contact", json=CONTACT_FORM, headers=STAFF_HEADERS)
    assert created.status_code == 201
    again = await intake.client.put(
        "/forms/contact", json=contact_form(title="Write to us"), headers=STAFF_HEADERS
    )
    assert again.status_code == 200
    form = (await intake.client.get("/forms/contact", headers=STAFF_HEADERS)).json()
    assert form["title"] == "Write to us" and form["slug"] == "contact"
    assert form["url"] == "/f/contact"
    assert form["created_at"] == created.json()["created_at"]
    assert [f["name"] for f in form["fields"]] == [f["name"] for f in CONTACT_FORM["fields"]]
    assert (await intake.client.get("/forms/absent", headers=STAFF_HEADERS)).status_code == 404


async def test_forms_are_listed_a_page_at_a_time(intake):
    for slug in ("list-a", "list-b", "list-c"):
        await intake.put_form(slug)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await intake.client.get("/forms", params=params, headers=STAFF_HEADERS)).json()
        seen += [f["slug"] for f in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert [s for s in seen if s.startswith("list-")] == ["list-a", "list-b", "list-c"]
    assert seen == sorted(seen)


def _field(**changes):
    return {"name": "extra", "label": "Extra", "type": "text", **changes}


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ([*CONTACT_FORM["fields"], _field(type="colour")], ["body", "fields", 6, "type"]),
        ([*CONTACT_FORM["fields"], _field(maps_to="case.owner")], ["body", "fields", 6, "maps_to"]),
        ([*CONTACT_FORM["fields"], _field(name="email")], ["body", "fields", 6, "name"]),
        ([*CONTACT_FORM["fields"], _field(type="select")], ["body", "fields", 6]),
        ([f for f in CONTACT_FORM["fields"] if f["name"] != "email"], ["body", "fields"]),
    ],
    ids=["unknown type", "unknown target", "name twice", "select without options", "no email"],
)
async def test_a_bad_definition_is_refused_naming_the_field(intake, fields, loc):
    response = await intake.client.put(
        "/forms/bad", json=contact_form(fields=fields), headers=STAFF_HEADERS
    )
    assert response.status_code == 422
    assert any(e["loc"][: len(loc)] == loc for e in response.json()["detail"]), response.json()


async def test_the_public_page_labels_every_field_and_marks_the_required_ones(intake):
    await intake.put_form("page")
    response = await intake.client.get("/f/page")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="en">' in page and '<form method="post"' in page
    for field in CONTACT_FORM["fields"]:
        assert f'<label for="field-{field["name"]}">' in page
        assert f'id="field-{field["name"]}" name="{field["name"]}"' in page
    assert page.count("(required)") == 4  # first name, last name, email, subject
    assert '<input type="email" id="field-email" name="email" value="" autocomplete="email"' in page
    assert '<option value="billing">billing</option>' in page
    assert 'name="_idempotency_key" value="' in page
    assert 'type="hidden" name="_token" value="' in page
    # The honeypot: out of sight, out of the tab order, hidden from screen readers.
    assert '<div class="trap" aria-hidden="true">' in page
    assert 'name="website" value="" tabindex="-1" autocomplete="off"' in page


async def test_submissions_are_listed_newest_first(intake):
    await intake.put_form("history")
    sent = []
    for n in range(3):
        response = await intake.post_json(
            "history",
            {"first_name": "A", "last_name": f"N{n}", "email": "a@example.org", "subject": f"S{n}"},
        )
        sent.append(response.json()["submission_id"])
    first = await intake.client.get(
        "/submissions", params={"form": "history", "limit": 2}, headers=STAFF_HEADERS
    )
    rest = await intake.client.get(
        "/submissions",
        params={"form": "history", "limit": 2, "cursor": first.json()["next_cursor"]},
        headers=STAFF_HEADERS,
    )
    listed = [s["id"] for s in first.json()["items"] + rest.json()["items"]]
    assert listed == list(reversed(sent))
    assert rest.json()["next_cursor"] is None


def _mapped(name: str, target: str, **changes):
    return {"name": name, "label": name.title(), "type": "text", "maps_to": target, **changes}


@pytest.mark.parametrize(
    ("changes", "loc", "words"),
    [
        ({"case_type": "nonesuch"}, ["body", "case_type"], "unknown case type"),
        (
            {"fields": [*CONTACT_FORM["fields"], _mapped("colour", "case.custom.colour")]},
            ["body", "fields", 6, "maps_to"],
            "no custom field 'colour'",
        ),
        (
            {
                "fields": [
                    *CONTACT_FORM["fields"],
                    _mapped("visit", "case.custom.visit_date", type="checkbox"),
                ]
            },
            ["body", "fields", 6, "type"],
            "a checkbox field cannot hold the date custom field 'visit_date' (use date)",
        ),
        (
            {
                "fields": [
                    *CONTACT_FORM["fields"],
                    _mapped("notes", "case.custom.notes", type="number"),
                ]
            },
            ["body", "fields", 6, "type"],
            "cannot hold the text custom field",
        ),
        (
            {"fields": [*CONTACT_FORM["fields"], _mapped("ref", "case.custom.referrer")]},
            ["body", "fields", 6, "type"],
            "no form field type can",
        ),
        (
            {
                "fields": [
                    *CONTACT_FORM["fields"][:5],
                    {**CONTACT_FORM["fields"][5], "options": ["billing", "cheese"]},
                ]
            },
            ["body", "fields", 5, "options"],
            "'cheese' not among the options",
        ),
        (
            {
                "fields": [
                    *CONTACT_FORM["fields"],
                    _mapped(
                        "likes", "case.custom.interests", type="multiselect", options=["a", "z"]
                    ),
                ]
            },
            ["body", "fields", 6, "options"],
            "'z' not among the options",
        ),
        ({"case_type": "strict_enquiry"}, ["body", "fields"], "requires its custom field 'ward'"),
        (
            {
                "case_type": "strict_enquiry",
                "fields": [
                    *CONTACT_FORM["fields"][:5],
                    _mapped("ward", "case.custom.ward", required=False),
                ],
            },
            ["body", "fields", 5, "required"],
            "make this field required",
        ),
        (
            {"duplicate_contact_rule": "email_or_name_phone"},
            ["body", "duplicate_contact_rule"],
            "missing: contact.phone",
        ),
    ],
    ids=[
        "unknown case type",
        "unknown custom field",
        "checkbox for a date",
        "number for text",
        "contact reference",
        "select option the field lacks",
        "multiselect option the field lacks",
        "required custom field unmapped",
        "required custom field from an optional field",
        "name and phone rule without a phone",
    ],
)
async def test_a_definition_that_does_not_fit_its_case_type_is_refused(intake, changes, loc, words):
    response = await intake.client.put(
        "/forms/misfit", json=contact_form(**changes), headers=STAFF_HEADERS
    )
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert any(p["loc"] == loc and words in p["msg"] for p in problems), problems
    assert (await intake.client.get("/forms/misfit", headers=STAFF_HEADERS)).status_code == 404


async def test_a_definition_that_fits_its_case_type_is_saved(intake):
    fields = [
        *contact_form()["fields"],  # a copy: the email field is changed below
        _mapped("visit", "case.custom.visit_date", type="date"),
        _mapped("news", "case.custom.newsletter", type="checkbox"),
        _mapped("budget", "case.custom.budget", type="number"),
        _mapped("notes", "case.custom.notes", type="textarea"),
        _mapped("likes", "case.custom.interests", type="multiselect", options=["b"]),
        _mapped("phone", "contact.phone", type="phone"),
    ]
    for field in fields:
        if field["name"] == "email":
            field["required"] = False  # the name-and-phone rule can do without
    body = contact_form(fields=fields, duplicate_contact_rule="email_or_name_phone")
    response = await intake.client.put("/forms/fits", json=body, headers=STAFF_HEADERS)
    assert response.status_code == 201, response.text
    assert response.json()["duplicate_contact_rule"] == "email_or_name_phone"
    strict = contact_form(
        case_type="strict_enquiry",
        fields=[*CONTACT_FORM["fields"][:5], _mapped("ward", "case.custom.ward", required=True)],
    )
    response = await intake.client.put("/forms/strict", json=strict, headers=STAFF_HEADERS)
    assert response.status_code == 201, response.text


async def test_forms_are_checked_against_the_newest_case_type_case_svc_announced(intake):
    def version(n: int, fields: list[str], active: bool = True) -> CaseTypeVersion:
        custom = [CustomField(name=name, label=name, type="text") for name in fields]
        return CaseTypeVersion(
            name="evolving",
            title="Evolving",
            instance="cases",
            version=n,
            active=active,
            definition=CaseTypeDefinition(custom_fields=custom),
        )

    body = contact_form(
        case_type="evolving",
        fields=[*CONTACT_FORM["fields"][:5], _mapped("colour", "case.custom.colour")],
    )
    refused = await intake.client.put("/forms/evolving", json=body, headers=STAFF_HEADERS)
    assert refused.status_code == 422  # not heard of yet
    # Inactive types are known too: a form can be saved; case-svc rejects its submissions.
    await intake.publish(topics.CASETYPE_EVENTS, [case_type_event(version(1, ["colour"], False))])
    await eventually(lambda: knows_case_types(intake.database, {"evolving": 1}))
    saved = await intake.client.put("/forms/evolving", json=body, headers=STAFF_HEADERS)
    assert saved.status_code == 201, saved.text

    await intake.publish(
        topics.CASETYPE_EVENTS,
        [case_type_event(version(2, ["shade"])), case_type_event(version(1, ["colour"]))],
        key="evolving",
    )
    await eventually(lambda: knows_case_types(intake.database, {"evolving": 2}))
    await intake.all_published()  # and the late version 1 has been handled as well
    response = await intake.client.put("/forms/evolving", json=body, headers=STAFF_HEADERS)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "fields", 5, "maps_to"]
