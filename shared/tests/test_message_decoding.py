"""Decoding a record into its contract (no broker): a NUL anywhere is refused before the
contract sees it, an escaped backslash before "u0000" is text; an event envelope takes only
its topic's types; the fuzz's bad records are refused by every contract it has a sample of."""

from __future__ import annotations

import json

import pydantic
import pytest

from casestream.contracts.activity import ACTIVITY_EVENT_TYPES, ActivityEnvelope
from casestream.contracts.case import CASE_CLOSED, CASE_EVENT_TYPES, CaseEnvelope
from casestream.messaging.consumption import POISON, InvalidMessage, decode
from casestream.testing.factories import case_event, case_state
from casestream.testing.message_fuzz import NOT_A_NUL, SAMPLES, bad_records, marker_for


def wire(message: dict[str, object]) -> bytes:
    return json.dumps(message).encode()


def case_message(**changes: object) -> dict[str, object]:
    return {**case_event(case_state()).model_dump(mode="json"), **changes}


@pytest.mark.parametrize(
    "where",
    [
        lambda m: {**m, "subject": "a\u0000b"},
        lambda m: {**m, "data": {**m["data"], "case": {**m["data"]["case"], "subject": "\u0000"}}},
        lambda m: {**m, "data": {**m["data"], "ignored\u0000": 1}},  # a field no one reads
        lambda m: {**m, "data": {**m["data"], "note": "\\\u0000"}},  # a backslash, then a NUL
    ],
)
def test_a_nul_anywhere_is_refused_before_the_contract(where):
    with pytest.raises(InvalidMessage, match="NUL"):
        decode(CaseEnvelope, wire(where(case_message())))


def test_an_escaped_backslash_before_u0000_is_no_nul():
    message = case_message()
    message["data"]["case"]["subject"] = NOT_A_NUL
    raw = wire(message)
    assert b"\\\\u0000" in raw
    assert decode(CaseEnvelope, raw).data.case.subject == NOT_A_NUL


def test_a_record_without_a_value_is_poison():
    with pytest.raises(POISON, match="tombstone"):
        decode(CaseEnvelope, None)


def test_an_event_envelope_takes_its_topics_types_only():
    assert decode(CaseEnvelope, wire(case_message(type=CASE_CLOSED))).type == CASE_CLOSED
    with pytest.raises(pydantic.ValidationError, match=r"unknown event type 'case\.teleported'"):
        decode(CaseEnvelope, wire(case_message(type="case.teleported")))
    # An activity event on case.events is no case event.
    with pytest.raises(pydantic.ValidationError, match="unknown event type"):
        decode(CaseEnvelope, wire(case_message(type=ACTIVITY_EVENT_TYPES[0])))
    assert set(CaseEnvelope.TYPES) == set(CASE_EVENT_TYPES)
    assert set(ActivityEnvelope.TYPES) == set(ACTIVITY_EVENT_TYPES)


def test_the_asyncapi_schema_lists_the_types():
    schema = CaseEnvelope.model_json_schema()
    assert set(schema["properties"]["type"]["enum"]) == set(CASE_EVENT_TYPES)


@pytest.mark.parametrize("contract", list(SAMPLES), ids=lambda c: c.__name__)
def test_every_sample_gives_a_valid_marker_and_bad_records_its_contract_refuses(contract):
    marker = marker_for(contract)
    assert decode(contract, wire(marker.model_dump(mode="json"))).id == marker.id
    for record in bad_records(contract, marker.subject):
        if not record.must_dead_letter:
            continue
        with pytest.raises(POISON) as refused:
            decode(contract, record.value)
        assert record.problem.lower() in f"{refused.value}".lower(), record.name
