"""Public posts read their form from memory: a definition saved here counts for the very next
post; one saved through another replica (here: written to the table behind the app's back)
counts for the next post too, because a post is stored only if its form is still the one it
was checked against; pages (and refusals) follow within ``form_cache_seconds``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from casestream.testing.services import STAFF_HEADERS
from intake_svc.tables import forms

from .conftest import contact_form, tightened

VALUES = {
    "first_name": "Mary",
    "last_name": "Somerville",
    "email": "mary@example.org",
    "subject": "Tides",
}


def _with_message_required(definition: dict[str, Any]) -> dict[str, Any]:
    for field in definition["fields"]:
        if field["name"] == "message":
            field["required"] = True
    return definition


async def _saved_elsewhere(intake, slug: str, definition: dict[str, Any]) -> None:
    """What another replica's PUT leaves in the table (this process is not told)."""
    async with intake.database.transaction() as tx:
        await tx.session.execute(
            forms.update()
            .where(forms.c.slug == slug)
            .values(**definition, updated_at=datetime.now(UTC))
        )


async def _message_data(intake, submission_id: str) -> dict[str, Any]:
    [record] = await intake.messages_about(submission_id)
    return json.loads(record.value)["data"]


async def test_a_definition_saved_here_counts_for_the_next_post(intake):
    await intake.put_form("saved-here")
    first = await intake.post_json("saved-here", VALUES)
    assert first.status_code == 202, first.text

    await intake.put_form("saved-here", _with_message_required(contact_form()))
    refused = await intake.post_json("saved-here", VALUES)
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [["body", "message"]]

    await intake.put_form("saved-here", contact_form(existing_open_case="add_activity"))
    accepted = await intake.post_json("saved-here", VALUES)
    assert accepted.status_code == 202, accepted.text
    data = await _message_data(intake, accepted.json()["submission_id"])
    assert data["existing_open_case"] == "add_activity"

    await intake.put_form("saved-here", contact_form(enabled=False))
    assert (await intake.post_json("saved-here", VALUES)).status_code == 404
    assert (await intake.client.get("/f/saved-here")).status_code == 404


async def test_a_post_follows_a_definition_saved_by_another_replica_at_once(intake):
    await intake.put_form("saved-elsewhere")
    # Cached here for an hour: only the check in the storing statement can notice.
    with tightened(intake.settings, form_cache_seconds=3600):
        assert (await intake.post_json("saved-elsewhere", VALUES)).status_code == 202

        fixed = contact_form()
        [subject] = [f for f in fixed["fields"] if f["name"] == "subject"]
        subject["maps_to"] = "activity.details"
        await _saved_elsewhere(intake, "saved-elsewhere", fixed)
        moved = await intake.post_json("saved-elsewhere", VALUES)
        assert moved.status_code == 202, moved.text
        data = await _message_data(intake, moved.json()["submission_id"])
        assert data["case"]["subject"] is None and data["activity_details"] == "Tides"

        # Stricter elsewhere: the post passed the cached definition, not the current one.
        await _saved_elsewhere(intake, "saved-elsewhere", _with_message_required(contact_form()))
        refused = await intake.post_json("saved-elsewhere", VALUES)
        assert refused.status_code == 422
        assert [e["loc"] for e in refused.json()["detail"]] == [["body", "message"]]

        # Switched off elsewhere: a post the cached definition lets through is not stored.
        await _saved_elsewhere(intake, "saved-elsewhere", contact_form(enabled=False))
        complete = {**VALUES, "message": "Spring tides"}
        assert (await intake.post_json("saved-elsewhere", complete)).status_code == 404

    listed = await intake.client.get("/submissions?form=saved-elsewhere", headers=STAFF_HEADERS)
    assert len(listed.json()["items"]) == 2  # nothing stored for the refused and the 404


async def test_pages_are_served_from_the_cache_until_it_ages_out(intake):
    await intake.put_form("cached-page", contact_form(title="Write to us"))
    assert "Write to us" in (await intake.client.get("/f/cached-page")).text
    await _saved_elsewhere(intake, "cached-page", contact_form(title="Talk to us"))
    with tightened(intake.settings, form_cache_seconds=3600):
        page = await intake.client.get("/f/cached-page")
        assert "Write to us" in page.text  # not read again
        # A post notices the change (its statement checks the version) and reads it afresh.
        assert (await intake.post_json("cached-page", VALUES)).status_code == 202
        assert "Talk to us" in (await intake.client.get("/f/cached-page")).text
    await _saved_elsewhere(intake, "cached-page", contact_form(title="Ask us"))
    with tightened(intake.settings, form_cache_seconds=0):
        assert "Ask us" in (await intake.client.get("/f/cached-page")).text


async def test_the_same_key_after_a_change_elsewhere_is_still_one_submission(intake):
    await intake.put_form("key-then-change")
    with tightened(intake.settings, form_cache_seconds=3600):
        first = await intake.post_json("key-then-change", VALUES, key="same-key")
        await _saved_elsewhere(intake, "key-then-change", contact_form(title="Renamed"))
        again = await intake.post_json("key-then-change", VALUES, key="same-key")
    assert first.status_code == again.status_code == 202
    assert first.json()["submission_id"] == again.json()["submission_id"]
    assert len(await intake.messages_about(first.json()["submission_id"])) == 1
