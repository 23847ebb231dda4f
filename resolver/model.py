"""The match-weight model: Fellegi–Sunter weights per comparison level, estimated from data.

Each comparison (name, text, time...) has ordered levels; for each level ``m`` is the chance that a
true match lands on it and ``u`` the chance that two unrelated records do. A level's weight is
``log2(m / u)``; a pair's match weight is the prior log-odds ``log2(λ / (1 - λ))`` plus the weights of
the levels it reached, and its match probability ``2^w / (1 + 2^w)``. A *null* level (a side has
nothing to compare) weighs nothing and is never estimated.

Estimation, as Splink does it and without truth labels:

- ``u`` from random pairs (nearly all unrelated), with term frequencies: for an adjusted level the
  agreed value's frequency replaces ``u`` (a common surname agrees by chance more often than a rare
  one), never below the comparison's floor. A comparison may keep a table of its common values'
  frequencies (``tf_table``, keyed by a hash so the file holds no names or texts); a value not in it
  is rare and takes ``tf_rare``;
- ``m`` and ``λ`` by expectation–maximisation over blocked pairs with ``u`` held fixed; a session may
  leave out the comparisons its blocking rule forces to agree, whose ``m`` it would otherwise bias, and
  the sessions' estimates are averaged per comparison.

Pairs are handed to the estimators as a *tally*: level-name vectors in the model's comparison order
with how many pairs reached each, so millions of pairs cost as much as their few distinct patterns.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.errors import ModelError

# Version of the JSON layout written by ``save``; a file of another version is refused, not guessed at.
FORMAT = "stitch-match-model"
FORMAT_VERSION = 2
# A term frequency below this is treated as this: one odd spelling must not weigh like an identifier.
TF_FLOOR = 1e-5
# Neither m nor u is ever estimated as exactly 0 or 1, which would make a weight infinite.
PROBABILITY_FLOOR = 1e-6
# Pairs each level of u starts with before the random pairs are counted (see ``estimate_u``).
U_PSEUDO_COUNT = 0.5
# Expectation–maximisation stops after this many rounds or when no m moves more than EM_TOLERANCE.
EM_ROUNDS = 50
EM_TOLERANCE = 1e-5
# Where EM starts: a match mostly agrees (the first level), a non-match mostly does not.
START_PRIOR = 0.1

Pattern = tuple[str, ...]
Tally = Mapping[Pattern, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Level:
    """One outcome of a comparison, with its m and u probabilities."""

    name: str
    m: float = 1.0
    u: float = 1.0
    null: bool = False  # a side has nothing to compare: no evidence either way

    @property
    def weight(self) -> float:
        return 0.0 if self.null else math.log2(self.m / self.u)


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """Ordered levels of one attribute, best agreement first; ``tf_levels`` are term-frequency adjusted."""

    name: str
    levels: tuple[Level, ...]
    tf_levels: frozenset[str] = frozenset()
    tf_floor: float = TF_FLOOR
    # Frequencies of the common values (hashed, see ``value_key``) and the one taken for any other.
    tf_table: Mapping[str, float] = field(default_factory=dict)
    tf_rare: float = 0.0  # 0: a value not in the table keeps the level's own u
    # The chance two random records agree on whatever value (the sum of squared frequencies). Set, an
    # agreed value scales u by frequency / tf_mean instead of replacing it, so a level that also says
    # something else (the same text *within the burst*) keeps that part of its u.
    tf_mean: float = 0.0

    @property
    def tf(self) -> bool:
        return bool(self.tf_levels)

    def frequency(self, values: Iterable[str]) -> float | None:
        """The chance a random record has the agreed value: the commonest of ``values`` in the table,
        else ``tf_rare``; None when the comparison keeps no table (u stays the level's average)."""
        if not self.tf_table and not self.tf_rare:
            return None
        found = [self.tf_table[k] for k in (value_key(v) for v in values if v) if k in self.tf_table]
        if found:
            return max(found)
        return self.tf_rare or None

    def level(self, name: str) -> Level:
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(f"{self.name}: no level {name!r}")

    def with_probabilities(
        self, *, m: Mapping[str, float] | None = None, u: Mapping[str, float] | None = None
    ) -> Comparison:
        m = m or {}
        u = u or {}
        levels = tuple(
            level if level.null else replace(level, m=m.get(level.name, level.m), u=u.get(level.name, level.u))
            for level in self.levels
        )
        return replace(self, levels=levels)


@dataclass(frozen=True, slots=True, kw_only=True)
class Part:
    """One comparison's contribution to a score: the level reached and its weight."""

    comparison: str
    level: str
    weight: float
    m: float
    u: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Score:
    """A pair's match weight as a sum that can be shown term by term (a waterfall)."""

    prior: float  # log2(λ / (1 - λ))
    parts: tuple[Part, ...]
    weight: float  # prior + the parts' weights
    probability: float

    def explain(self) -> str:
        lines = [f"{'prior':<24} {self.prior:+8.3f}"]
        lines.extend(
            f"{p.comparison + ' = ' + p.level:<24} {p.weight:+8.3f}  m {p.m:.4g}  u {p.u:.4g}" for p in self.parts
        )
        lines.append(f"{'match weight':<24} {self.weight:+8.3f}  probability {self.probability:.4f}")
        return "\n".join(lines)


def probability(weight: float) -> float:
    """2^w / (1 + 2^w), without overflow for large weights of either sign."""
    if weight >= 0:
        return 1.0 / (1.0 + math.pow(2.0, -weight))
    odds = math.pow(2.0, weight)
    return odds / (1.0 + odds)


@dataclass(frozen=True, slots=True, kw_only=True)
class Model:
    """A version, the prior λ and the comparisons.

    λ is the chance that two records drawn at random are one person (Splink's "probability two
    random records match"); a blocked pair's comparisons, time included, carry the rest.
    """

    version: str
    prior: float
    comparisons: tuple[Comparison, ...]
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.comparisons)

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1.0 - self.prior))

    def comparison(self, name: str) -> Comparison:
        for comparison in self.comparisons:
            if comparison.name == name:
                return comparison
        raise KeyError(f"no comparison {name!r}")

    def score(self, levels: Mapping[str, str], tf_u: Mapping[str, float] | None = None) -> Score:
        """Score a pair from the level each comparison reached (``levels[comparison] = level``).

        ``tf_u[comparison]`` is the frequency of the value the pair agreed on; it replaces u when the
        level reached is a term-frequency adjusted one. A comparison missing from ``levels`` counts
        as null.
        """
        parts = tuple(
            Part(comparison=c.name, level=name, weight=weight, m=level.m, u=u)
            for c, name, level, u, weight in self._parts(levels, tf_u or {})
        )
        prior = self.prior_weight
        total = prior + sum(p.weight for p in parts)
        return Score(prior=prior, parts=parts, weight=total, probability=probability(total))

    def rounded_weight(self, levels: Mapping[str, str], tf_u: Mapping[str, float], digits: int) -> float:
        """The prior and each part's weight rounded to `digits` and summed, as `score` would give them;
        without building the parts (most pairs are weighed only to be dismissed)."""
        weights = (round(weight, digits) for *_, weight in self._parts(levels, tf_u))
        return round(self.prior_weight, digits) + sum(weights)

    def _parts(
        self, levels: Mapping[str, str], tf_u: Mapping[str, float]
    ) -> Iterator[tuple[Comparison, str, Level, float, float]]:
        """Each comparison reached: its level's name, the level, u (term-frequency adjusted) and the weight."""
        for comparison in self.comparisons:
            name = levels.get(comparison.name)
            if name is None:
                continue
            level = comparison.level(name)
            u = level.u
            if name in comparison.tf_levels and comparison.name in tf_u:
                frequency = max(tf_u[comparison.name], comparison.tf_floor)
                u = u * frequency / comparison.tf_mean if comparison.tf_mean else frequency
            yield comparison, name, level, u, 0.0 if level.null else math.log2(level.m / u)

    def pattern(self, levels: Mapping[str, str]) -> Pattern:
        """The level names in comparison order (a tally's key); a missing comparison is its null level."""
        return tuple(levels.get(c.name) or _null_name(c) for c in self.comparisons)


@lru_cache(maxsize=65536)
def value_key(value: str) -> str:
    """The key of a value in a term-frequency table: a short hash, so a model file holds no names or texts."""
    return hashlib.blake2b(value.encode("utf-8"), digest_size=8).hexdigest()


def _null_name(comparison: Comparison) -> str:
    for level in comparison.levels:
        if level.null:
            return level.name
    raise KeyError(f"{comparison.name}: no level given and no null level")


def tally(model: Model, pairs: Iterable[Mapping[str, str]]) -> Counter[Pattern]:
    return Counter(model.pattern(levels) for levels in pairs)


def term_frequencies(values: Iterable[str]) -> dict[str, float]:
    """Each non-empty value's share of the values: the chance a random record has it (Splink's tf)."""
    counts = Counter(v for v in values if v)
    total = sum(counts.values())
    return {value: n / total for value, n in counts.items()} if total else {}


# --- estimation -----------------------------------------------------------------------------------------
def estimate_u(model: Model, random_pairs: Tally) -> Model:
    """u of every non-null level from random pairs (almost all unrelated, so their level shares).

    Each level starts from half a pair (Jeffreys' prior): a level no random pair reached is rare, not
    impossible, and its u says only as much as the sample can (about 1 in twice the pairs), instead
    of a floor that would give it the weight of an identifier.
    """
    comparisons = []
    for index, comparison in enumerate(model.comparisons):
        counts = [(p[index], float(n)) for p, n in random_pairs.items()]
        counts += [(level.name, U_PSEUDO_COUNT) for level in comparison.levels if not level.null]
        shares = _shares(comparison, counts)
        comparisons.append(comparison.with_probabilities(u=shares))
    return replace(model, comparisons=tuple(comparisons))


def _shares(comparison: Comparison, counts: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Each non-null level's share of the weight given, floored and renormalised."""
    totals = {level.name: 0.0 for level in comparison.levels if not level.null}
    for name, n in counts:
        if name in totals:
            totals[name] += n
    whole = sum(totals.values())
    if whole <= 0:
        return {}
    floored = {name: max(n / whole, PROBABILITY_FLOOR) for name, n in totals.items()}
    scale = sum(floored.values())
    return {name: share / scale for name, share in floored.items()}


def expectation_maximisation(
    model: Model,
    pairs: Tally,
    *,
    leave_out: Iterable[str] = (),
    fixed_m: bool = False,
    rounds: int = EM_ROUNDS,
) -> Model:
    """m of every comparison not left out, and λ, by EM over blocked pairs; u stays as it is.

    Comparisons left out (those the blocking rule forces to agree) take no part: they neither
    inform the match probability of a pair nor get a new m. With ``fixed_m`` only λ is estimated.
    """
    skip = set(leave_out)
    used = [i for i, c in enumerate(model.comparisons) if c.name not in skip]
    rows = [(pattern, n) for pattern, n in pairs.items() if n > 0]
    if not rows:
        return model
    current = model if fixed_m else _start(model, used)
    prior = current.prior if fixed_m else START_PRIOR
    for _ in range(rounds):
        posterior = _expect(current, prior, used, rows)
        total = sum(n for _, n in rows)
        new_prior = min(
            max(sum(p * n for p, (_, n) in zip(posterior, rows, strict=True)) / total, PROBABILITY_FLOOR),
            1 - PROBABILITY_FLOOR,
        )
        if fixed_m:
            moved = abs(new_prior - prior)
            prior = new_prior
            if moved < EM_TOLERANCE:
                break
            continue
        comparisons = list(current.comparisons)
        moved = abs(new_prior - prior)
        for i in used:
            weights = ((pattern[i], p * n) for p, (pattern, n) in zip(posterior, rows, strict=True))
            shares = _shares(comparisons[i], weights)
            before = comparisons[i]
            comparisons[i] = before.with_probabilities(m=shares)
            moved = max(moved, *(abs(a.m - b.m) for a, b in zip(before.levels, comparisons[i].levels, strict=True)))
        current = replace(current, comparisons=tuple(comparisons))
        prior = new_prior
        if moved < EM_TOLERANCE:
            break
    return replace(current, prior=prior)


def _start(model: Model, used: Sequence[int]) -> Model:
    """m where EM starts: the better levels likelier for a match, halving down the order."""
    comparisons = list(model.comparisons)
    for i in used:
        levels = [level for level in comparisons[i].levels if not level.null]
        raw = {level.name: 2.0 ** -(rank * 2) for rank, level in enumerate(levels)}
        scale = sum(raw.values())
        comparisons[i] = comparisons[i].with_probabilities(m={k: v / scale for k, v in raw.items()})
    return replace(model, comparisons=tuple(comparisons))


def _expect(model: Model, prior: float, used: Sequence[int], rows: Sequence[tuple[Pattern, int]]) -> list[float]:
    """Each pattern's match probability under the model, from the comparisons in use only."""
    lookup = [{level.name: level for level in c.levels} for c in model.comparisons]
    prior_odds = prior / (1.0 - prior)
    out = []
    for pattern, _ in rows:
        ratio = prior_odds
        for i in used:
            level = lookup[i][pattern[i]]
            if not level.null:
                ratio *= level.m / level.u
        out.append(ratio / (1.0 + ratio))
    return out


def combine(model: Model, sessions: Sequence[tuple[Model, Iterable[str]]]) -> Model:
    """Average each comparison's m over the EM sessions that estimated it (not left out)."""
    comparisons = []
    for comparison in model.comparisons:
        estimates = [s.comparison(comparison.name) for s, left in sessions if comparison.name not in set(left)]
        if not estimates:
            comparisons.append(comparison)
            continue
        m = {
            level.name: sum(e.level(level.name).m for e in estimates) / len(estimates)
            for level in comparison.levels
            if not level.null
        }
        comparisons.append(comparison.with_probabilities(m=m))
    return replace(model, comparisons=tuple(comparisons))


# --- files ----------------------------------------------------------------------------------------------
def to_json(model: Model) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": model.version,
        "prior": model.prior,
        "notes": dict(model.notes),
        "comparisons": [
            {
                "name": c.name,
                "tf_levels": sorted(c.tf_levels),
                "tf_floor": c.tf_floor,
                "tf_rare": c.tf_rare,
                "tf_mean": c.tf_mean,
                "tf_table": dict(sorted(c.tf_table.items())),
                "levels": [{"name": lv.name, "m": lv.m, "u": lv.u, "null": lv.null} for lv in c.levels],
            }
            for c in model.comparisons
        ],
    }


def from_json(data: Any, where: str) -> Model:
    """A model from its JSON form; anything unexpected is a ModelError naming ``where``."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(where, "not a Stitch match-weight model")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(where, f"format version {version!r}, this Stitch reads version {FORMAT_VERSION}")
    try:
        comparisons = tuple(
            Comparison(
                name=str(c["name"]),
                tf_levels=frozenset(str(n) for n in c.get("tf_levels", [])),
                tf_floor=float(c.get("tf_floor", TF_FLOOR)),
                tf_rare=float(c.get("tf_rare", 0.0)),
                tf_mean=float(c.get("tf_mean", 0.0)),
                tf_table={str(k): float(v) for k, v in dict(c.get("tf_table", {})).items()},
                levels=tuple(
                    Level(name=str(lv["name"]), m=float(lv["m"]), u=float(lv["u"]), null=bool(lv.get("null", False)))
                    for lv in c["levels"]
                ),
            )
            for c in data["comparisons"]
        )
        model = Model(
            version=str(data["version"]),
            prior=float(data["prior"]),
            comparisons=comparisons,
            notes={str(k): str(v) for k, v in dict(data.get("notes", {})).items()},
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(where, f"corrupt: {type(e).__name__} {e}") from e
    _check(model, where)
    return model


def _check(model: Model, where: str) -> None:
    if not 0.0 < model.prior < 1.0:
        raise ModelError(where, f"corrupt: prior {model.prior} is not a probability")
    for c in model.comparisons:
        if not c.levels:
            raise ModelError(where, f"corrupt: comparison {c.name!r} has no levels")
        for lv in c.levels:
            if not lv.null and not (0.0 < lv.m <= 1.0 and 0.0 < lv.u <= 1.0):
                raise ModelError(where, f"corrupt: {c.name} = {lv.name} has m {lv.m}, u {lv.u}")
        frequencies = [c.tf_rare, c.tf_mean, *c.tf_table.values()]
        if not all(0.0 <= f <= 1.0 for f in frequencies):
            raise ModelError(where, f"corrupt: {c.name} has a term frequency outside 0..1")


def dumps(model: Model) -> str:
    return json.dumps(to_json(model), indent=2, ensure_ascii=False) + "\n"


def loads(text: str | bytes, where: str) -> Model:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(
            where, f"corrupt: not JSON ({e.msg if isinstance(e, json.JSONDecodeError) else e.reason})"
        ) from e
    return from_json(data, where)


def save(model: Model, path: str | Path) -> None:
    """Write the model as JSON, atomically (a reader never sees half a file)."""
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    try:
        temporary.write_text(dumps(model), encoding="utf-8")
        temporary.replace(target)
    except OSError as e:
        raise ModelError(str(target), f"cannot write: {e.strerror}") from e


def load(path: str | Path) -> Model:
    target = Path(path)
    try:
        text = target.read_bytes()
    except FileNotFoundError as e:
        raise ModelError(str(target), "missing") from e
    except OSError as e:
        raise ModelError(str(target), f"cannot read: {e.strerror}") from e
    return loads(text, str(target))
