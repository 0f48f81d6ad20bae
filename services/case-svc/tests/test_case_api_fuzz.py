"""Bad input never gives a 5xx (issue 12): schemathesis over every operation of case-svc's
API (``casestream.testing.fuzz``), and the cases it once found, each a 422 naming the field."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from casestream.testing.fuzz import assert_no_server_error, refused

from .conftest import CaseService, case_service


@pytest.fixture(scope="module")
async def fuzzed(create_database: Any, kafka_bootstrap: str) -> AsyncIterator[CaseService]:
    """An app of its own (what the fuzzer creates stays out of the session's), HTTP only."""
    async with case_service(create_database, kafka_bootstrap, lifespan=False) as service:
        yield service


async def test_no_input_gives_a_server_error(fuzzed: CaseService) -> None:
    await assert_no_server_error(fuzzed)


async def test_a_nul_in_a_label_is_refused_naming_it(service: CaseService) -> None:
    instance = {"name": "nul_label", "singular_label": "Case", "instance_type": "case_management"}
    response = await service.client.post("/instances", json={**instance, "label": "\u0000"})
    [error] = refused(response, "body", "label")
    assert error["type"] == "string_control_character"


async def test_a_weight_beyond_an_integer_is_refused_naming_it(service: CaseService) -> None:
    status = {"name": "too_heavy", "label": "Too heavy", "grouping": "opened"}
    response = await service.client.post("/case-statuses", json={**status, "weight": 8169879825})
    [error] = refused(response, "body", "weight")
    assert error["type"] == "less_than_equal"


async def test_a_control_character_in_a_tag_query_is_refused_naming_it(
    service: CaseService,
) -> None:
    response = await service.client.get("/cases", params={"tag": ["fine", "bell\u0007"]})
    refused(response, "query", "tag", 1)


async def test_a_nul_in_a_path_name_is_refused_naming_it(service: CaseService) -> None:
    refused(await service.client.get("/instances/a%00b"), "path", "name")


async def test_a_nul_in_custom_values_is_refused_naming_them(service: CaseService) -> None:
    case = {"case_type": "general_enquiry", "subject": "Nul", "custom": {"ward": "a\u0000"}}
    [error] = refused(await service.client.post("/cases", json=case), "body", "custom")
    assert "ward" in error["msg"]


async def test_a_body_not_utf8_or_not_json_is_a_client_error(service: CaseService) -> None:
    headers = {"content-type": "application/json"}
    not_utf8 = await service.client.post(
        "/case-statuses", content=b'{"name": "\xff"}', headers=headers
    )
    assert not_utf8.status_code == 400, not_utf8.text
    not_json = await service.client.post("/case-statuses", content=b'{"name": ', headers=headers)
    assert not_json.status_code == 422, not_json.text
    assert not_json.json()["detail"][0]["type"] == "json_invalid"
