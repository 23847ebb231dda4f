"""Phone and e-mail normalization: the exact-link keys."""

from __future__ import annotations

import pytest

from core.phones import emails_in_text, mask_email, mask_phone, normalize_email, normalize_phone, phones_in_text


@pytest.mark.parametrize(
    "raw",
    ["8 (912) 345-67-89", "89123456789", "9123456789", "+7 912 345 67 89", "whatsapp:+79123456789", "79123456789"],
)
def test_russian_formats_meet_in_e164(raw: str) -> None:
    assert normalize_phone(raw, "RU") == "+79123456789"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("0048 601 234 567", "+48601234567"), ("404-931-9150", "+14049319150"), ("+48 601-234-567", "+48601234567")],
)
def test_foreign_numbers(raw: str, e164: str) -> None:
    assert normalize_phone(raw, "RU") == e164


@pytest.mark.parametrize("raw", ["", "12", "12345", "0000000", "+79999999999", "+71234567890", "телефон", "9" * 41])
def test_invalid_and_generic_phones_never_link(raw: str) -> None:
    assert normalize_phone(raw, "RU") is None


def test_emails() -> None:
    assert normalize_email(" A.Petrov@Mail.RU ") == "a.petrov@mail.ru"
    for raw in ["test@test.com", "asd@example.com", "no-at-sign", "a@", "x@y"]:
        assert normalize_email(raw) is None


def test_identifiers_inside_text() -> None:
    text = "Перезвоните на 8 912 345-67-89 или пишите a.petrov@mail.ru, заказ 123"
    assert phones_in_text(text, "RU") == ["+79123456789"]
    assert emails_in_text(text) == ["a.petrov@mail.ru"]
    assert phones_in_text("Актуально? 2 шт", "RU") == []


def test_masks_keep_nothing_a_log_reader_could_use() -> None:
    assert mask_phone("+79123456789") == "+7 912 ***-**-89"
    assert mask_email("a.petrov@mail.ru") == "a***@mail.ru"
