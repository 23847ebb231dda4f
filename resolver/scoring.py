"""Scoring: a pair's comparison levels weighed by the match-weight model (`resolver.model`).

A score is Fellegi–Sunter's: the prior log-odds that two messages of different profiles are one
person's, plus one weight in bits per comparison (log2 m/u, u from the agreed value's frequency where
the model keeps one). Every part becomes an `Evidence` whose `score` is that weight, the prior first,
so the evidence kept with a merge or a suggestion adds up to its match weight and so to its match
probability.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.names import NameMatch
from core.records import Evidence
from resolver.comparison import PairLevels, TextLevel, agreed_name_terms, text_term, text_time_level
from resolver.model import Model, Score, probability

# The model's level for usable names that share nothing, and for nothing to compare.
MISMATCH = "mismatch"
NULL = "null"
# The prior has no words for managers (it is the same for every pair); `stitch graph explain` names it.
PRIOR_DETAIL = ""
# Weights are kept to this many decimals, so what is stored and shown adds up exactly as computed.
WEIGHT_DIGITS = 3
# Evidence rules that are parts of a match weight (a "conflict" or "rule" note weighs nothing).
PRIOR = "prior"
# Most decimals a probability is printed with; past them it reads "> 99.9999%".
PERCENT_DIGITS = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class PairScore:
    weight: float  # match weight in bits: the evidence's scores summed
    evidence: tuple[Evidence, ...]
    named: bool = False  # the names agree (not merely fail to clash)
    same_text: bool = False  # the texts are near-identical
    exact_text: bool = False  # the texts are the same question (every subject word matches)

    @property
    def probability(self) -> float:
        return probability(self.weight)


def name_level(levels: PairLevels) -> str:
    if levels.name_mismatch:
        return MISMATCH
    return NULL if levels.name is NameMatch.UNKNOWN else levels.name.value


def pair_levels(levels: PairLevels) -> dict[str, str]:
    """The model's level for each comparison a recent message pair makes (identifiers: not compared)."""
    return {
        "name": name_level(levels),
        "text": text_time_level(levels.text, levels.gap_s),
        "channel": "same" if levels.same_channel else "different",
    }


def frequencies(model: Model, levels: Mapping[str, str], *, names: tuple[str, str], text: str) -> dict[str, float]:
    """The agreed values' frequencies for the term-frequency adjusted levels reached."""
    out: dict[str, float] = {}
    for comparison in model.comparisons:
        level = levels.get(comparison.name)
        if level is None or level not in comparison.tf_levels:
            continue
        values: Iterable[str] = ()
        if comparison.name == "name":
            values = agreed_name_terms(*names)
        elif comparison.name == "text":
            values = (text_term(text),)
        found = comparison.frequency(values)
        if found is not None:
            out[comparison.name] = found
    return out


def evidence_of(
    score: Score, details: Mapping[str, str], values: Mapping[str, Mapping[str, str]]
) -> tuple[Evidence, ...]:
    """The prior and every non-null part, each with plain words and its weight."""
    parts = [Evidence(rule=PRIOR, detail=PRIOR_DETAIL, score=round(score.prior, WEIGHT_DIGITS))]
    for part in score.parts:
        if part.weight == 0.0 and part.level == NULL:
            continue
        parts.append(
            Evidence(
                rule=part.comparison,
                detail=details.get(part.comparison) or _words(part.comparison, part.level),
                score=round(part.weight, WEIGHT_DIGITS),
                values={
                    "level": part.level,
                    "m": f"{part.m:.4g}",
                    "u": f"{part.u:.4g}",
                    **values.get(part.comparison, {}),
                },
            )
        )
    return tuple(parts)


def weight_of(evidence: Iterable[Evidence]) -> float:
    return sum(e.score for e in evidence)


TEXT_WORDS = {
    TextLevel.SAME.value: "the same question",
    TextLevel.NEAR.value: "a question one word apart",
    TextLevel.TOPIC.value: "the same subject in other words",
    TextLevel.LOOSE.value: "a similar question",
    TextLevel.OTHER.value: "different questions",
    TextLevel.GENERIC.value: "nothing specific said",
}
LEVEL_WORDS: dict[tuple[str, str], str] = {
    ("name", MISMATCH): "names that share nothing",
    ("name", NameMatch.DIFFERENT.value): "different names",
    **{("text", f"{text}_soon"): f"{words}, within 20 minutes" for text, words in TEXT_WORDS.items()},
    **{("text", f"{text}_later"): f"{words}, more than 20 minutes apart" for text, words in TEXT_WORDS.items()},
    ("channel", "same"): "two accounts on one channel",
    ("channel", "different"): "different channels",
    ("phone", "different"): "different phones",
    ("email", "different"): "different e-mails",
    ("username", "different"): "different Telegram usernames",
}


def _words(comparison: str, level: str) -> str:
    return LEVEL_WORDS.get((comparison, level), f"{comparison}: {level.replace('_', ' ')}")


def explain_parts(evidence: Iterable[Evidence], total: float) -> list[str]:
    """Lines of a waterfall: each part's weight in bits, then the sum as a match weight and probability.

    Weights are shown with the digits they are kept with (WEIGHT_DIGITS), so the printed parts add up
    to the printed total exactly. Evidence kept before the model decided has no prior and does not add
    up; it is shown as it was.
    """
    parts = list(evidence)
    width = WEIGHT_DIGITS + 6
    lines = [f"{_label(e):<58} {e.score:+{width}.{WEIGHT_DIGITS}f}" for e in parts if e.score or e.rule == PRIOR]
    lines.extend(f"{_label(e):<58}" for e in parts if not e.score and e.rule != PRIOR)
    added = weight_of(parts)
    if any(e.rule == PRIOR for e in parts) and abs(added - total) < 1e-6:
        lines.append(
            f"{'= match weight':<58} {total:+{width}.{WEIGHT_DIGITS}f}  match probability {percent(probability(total))}"
        )
    else:
        lines.append(f"{'score (kept before match weights)':<58} {total:+{width}.{WEIGHT_DIGITS}f}")
    return lines


def percent(p: float) -> str:
    """A probability with as few decimals as keep it off 0% and 100% (99.96%, 99.998%)."""
    for digits in range(1, PERCENT_DIGITS + 1):
        shown = round(p * 100, digits)
        if 0.0 < shown < 100.0:
            return f"{p * 100:.{digits}f}%"
    limit = 10.0**-PERCENT_DIGITS
    return f"> {100 - limit:.{PERCENT_DIGITS}f}%" if p > 0.5 else f"< {limit:.{PERCENT_DIGITS}f}%"


def _label(e: Evidence) -> str:
    if e.rule == PRIOR:
        return "prior: two messages of different accounts are one person's"
    level = e.values.get("level", "")
    words = e.detail or level.replace("_", " ")
    return f"{e.rule}: {words}"[:58]
