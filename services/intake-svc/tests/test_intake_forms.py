"""Staff endpoints (forms, submissions) and the public form page."""

from __future__ import annotations

import pytest

from casestream.testing.services import STAFF_HEADERS

from .conftest import CONTACT_FORM, contact_form


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


async def test_submissions_are_listed_newest_first(intake):
    await intake.put_form("history")
    sent = []
    for n in range(3):
        response = await intake.client.post(
            "/f/history",
            json={
                "first_name": "A",
                "last_name": f"N{n}",
                "email": "a@example.org",
                "subject": f"S{n}",
            },
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
