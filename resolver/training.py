"""The chat model: its comparisons, estimating it from a store or a replay file, where it is kept.

A *sighting* is one inbound message as the model compares it: its profile, channel, name, text,
time and exact identifiers. Training never reads who is who:

- u from random pairs of sightings of different profiles;
- m by expectation–maximisation over the pairs the online resolver would compare (sharing a name or
  text blocking key within the time window, or a phone or e-mail), one session per kind of key,
  each leaving out the comparisons its key forces to agree, averaged;
- λ by EM over the random pairs with m and u fixed: the chance that two messages of different
  profiles are one person's, as Splink defines it. Blocking chooses which pairs are scored, not what
  a comparison vector means: a λ among blocked pairs would count the time window twice (once in λ,
  once in the time level), and EM puts it near 1.

Where a store keeps its model: SQLite next to the database file (``stitch.db`` ->
``stitch.db.model.json``); Redis under the store's own prefix (key ``{stitch}:model``). A store with
none uses the model shipped with Stitch (``resolver/default_model.json``).
"""

from __future__ import annotations

import bisect
import json
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from core.config import ResolverSettings
from core.errors import InputError, ModelError, TooLittleData
from core.names import NameMatch
from core.values import IdKind, Message
from resolver.blocking import message_blocks
from resolver.comparison import (
    TextLevel,
    compare_name_sets,
    compare_text,
    name_terms,
    names_disagree,
    text_term,
    text_time_level,
)
from resolver.model import (
    U_PSEUDO_COUNT,
    Comparison,
    Level,
    Model,
    Pattern,
    combine,
    dumps,
    estimate_u,
    expectation_maximisation,
    load,
    loads,
    save,
    value_key,
)
from store.base import BaseStore

log = logging.getLogger("stitch.resolver")

DEFAULT_MODEL = Path(__file__).with_name("default_model.json")
# Below these, estimates are noise: refuse rather than ship weights nobody should trust.
MIN_SIGHTINGS = 500
MIN_PAIRS = 300
# Random pairs sampled for u (fewer on small stores), and the seed that keeps training reproducible.
U_PAIRS = 100_000
U_PAIRS_PER_SIGHTING = 20
SEED = 23
# As the online resolver: the newest this many earlier messages sharing a key, within the window.
RECENT_LIMIT = 60
WINDOW = timedelta(minutes=30)
# Earlier messages sharing an identifier compared at most (a shared office phone floods otherwise).
IDENTIFIER_LIMIT = 20
# EM sessions: the pairs of each kind of blocking key, leaving out what that key forces to agree (a
# name or text key is only looked up within the time window, so the joint text-and-time comparison
# is forced too).
# Text and time are estimated by the sessions whose keys do not force them: identifiers alone would
# see mostly returning customers weeks apart, the same full name at any time sees the impatient ones too.
LEFT_OUT: dict[str, tuple[str, ...]] = {
    "name": ("name", "text"),
    "text": ("text",),
    "fullname": ("name",),
    "phone": ("phone",),
    "email": ("email",),
}
# Term-frequency tables keep the values at least this many messages carry (a common first name, a
# stock question): those are the ones that agree by chance more often than average. Anything rarer
# takes the frequency of a value seen TF_MIN_COUNT - 1 times, so no model file lists a rare name or text.
TF_MIN_COUNT = 3
# Levels whose u is replaced by the agreed value's frequency.
TF_LEVELS: dict[str, frozenset[str]] = {
    "name": frozenset({NameMatch.EXACT.value, NameMatch.GIVEN_ONLY.value}),
    "text": frozenset(f"{t.value}_{when}" for t in (TextLevel.SAME, TextLevel.NEAR) for when in ("soon", "later")),
}
# The joint text-and-time levels (resolver.comparison.text_time_level), best first.
TEXT_LEVELS = tuple(
    f"{text.value}_{when}"
    for when in ("soon", "later")
    for text in (TextLevel.SAME, TextLevel.NEAR, TextLevel.TOPIC, TextLevel.LOOSE, TextLevel.OTHER, TextLevel.GENERIC)
)
# Identifier kinds the chat model compares.
COMPARED_IDS = (IdKind.PHONE, IdKind.EMAIL, IdKind.TELEGRAM_USERNAME)
# Where EM for λ among random pairs starts.
START_PRIOR = 1e-4
# Name level for usable names that share no word (resolver.comparison.names_disagree).
MISMATCH = "mismatch"
NULL = "null"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sighting:
    """One inbound message as the chat model compares it."""

    event: str
    profile: str
    channel: str
    name: str
    text: str
    at: datetime
    identifiers: frozenset[str] = frozenset()  # "phone:+7...", "email:...", "telegram_username:..."

    def values(self, kind: IdKind) -> frozenset[str]:
        prefix = f"{kind.value}:"
        return frozenset(i for i in self.identifiers if i.startswith(prefix))


def _comparison(name: str, levels: Iterable[str]) -> Comparison:
    return Comparison(
        name=name,
        levels=tuple(Level(name=lv, null=lv == NULL) for lv in levels),
        tf_levels=TF_LEVELS.get(name, frozenset()),
    )


def blank_model() -> Model:
    """The chat comparisons, in the order ``resolver.comparison`` defines their levels."""
    names = [NameMatch.EXACT, NameMatch.EQUIVALENT, NameMatch.INITIAL, NameMatch.FUZZY, NameMatch.GIVEN_ONLY]
    return Model(
        version="chat",
        prior=0.5,
        comparisons=(
            _comparison("name", [*(n.value for n in names), MISMATCH, NameMatch.DIFFERENT.value, NULL]),
            _comparison("text", [*TEXT_LEVELS, NULL]),
            _comparison("channel", ["different", "same"]),
            _comparison("phone", ["same", "different", NULL]),
            _comparison("email", ["same", "different", NULL]),
            _comparison("username", ["same", "different", NULL]),
        ),
    )


def name_level(a: str, b: str) -> str:
    """The name comparison's level: NameMatch, with UNKNOWN split into a mismatch and nothing to compare."""
    level = compare_name_sets([a], [b])
    if level is NameMatch.UNKNOWN:
        return MISMATCH if names_disagree([a], [b]) else NULL
    return level.value


def _identifier_level(ours: frozenset[str], theirs: frozenset[str]) -> str:
    if not ours or not theirs:
        return NULL
    return "same" if ours & theirs else "different"


def compare(a: Sighting, b: Sighting) -> dict[str, str]:
    """The level every chat comparison reaches for two sightings."""
    text, _ = compare_text(a.text, b.text)
    return {
        "name": name_level(a.name, b.name),
        "text": text_time_level(text, abs((a.at - b.at).total_seconds())),
        "channel": "same" if a.channel == b.channel else "different",
        "phone": _identifier_level(a.values(IdKind.PHONE), b.values(IdKind.PHONE)),
        "email": _identifier_level(a.values(IdKind.EMAIL), b.values(IdKind.EMAIL)),
        "username": _identifier_level(a.values(IdKind.TELEGRAM_USERNAME), b.values(IdKind.TELEGRAM_USERNAME)),
    }


# --- where sightings come from --------------------------------------------------------------------------
def sighting_of(message: Message) -> Sighting:
    return Sighting(
        event=message.event_id,
        profile=message.profile_key,
        channel=message.channel.value,
        name=message.name,
        text=message.text,
        at=message.received_at,
        identifiers=frozenset(i.key for i in message.identifiers if i.kind in COMPARED_IDS),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Sightings:
    items: list[Sighting]
    skipped: int = 0  # lines or events that could not be read


def sightings_from_replay(paths: Sequence[str], *, region: str) -> Sightings:
    """Sightings of replay files' events; unreadable lines are counted, never fatal."""
    from app.replay import open_input, read_lines
    from connectors.envelope import envelope_from_json
    from connectors.parsers import parse_envelope

    items: list[Sighting] = []
    skipped = 0
    for path in paths:
        try:
            stream = open_input(path)
        except OSError as e:
            raise InputError(f"{path}: cannot read: {e.strerror}") from e
        with stream:
            for number, line in read_lines(path, stream):
                try:
                    parsed = parse_envelope(envelope_from_json(json.loads(line), line=number), region=region)
                except (json.JSONDecodeError, InputError):
                    skipped += 1
                    continue
                if isinstance(parsed, Message):
                    items.append(sighting_of(parsed))
    return Sightings(items=sorted(items, key=lambda s: s.at), skipped=skipped)


async def sightings_from_store(store: BaseStore) -> Sightings:
    """Sightings of every inbound message stored, named as their profiles are."""
    from core.records import Direction

    profiles = {p.key: p async for p in store.iter_profiles()}
    identifiers = await store.identifiers_of(list(profiles))
    items = []
    async for m in store.iter_messages():
        profile = profiles.get(m.profile_key)
        if profile is None or m.direction is not Direction.IN:
            continue
        ids = frozenset(i.key for i in identifiers.get(m.profile_key, []) if i.kind in COMPARED_IDS)
        items.append(
            Sighting(
                event=m.event_id,
                profile=m.profile_key,
                channel=m.channel.value,
                name=profile.name,
                text=m.text,
                at=m.sent_at,
                identifiers=ids,
            )
        )
    return Sightings(items=sorted(items, key=lambda s: s.at))


# --- blocking as the resolver does it --------------------------------------------------------------------
def blocked_pairs(sightings: Sequence[Sighting]) -> dict[str, set[tuple[int, int]]]:
    """Pairs of sightings of different profiles the resolver would compare, by kind of key.

    ``name``: sharing a name key within the window; ``text``: a text key within the window;
    ``fullname``: a given name with a surname at any time (the resolver's namesakes); ``phone``,
    ``email``: sharing one at any time. Each message meets at most the newest RECENT_LIMIT
    (IDENTIFIER_LIMIT) earlier ones of a key, as the resolver reads them.
    """
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sightings):
        for block in message_blocks_of(s):
            by_key[block].append(i)
            if block.startswith("f:"):
                by_key["l" + block].append(i)
        for ident in s.identifiers:
            if not ident.startswith(IdKind.TELEGRAM_USERNAME.value):
                by_key[f"i:{ident}"].append(i)
    pairs: dict[str, set[tuple[int, int]]] = {kind: set() for kind in LEFT_OUT}
    for key, members in by_key.items():
        kind = {"n": "name", "f": "name", "t": "text", "l": "fullname"}.get(key[0]) or key.split(":")[1]
        times = [sightings[i].at for i in members]
        for position, j in enumerate(members):
            if kind in ("phone", "email", "fullname"):
                start = max(0, position - IDENTIFIER_LIMIT)
            else:
                start = max(position - RECENT_LIMIT, bisect.bisect_left(times, times[position] - WINDOW, 0, position))
            for i in members[start:position]:
                if sightings[i].profile != sightings[j].profile:
                    pairs[kind].add((i, j))
    return pairs


def message_blocks_of(s: Sighting) -> frozenset[str]:
    from core.values import Channel

    probe = Message(
        event_id="",
        channel=Channel(s.channel),
        account="",
        user_id="",
        chat_id="",
        provider_message_id="",
        sent_at=s.at,
        received_at=s.at,
        text=s.text,
        name=s.name,
    )
    return message_blocks(probe)


# --- training ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Trained:
    model: Model
    sightings: int
    pairs: int


def train(sightings: Sequence[Sighting], *, where: str, version: str | None = None) -> Trained:
    """Estimate the chat model from sightings in time order; TooLittleData below the minimums."""
    if len(sightings) < MIN_SIGHTINGS:
        raise TooLittleData(where, have=len(sightings), need=MIN_SIGHTINGS, what="messages")
    blocked = blocked_pairs(sightings)
    every = set().union(*blocked.values())
    if len(every) < MIN_PAIRS:
        raise TooLittleData(where, have=len(every), need=MIN_PAIRS, what="candidate pairs")
    model = blank_model()

    def tally(pairs: Iterable[tuple[int, int]]) -> Counter[Pattern]:
        return Counter(model.pattern(compare(sightings[i], sightings[j])) for i, j in pairs)

    n = len(sightings)
    rng = random.Random(SEED)
    unrelated = _random_pairs(model, sightings, rng)
    model = estimate_u(model, unrelated)
    model = _text_time_u(model, unrelated)
    # Identifiers are rare on chat channels: their u comes from random pairs of the sightings that
    # have one, or a few hundred thousand random pairs would hold no pair of two e-mails at all.
    for kind in COMPARED_IDS:
        having = [s for s in sightings if s.values(kind)]
        if len(having) > 1:
            model = _with_u_of(model, kind.value, estimate_u(model, _random_pairs(model, having, rng)))
    sessions = [
        (expectation_maximisation(model, tally(blocked[kind]), leave_out=left), left)
        for kind, left in LEFT_OUT.items()
        if blocked[kind]
    ]
    model = combine(model, sessions)
    model = expectation_maximisation(replace(model, prior=START_PRIOR), unrelated, fixed_m=True)
    model = with_term_frequencies(model, sightings)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    model = replace(
        model,
        version=version or f"chat-{stamp}",
        notes={
            "trained": stamp,
            "messages": str(n),
            "candidate_pairs": str(len(every)),
            "random_pairs": str(sum(unrelated.values())),
        },
    )
    return Trained(model=model, sightings=n, pairs=len(every))


def with_term_frequencies(model: Model, sightings: Sequence[Sighting]) -> Model:
    """The name and text comparisons' tables of common values, from the sightings' own names and texts.

    A value's frequency is its share of the messages that have such a value at all (a usable name, a
    specific text): the chance that a random one of them agrees on it.
    """
    per_sighting: dict[str, list[tuple[str, ...]]] = {
        "name": [name_terms(s.name) for s in sightings],
        "text": [(t,) if (t := text_term(s.text)) else () for s in sightings],
    }
    comparisons = []
    for comparison in model.comparisons:
        rows = per_sighting.get(comparison.name)
        if rows is None:
            comparisons.append(comparison)
            continue
        whole = max(sum(1 for r in rows if r), 1)
        counts = Counter(t for r in rows for t in r)
        table = {value_key(v): n / whole for v, n in counts.items() if n >= TF_MIN_COUNT}
        # The text levels say "within the burst" too: a frequency scales their u rather than replacing it.
        mean = sum((n / whole) ** 2 for n in counts.values()) if comparison.name == "text" else 0.0
        comparisons.append(replace(comparison, tf_table=table, tf_rare=(TF_MIN_COUNT - 1) / whole, tf_mean=mean))
    return replace(model, comparisons=tuple(comparisons))


def _text_time_u(model: Model, random_pairs: Counter[Pattern]) -> Model:
    """u of the joint text-and-time levels as the product of the text's and the time's own shares.

    Two unrelated people's texts do not depend on when they wrote, so the product is their u; counted
    directly, "the same question within the window" would rest on a handful of random pairs, some of
    them one person's.
    """
    index = model.names.index("text")
    texts: Counter[str] = Counter()
    whens: Counter[str] = Counter()
    for pattern, n in random_pairs.items():
        text, _, when = pattern[index].rpartition("_")
        if text:
            texts[text] += n
            whens[when] += n
    comparison = model.comparisons[index]
    names = [level.name.rpartition("_") for level in comparison.levels if not level.null]
    text_total = sum(texts.values()) + U_PSEUDO_COUNT * len({t for t, _, _ in names})
    when_total = sum(whens.values()) + U_PSEUDO_COUNT * len({w for _, _, w in names})
    u = {
        f"{t}_{w}": (texts[t] + U_PSEUDO_COUNT) / text_total * (whens[w] + U_PSEUDO_COUNT) / when_total
        for t, _, w in names
    }
    comparisons = list(model.comparisons)
    comparisons[index] = comparison.with_probabilities(u=u)
    return replace(model, comparisons=tuple(comparisons))


def _random_pairs(model: Model, sightings: Sequence[Sighting], rng: random.Random) -> Counter[Pattern]:
    n = len(sightings)
    out: Counter[Pattern] = Counter()
    for _ in range(min(U_PAIRS, U_PAIRS_PER_SIGHTING * n)):
        i, j = rng.randrange(n), rng.randrange(n)
        if sightings[i].profile != sightings[j].profile:
            out[model.pattern(compare(sightings[i], sightings[j]))] += 1
    return out


def _with_u_of(model: Model, name: str, source: Model) -> Model:
    comparisons = tuple(source.comparison(name) if c.name == name else c for c in model.comparisons)
    return replace(model, comparisons=comparisons)


# --- where a store keeps its model -----------------------------------------------------------------------
def model_path(store: BaseStore) -> Path | None:
    """The file beside a SQLite store's database; None for a store that keeps it inside."""
    from store.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        return Path(store.path + ".model.json")
    return None


async def save_for(store: BaseStore, model: Model) -> str:
    """Keep the model with the store; answers where it went."""
    path = model_path(store)
    if path is not None:
        save(model, path)
        return str(path)
    from store.redis import RedisStore

    if isinstance(store, RedisStore):
        key = store.key("model")
        await store.client.set(key, dumps(model))
        return key
    raise ModelError(type(store).__name__, "this store cannot keep a model")


@cache
def default_model() -> Model:
    """The model shipped with Stitch, read once."""
    return load(DEFAULT_MODEL)


async def load_for(store: BaseStore) -> tuple[Model, str]:
    """The store's own model if it keeps one, else the shipped default; with where it came from."""
    path = model_path(store)
    if path is not None:
        if path.exists():
            return load(path), str(path)
        return default_model(), str(DEFAULT_MODEL)
    from store.redis import RedisStore

    if isinstance(store, RedisStore):
        key = store.key("model")
        raw = await store.client.get(key)
        if raw is not None:
            return loads(raw, key), key
    return default_model(), str(DEFAULT_MODEL)


def fits(model: Model, where: str) -> Model:
    """The model, if it has every comparison and level the resolver reaches; else a ModelError."""
    for blank in blank_model().comparisons:
        try:
            have = {level.name for level in model.comparison(blank.name).levels}
        except KeyError:
            raise ModelError(where, f"has no {blank.name} comparison; train it again (stitch model train)") from None
        missing = [level.name for level in blank.levels if level.name not in have]
        if missing:
            raise ModelError(
                where, f"{blank.name} has no level {', '.join(missing)}; train it again (stitch model train)"
            )
    return model


async def resolver_model(store: BaseStore, settings: ResolverSettings) -> tuple[Model, str]:
    """The model the resolver scores with, read once at start-up, and where it came from.

    ``STITCH_MODEL`` names a file; otherwise the store's own model, else the shipped one. A file that
    is missing, corrupt or of another version is a ModelError naming it, unless the settings allow
    falling back to the shipped model.
    """
    try:
        if settings.model_path:
            model, where = load(settings.model_path), settings.model_path
        else:
            model, where = await load_for(store)
        return fits(model, where), where
    except ModelError as e:
        if not settings.model_fallback:
            raise
        log.warning("model unusable, scoring with the shipped one", extra={"model": e.where, "reason": e.reason})
        return default_model(), str(DEFAULT_MODEL)


def describe(model: Model, *, where: str = "") -> str:
    """Each comparison's levels with m, u and weight, as ``stitch model show`` prints them."""
    source = f" from {where}" if where else ""
    lines = [f"model {model.version}{source}", f"prior λ {model.prior:.6g} (weight {model.prior_weight:+.3f})"]
    lines.extend(f"  {k}: {v}" for k, v in model.notes.items())
    for c in model.comparisons:
        tf = (
            f" (term-frequency adjusted: {', '.join(sorted(c.tf_levels))}; {len(c.tf_table)} common values,"
            f" any other {c.tf_rare:.3g})"
            if c.tf
            else ""
        )
        lines.append(f"{c.name}{tf}")
        for lv in c.levels:
            if lv.null:
                lines.append(f"  {lv.name:<14} nothing to compare: weight 0")
            else:
                lines.append(f"  {lv.name:<14} m {lv.m:<10.4g} u {lv.u:<10.4g} weight {lv.weight:+.3f}")
    return "\n".join(lines)
