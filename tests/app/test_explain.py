"""The inbox's lines: one per link, in a manager's words, masked, strongest first, old evidence kept."""

from __future__ import annotations

from app.inbox.explain import (
    Bands,
    End,
    Line,
    Strength,
    explain_link,
    likelihood,
    percent,
    pick_ends,
    strongest_first,
    suggestion_probability,
)
from core.records import Evidence
from core.values import Channel, Provenance

BANDS = Bands(strong=0.98, likely=0.5)
PHONE = "phone:+79123456789"
PRIOR = Evidence(rule="prior", detail="", score=-13.2)
CHANNELS = Evidence(rule="channel", detail="different channels", score=-0.049)


def phone(score: float = 14.713) -> Evidence:
    return Evidence(rule="phone", detail="same phone +7 912 ***-**-89", score=score, values={"identifier": PHONE})


def name(detail: str, score: float, level: str = "exact") -> Evidence:
    return Evidence(rule="name", detail=detail, score=score, values={"level": level})


def text(level: str, seconds: str, score: float = 20.168) -> Evidence:
    return Evidence(rule="text", detail="ignored", score=score, values={"level": level, "seconds": seconds})


def end(channel: Channel, provenance: Provenance | None = None, key: str = "") -> End:
    held = {PHONE: provenance} if provenance else {}
    return End(key=key or f"{channel}:1", channel=channel, held=held)


def test_a_verified_whatsapp_number_typed_in_the_form() -> None:
    evidence = (PRIOR, name("name Петров Александр ≈ Саша Петров", 10.137, "equivalent"), phone())
    ends = (end(Channel.WEBFORM, Provenance.TYPED), end(Channel.WHATSAPP, Provenance.CHANNEL))
    line = explain_link(evidence, ends, BANDS)
    assert line.text == "WhatsApp +7 912 ***-**-89 is the phone typed in the web form; Петров Александр ≈ Саша Петров"
    assert line.strength is Strength.STRONG and line.channels == ("webform", "whatsapp")
    assert line.probability is not None and 0.999 < line.probability < 1.0


def test_two_channels_that_verified_the_number_are_certain() -> None:
    ends = (end(Channel.WHATSAPP, Provenance.CHANNEL), end(Channel.TELEGRAM, Provenance.CHANNEL))
    line = explain_link((PRIOR, phone()), ends, BANDS)
    assert line.text == "WhatsApp +7 912 ***-**-89 is the phone Telegram confirmed"
    assert line.strength is Strength.CERTAIN and line.strength.bars == 4
    both = explain_link((PRIOR, phone()), (end(Channel.MAX, Provenance.CHANNEL), ends[1]), BANDS)
    assert both.text == "MAX and Telegram both confirmed the phone +7 912 ***-**-89"


def test_typed_and_mentioned_numbers_say_where() -> None:
    telegram = end(Channel.TELEGRAM, Provenance.CHANNEL)
    avito = end(Channel.AVITO, Provenance.MENTIONED)
    line = explain_link((PRIOR, phone()), (avito, telegram), BANDS)
    assert line.text == "the phone written in a message on Avito is Telegram's confirmed phone +7 912 ***-**-89"
    forms = (end(Channel.WEBFORM, Provenance.TYPED, "webform:a"), end(Channel.WEBFORM, Provenance.TYPED, "webform:b"))
    assert explain_link((PRIOR, phone()), forms, BANDS).text.startswith(
        "same phone +7 912 ***-**-89 typed in the web form both times"
    )
    assert explain_link((PRIOR, phone()), None, BANDS).text == "same phone +7 912 ***-**-89"


def test_the_same_question_names_both_channels_and_the_gap() -> None:
    evidence = (
        PRIOR,
        name("name Александр П. ≈ Саша Петров (initial)", 8.67, "initial"),
        text("same_soon", "180"),
        CHANNELS,
    )
    line = explain_link(evidence, (end(Channel.AVITO), end(Channel.TELEGRAM)), BANDS)
    assert line.text == "same question on Avito and Telegram 3 min apart; Александр П. ≈ Саша Петров"
    topic = (PRIOR, name("same name Анна", 4.822), text("topic_soon", "0", 15.227), CHANNELS)
    assert (
        explain_link(topic, (end(Channel.MAX), end(Channel.TELEGRAM)), BANDS).text
        == "the same subject in other words on MAX and Telegram within a minute; same name Анна"
    )


def test_what_speaks_against_a_link_follows_a_but() -> None:
    evidence = (PRIOR, name("different names Мария Козлова / Пётр Иванов", -9.526, "different"), phone())
    ends = (end(Channel.WEBFORM, Provenance.TYPED, "webform:a"), end(Channel.WEBFORM, Provenance.TYPED, "webform:b"))
    line = explain_link(evidence, ends, BANDS)
    assert line.text.endswith(", but the names differ: Мария Козлова / Пётр Иванов")
    assert line.strength is Strength.WEAK
    assert likelihood(line.probability) == "under 1% likely the same person"


def test_strength_bands_follow_the_resolver_thresholds() -> None:
    assert BANDS.word(0.99) is Strength.STRONG and BANDS.word(0.98) is Strength.STRONG
    assert BANDS.word(0.9) is Strength.LIKELY and BANDS.word(0.5) is Strength.LIKELY
    assert BANDS.word(0.2) is Strength.WEAK
    assert [percent(p) for p in (0.871, 0.996, 0.004)] == ["87%", "over 99%", "under 1%"]
    assert likelihood(0.871) == "87% likely the same person" and likelihood(None) == "likelihood not measured"


def test_manual_links_say_who_linked_them() -> None:
    manual = (Evidence(rule="manual", detail="linked by anna"),)
    line = explain_link(manual, (end(Channel.WHATSAPP), end(Channel.TELEGRAM)), BANDS, linked_by="anna")
    assert line.text == "WhatsApp and Telegram linked by anna" and line.strength is Strength.CONFIRMED
    accepted = explain_link((PRIOR, phone()), None, BANDS, linked_by="sue")
    assert accepted.text == "same phone +7 912 ***-**-89; linked by sue" and accepted.linked_by == "sue"


def test_old_evidence_without_weights_reads_as_stored_unrated() -> None:
    old = (
        Evidence(rule="phone", detail="same phone +7 912 ***-**-89", score=60.0),
        Evidence(rule="name", detail="name Alexander ≈ Саша", score=20.0),
        Evidence(rule="phone", detail="same phone +7 912 ***-**-89", score=60.0),
    )
    line = explain_link(old, (end(Channel.WHATSAPP), end(Channel.TELEGRAM)), BANDS)
    assert line.text == "WhatsApp and Telegram: same phone +7 912 ***-**-89; name Alexander ≈ Саша"
    assert line.strength is Strength.UNRATED and line.probability is None
    assert explain_link((), None, BANDS).text == "no recorded evidence"
    assert (
        explain_link((Evidence(rule="channel_account", detail="same account"),), None, BANDS).strength
        is Strength.CERTAIN
    )
    assert suggestion_probability(20.0, old) is None and suggestion_probability(0.87, old) == 0.87


def test_full_numbers_never_leave() -> None:
    leaked = (Evidence(rule="phone", detail="same phone +79123456789, a.petrov@mail.ru", score=60.0),)
    line = explain_link(leaked, None, BANDS)
    assert "9123456789" not in line.text and "a.petrov@" not in line.text


def test_lines_strongest_first_each_once() -> None:
    lines = [
        Line(text="b", strength=Strength.LIKELY, probability=0.7),
        Line(text="a", strength=Strength.STRONG, probability=0.99),
        Line(text="old", strength=Strength.UNRATED, probability=None),
        Line(text="c", strength=Strength.CERTAIN, probability=0.9),
        Line(text="a", strength=Strength.WEAK, probability=0.1),
    ]
    assert [(x.text, x.strength) for x in strongest_first(lines)] == [
        ("c", Strength.CERTAIN),
        ("a", Strength.STRONG),
        ("b", Strength.LIKELY),
        ("old", Strength.UNRATED),
    ]


def test_the_joined_profiles_are_the_ones_holding_the_identifier() -> None:
    tg = end(Channel.TELEGRAM, Provenance.CHANNEL, "telegram:1")
    avito = end(Channel.AVITO, None, "avito:1")
    form = end(Channel.WEBFORM, Provenance.TYPED, "webform:1")
    assert pick_ends((PRIOR, phone()), [form], [avito, tg], {}) == (form, tg)
    # No identifier: the pair with the strongest evidence edge.
    wa = end(Channel.WHATSAPP, None, "whatsapp:1")
    edges = {frozenset(("whatsapp:1", "avito:1")): 11.0, frozenset(("whatsapp:1", "telegram:1")): 3.0}
    assert pick_ends((PRIOR, text("same_soon", "60")), [wa], [tg, avito], edges) == (wa, avito)
    assert pick_ends((PRIOR,), [wa], [tg, avito], {}) == (wa, tg)
    assert pick_ends((PRIOR,), [], [tg], {}) is None
