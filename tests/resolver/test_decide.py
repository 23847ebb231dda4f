"""`decide` as a plain function: a message and its neighbourhood in, a decision out, no store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.config import ResolverSettings
from core.records import Profile, RecentHit
from core.values import Channel, Identifier, IdKind, Message
from resolver.comparison import compare_pair
from resolver.decide import Decision, decide, pair_probability
from resolver.neighbourhood import Neighbourhood, Pair, PersonView
from resolver.training import default_model
from tests.resolver.traffic import at

MODEL = default_model()
SETTINGS = ResolverSettings()
QUESTION = "Здравствуйте! Можно комод из ясеня другого цвета, синий? Бюджет до 40 тысяч."
REWORDED = "Добрый день, комод из ясеня есть в синем цвете? Бюджет до 40 тысяч."


@dataclass(frozen=True, slots=True, kw_only=True)
class Said:
    """A message an earlier profile sent, its person alone."""

    channel: Channel
    user: str
    name: str
    text: str
    minute: float


def message(channel: Channel, user: str, name: str, text: str, minute: float) -> Message:
    ids = (Identifier(kind=IdKind.PHONE, value=user),) if channel is Channel.WHATSAPP else ()
    return Message(
        event_id=f"e-{channel}-{user}-{minute}",
        channel=channel,
        account="us",
        user_id=user,
        chat_id=user,
        provider_message_id=f"{user}-{minute}",
        sent_at=at(minute),
        received_at=at(minute),
        text=text,
        name=name,
        identifiers=ids,
    )


def neighbourhood(new: Message, earlier: Sequence[Said]) -> Neighbourhood:
    """What the resolver would read for ``new``: each earlier message a recent candidate of its own person."""
    profiles: dict[str, Profile] = {}
    persons: dict[str, PersonView] = {}
    pairs = []
    for said in earlier:
        key = f"{said.channel}:{said.user}"
        profile = Profile(
            key=key,
            channel=said.channel,
            user_id=said.user,
            account="us",
            chat_id=said.user,
            name=said.name,
            handle="",
            person_id=f"p-{key}",
            first_seen=at(said.minute),
            last_seen=at(said.minute),
        )
        profiles[key] = profile
        persons[profile.person_id] = PersonView(
            root=profile.person_id,
            created_at=at(said.minute),
            members=frozenset({profile.person_id}),
            profiles=(profile,),
            blocked=frozenset(),
        )
        hit = RecentHit(profile_key=key, event_id=f"e-{key}", at=at(said.minute), text=said.text)
        levels = compare_pair(new, profile, hit)
        chance = pair_probability(default_model(), new, profile, levels)
        pairs.append(Pair(hit=hit, other=profile, root=profile.person_id, levels=levels, probability=chance))
    return Neighbourhood(
        blocks=frozenset(),
        profile=None,
        person=None,
        by_identifier={},
        channel_verified={},
        shared=frozenset(),
        profiles=profiles,
        root_of={k: p.person_id for k, p in profiles.items()},
        persons=persons,
        pairs=tuple(pairs),
        namesakes=(),
        edges=(),
    )


def decided(new: Message, *earlier: Said) -> Decision:
    return decide(new, neighbourhood(new, earlier), SETTINGS, MODEL)


def test_a_third_channel_joins_the_two_it_matches_when_their_names_agree() -> None:
    """A nameless WhatsApp and a Telegram with a reworded question stayed apart; the Avito message
    matches each of them confidently, and no names among the three clash: one person."""
    whatsapp = Said(channel=Channel.WHATSAPP, user="+79990001122", name="", text=QUESTION, minute=0)
    telegram = Said(channel=Channel.TELEGRAM, user="501", name="Борис Архипов", text=REWORDED, minute=4)
    decision = decided(message(Channel.AVITO, "702", "Борис", QUESTION, 9), whatsapp, telegram)
    assert {m.root for m in decision.merges} == {"p-whatsapp:+79990001122", "p-telegram:501"}
    assert all(m.probability >= SETTINGS.merge_probability for m in decision.merges)
    assert not decision.suggestions


def test_confident_candidates_whose_names_clash_are_left_to_a_reviewer() -> None:
    """The same text from "Кузьма Терентьев" and "Филарет": a nameless third account joins neither."""
    form = Said(channel=Channel.WEBFORM, user="v1", name="Кузьма Терентьев", text=QUESTION, minute=0)
    telegram = Said(channel=Channel.TELEGRAM, user="502", name="Филарет", text=QUESTION, minute=4)
    decision = decided(message(Channel.WHATSAPP, "+79990003344", "", QUESTION, 9), form, telegram)
    assert not decision.merges
    assert {s.root for s in decision.suggestions} == {"p-webform:v1", "p-telegram:502"}


def test_one_confident_candidate_still_merges_alone() -> None:
    telegram = Said(channel=Channel.TELEGRAM, user="503", name="Борис Архипов", text=QUESTION, minute=0)
    decision = decided(message(Channel.AVITO, "703", "Борис", QUESTION, 6), telegram)
    assert [m.root for m in decision.merges] == ["p-telegram:503"]


def test_thanks_in_advance_does_not_make_another_question() -> None:
    """The same question from a nameless WhatsApp, once closed with "Заранее спасибо!": one person."""
    form = Said(channel=Channel.WEBFORM, user="v2", name="", text=QUESTION, minute=0)
    decision = decided(message(Channel.WHATSAPP, "+79990005566", "", f"{QUESTION} Заранее спасибо!", 3), form)
    assert [m.root for m in decision.merges] == ["p-webform:v2"]
