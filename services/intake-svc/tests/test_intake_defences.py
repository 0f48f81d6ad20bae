"""Abuse defences on POST /f/{slug}: the signed render token, the minimum time, the honeypot,
rate limits, field count limits. Each is shown refusing what it must and letting the honest
post through."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from casestream.testing.services import STAFF_HEADERS
from intake_svc.render_tokens import sign

from .conftest import FORM_SECRET, contact_form, hidden_inputs, tightened

GOOD = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.org",
    "subject": "Engine question",
}


async def stored(intake, slug: str) -> list[dict[str, Any]]:
    response = await intake.client.get(
        "/submissions", params={"form": slug, "limit": 500}, headers=STAFF_HEADERS
    )
    return response.json()["items"]


def token_for(slug: str, key: str, age_s: float, secret: str = FORM_SECRET) -> str:
    return sign(secret, slug, key, rendered_at=time.time() - age_s)


def other_client(intake, address: str) -> httpx.AsyncClient:
    """A client connecting from another address, to the same running app."""
    transport = httpx.ASGITransport(app=intake.app, client=(address, 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://svc")


# -- the render token ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "notice"),
    [
        (lambda slug, key: "", "could not be verified"),
        (lambda slug, key: token_for(slug, key, 10)[:-2] + "xx", "could not be verified"),
        (lambda slug, key: token_for(slug, key, 10, secret="guessed"), "could not be verified"),
        (lambda slug, key: token_for("another-form", key, 10), "could not be verified"),
        (lambda slug, key: token_for(slug, "another-key", 10), "could not be verified"),
        (lambda slug, key: token_for(slug, key, -3600), "could not be verified"),  # future
        (lambda slug, key: "12.34.56", "could not be verified"),
        (lambda slug, key: token_for(slug, key, 2 * 24 * 3600), "open too long"),
    ],
    ids=[
        "missing",
        "tampered",
        "wrong secret",
        "other form",
        "other key",
        "future",
        "garbage",
        "expired",
    ],
)
async def test_a_page_post_without_a_good_token_gets_the_form_again(intake, token, notice):
    slug = f"token-{uuid.uuid4().hex[:8]}"
    await intake.put_form(slug)
    key = str(uuid.uuid4())
    sent = token(slug, key)
    response = await intake.client.post(
        f"/f/{slug}", data={**GOOD, "_idempotency_key": key, "_token": sent, "ignored": "x"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert notice in page and 'role="alert"' in page
    assert 'value="Lovelace"' in page  # what she typed is kept
    assert await stored(intake, slug) == []

    # The page it answers with carries a fresh token for the same key: sending it works.
    inputs = hidden_inputs(page)
    assert inputs["_idempotency_key"] == key and inputs["_token"] not in ("", sent)
    resent = await intake.client.post(f"/f/{slug}", data={**GOOD, **inputs, "ignored": "x"})
    assert resent.status_code == 303
    [submission] = await stored(intake, slug)
    assert submission["status"] == "received" and submission["idempotency_key"] == key
    # Neither the page's own inputs nor unknown fields are stored.
    assert sorted(submission["values"]) == ["email", "first_name", "last_name", "subject"]


async def test_a_good_token_survives_a_page_with_field_errors(intake):
    await intake.put_form("token-kept")
    inputs = await intake.page_inputs("token-kept")
    response = await intake.client.post("/f/token-kept", data={**GOOD, **inputs, "email": "x"})
    assert response.status_code == 422
    assert hidden_inputs(response.text) == inputs  # the first render's time still counts


@pytest.mark.parametrize(
    ("body", "headers", "kind"),
    [
        ({}, {}, "token_missing"),
        ({"_token": "123.abc", "_idempotency_key": "k"}, {"Idempotency-Key": "s1"}, "token_forged"),
        (
            {"_token": token_for("token-json", "k", 2 * 24 * 3600), "_idempotency_key": "k"},
            {"Idempotency-Key": "s2"},
            "token_expired",
        ),
    ],
    ids=["no token and no key", "forged", "expired"],
)
async def test_a_json_post_without_a_good_token_is_refused_naming_it(intake, body, headers, kind):
    await intake.put_form("token-json")
    response = await intake.client.post(
        "/f/token-json", json={**GOOD, **body, "email": "bad"}, headers=headers
    )
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert errors[0]["loc"] == ["body", "_token"] and errors[0]["type"] == kind
    assert ["body", "email"] in [e["loc"] for e in errors]  # the fields are checked as well
    assert await stored(intake, "token-json") == []


async def test_a_script_with_an_idempotency_key_needs_no_token(intake):
    await intake.put_form("scripted")
    response = await intake.post_json("scripted", GOOD, key="script-1")
    assert response.status_code == 202
    # A page post that also sends the header is a script too; its own token still counts.
    inputs = await intake.page_inputs("scripted")
    page_post = await intake.client.post(
        "/f/scripted", data={**GOOD, **inputs}, headers={"Idempotency-Key": "script-2"}
    )
    assert page_post.status_code == 303
    assert len(await stored(intake, "scripted")) == 2


# -- bots: too fast, honeypot ---------------------------------------------------------------


async def test_a_post_sooner_than_the_minimum_time_is_taken_for_a_bot(intake):
    await intake.put_form("hasty")
    with tightened(intake.settings, form_min_seconds=30):
        hasty = await intake.post_page("hasty", GOOD)
        key = str(uuid.uuid4())
        patient = await intake.client.post(
            "/f/hasty",
            data={**GOOD, "_idempotency_key": key, "_token": token_for("hasty", key, 31)},
        )
        hasty_json = await intake.client.post(
            "/f/hasty",
            json={
                **GOOD,
                "_idempotency_key": key + "j",
                "_token": token_for("hasty", key + "j", 1),
            },
            headers={"Idempotency-Key": "hasty-json"},
        )
    assert hasty.status_code == patient.status_code == 303  # the bot is not told
    assert hasty_json.status_code == 202
    by_key = {s["idempotency_key"]: s for s in await stored(intake, "hasty")}
    assert by_key[key]["status"] == "received" and not by_key[key]["suspected_bot"]
    bots = [s for k, s in by_key.items() if k != key]
    assert len(bots) == 2
    assert all(s["status"] == "rejected" and s["reason"] == "too fast" for s in bots)
    assert all(s["suspected_bot"] for s in bots)
    # Its status URL says nothing different either.
    public = await intake.client.get(hasty_json.json()["status_url"])
    assert public.json()["status"] == "received" and public.json()["reason"] is None
    for bot in bots:
        assert await intake.messages_about(bot["id"]) == []
    assert len(await intake.messages_about(by_key[key]["id"])) == 1


async def test_a_filled_honeypot_is_taken_for_a_bot_and_staff_can_rescue_it(intake):
    await intake.put_form("sweet")
    page = await intake.post_page("sweet", {**GOOD, "website": "http://spam.example"})
    script = await intake.post_json("sweet", {**GOOD, "website": "http://spam.example"})
    assert page.status_code == 303 and script.status_code == 202
    bots = await stored(intake, "sweet")
    assert [s["reason"] for s in bots] == ["honeypot filled"] * 2
    assert all(s["status"] == "rejected" and "website" not in s["values"] for s in bots)
    for bot in bots:
        assert await intake.messages_about(bot["id"]) == []

    # A person wrongly taken for a bot: staff send it on after all.
    rescued = await intake.client.post(f"/submissions/{bots[0]['id']}/retry", headers=STAFF_HEADERS)
    assert rescued.status_code == 200
    assert rescued.json()["status"] == "received" and not rescued.json()["suspected_bot"]
    [message] = await intake.messages_about(bots[0]["id"])
    assert message.key == b"ada@example.org"


async def test_the_honeypot_takes_a_name_the_form_does_not_use(intake):
    fields = [
        *contact_form()["fields"],
        {"name": "website", "label": "Your website", "type": "text"},
    ]
    await intake.put_form("has-website", contact_form(fields=fields))
    page = (await intake.client.get("/f/has-website")).text
    assert 'name="homepage" value="" tabindex="-1"' in page
    response = await intake.post_page("has-website", {**GOOD, "website": "https://ada.example"})
    assert response.status_code == 303
    [submission] = await stored(intake, "has-website")
    assert submission["status"] == "received"
    assert submission["values"]["website"] == "https://ada.example"


# -- rate limits ----------------------------------------------------------------------------


async def test_one_client_posting_too_often_gets_429_with_retry_after(intake):
    await intake.put_form("per-client")
    with tightened(intake.settings, rate_per_client_per_minute=3):
        async with (
            other_client(intake, "198.51.100.7") as eager,
            other_client(intake, "198.51.100.8") as calm,
        ):
            answers = [
                (await eager.post("/f/per-client", json=GOOD, headers={"Idempotency-Key": f"e{n}"}))
                for n in range(4)
            ]
            other = await calm.post("/f/per-client", json=GOOD, headers={"Idempotency-Key": "c"})
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 2 * 60  # see rate_limits
    assert other.status_code == 202  # another address has its own count
    assert len(await stored(intake, "per-client")) == 4


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(intake):
    await intake.put_form("forwarded")

    async def post(client: httpx.AsyncClient, forwarded: str, n: int) -> int:
        response = await client.post(
            "/f/forwarded",
            json=GOOD,
            headers={"Idempotency-Key": f"{forwarded}-{n}", "X-Forwarded-For": forwarded},
        )
        return response.status_code

    async with other_client(intake, "10.0.0.1") as proxy:
        with tightened(intake.settings, rate_per_client_per_minute=2, trusted_proxy_hops=1):
            # The proxy appends the address it saw; what the client wrote before it is ignored.
            same = [await post(proxy, f"spoof-{n}, 203.0.113.1", n) for n in range(3)]
            other = await post(proxy, "203.0.113.2", 0)
        with tightened(intake.settings, rate_per_client_per_minute=2, trusted_proxy_hops=0):
            # Untrusted: the header is anyone's to write, so the peer address counts.
            spoofed = [await post(proxy, f"192.0.2.{n}", n) for n in range(3)]
    assert same == [202, 202, 429] and other == 202
    assert spoofed == [202, 202, 429]


async def test_a_form_receiving_too_many_posts_gets_429_with_retry_after(intake):
    await intake.put_form("busy")
    await intake.put_form("quiet")
    with tightened(intake.settings, rate_per_form_per_minute=2):
        answers = [await intake.post_json("busy", GOOD) for _ in range(3)]
        quiet = await intake.post_json("quiet", GOOD)
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 2 * 60  # see rate_limits
    assert quiet.status_code == 202
    assert len(await stored(intake, "busy")) == 2


# -- sizes and unknown fields ---------------------------------------------------------------


async def test_too_many_fields_are_refused_with_413(intake):
    await intake.put_form("crowded")  # 6 fields: at most 2 x (6 + 3) = 18 values
    junk = {f"junk_{n}": "x" for n in range(15)}  # 4 + 15 = 19
    response = await intake.post_json("crowded", {**GOOD, **junk})
    assert response.status_code == 413
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert "at most 18" in response.json()["detail"][0]["msg"]
    repeated = await intake.post_page("crowded", {**GOOD, "topic": ["billing"] * 20})
    assert repeated.status_code == 413
    assert await stored(intake, "crowded") == []
    fewer = await intake.post_json("crowded", {**GOOD, **dict(list(junk.items())[:14])})
    assert fewer.status_code == 202  # unknown ones under the limit are only ignored
    [submission] = await stored(intake, "crowded")
    assert sorted(submission["values"]) == ["email", "first_name", "last_name", "subject"]


async def test_the_body_limit_is_a_setting(intake):
    await intake.put_form("small")
    with tightened(intake.settings, max_body_bytes=200):
        response = await intake.post_json("small", {**GOOD, "message": "x" * 200})
    assert response.status_code == 413
    assert await stored(intake, "small") == []


async def test_a_value_longer_than_its_field_allows_is_refused_naming_it(intake):
    form = contact_form()
    form["fields"][3]["max_length"] = 10  # subject
    await intake.put_form("short", form)
    response = await intake.post_json("short", {**GOOD, "subject": "x" * 11})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "subject"] and error["type"] == "string_too_long"
