"""One person, folded the same way for intake-svc's partition key and case-svc's locks."""

from __future__ import annotations

import pytest

from casestream.contact_keys import email_key, lock_keys, partition_key, person_key

ADA = {"first_name": "Ada", "last_name": "Lovelace", "phone": "+44 20 7946 0000"}


def test_an_email_is_trimmed_and_lowercased_and_blank_is_none():
    assert email_key("  Ada@Example.ORG ") == "ada@example.org"
    assert email_key("   ") is None
    assert email_key(None) is None


def test_a_person_needs_both_names_and_a_phone_with_digits():
    assert person_key(ADA) == ("ada", "lovelace", "442079460000")
    assert person_key({**ADA, "last_name": "  "}) is None
    assert person_key({**ADA, "phone": "ext. -"}) is None
    assert person_key({"first_name": "Ada", "last_name": "Lovelace"}) is None


def test_only_ascii_digits_count_in_a_phone():
    # Arabic-Indic digits are digits to str.isdigit(), not to the contact lookup.
    assert person_key({**ADA, "phone": "٤٤٢٠"}) is None


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"email": " ADA@example.org", **ADA}, "ada@example.org"),
        (ADA, "ada lovelace|442079460000"),
        ({"first_name": "Ada"}, "the-submission"),
    ],
)
def test_the_partition_key_is_the_email_else_the_person_else_the_fallback(values, key):
    assert partition_key(values, otherwise="the-submission") == key


def test_two_spellings_of_one_person_share_every_key():
    one = {"email": "ada@example.org", **ADA}
    other = {
        "email": " ADA@Example.org ",
        "first_name": " ada",
        "last_name": "LOVELACE ",
        "phone": "(44) 2079-460000",
    }
    assert partition_key(one, "a") == partition_key(other, "b")
    assert (
        lock_keys(one)
        == lock_keys(other)
        == [
            "email:ada@example.org",
            "person:ada|lovelace|442079460000",
        ]
    )


def test_nothing_to_match_by_locks_nothing():
    assert lock_keys({"first_name": "Ada"}) == []
