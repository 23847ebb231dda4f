"""Accuracy of identity resolution against the generator's ground truth.

    python -m bench.accuracy --truth TRUTH.jsonl --events EVENTS.jsonl [--suggestions SUGG.jsonl]
                             [--replay FILE.jsonl[.gz]] [--json REPORT.json]

Metric: pairwise precision, recall and F1 over pairs of events that come from DIFFERENT profiles.
A profile is one customer account on one channel: ``telegram:<from.id>``, ``whatsapp:<From>``,
``avito:<author_id>``, ``webform:<visitor_id>`` (a form submission without a visitor id is its own
profile). Pairs inside one profile are left out because linking them is free: every system does it,
and counting them would hide how well cross-channel identities are found.

- A pair is predicted-positive when both events carry the same predicted person id.
- A pair is truth-positive when both events belong to the same true person.
- precision = TP / predicted-positive, recall = TP / truth-positive, F1 their harmonic mean; with no
  predicted (or no true) pairs at all, precision (or recall) is 1 by convention.

Counting uses contingency tables, never pairs: with C(n) = n(n-1)/2 summed over groups,
predicted-positive = C(person) − C(person, profile), truth-positive = C(true) − C(true, profile),
TP = C(person, true) − C(person, true, profile). This stays linear in the number of events.

The universe is the set of events in the truth file; an event the resolver did not export counts as a
person of its own. Three rows are reported:

1. ``auto merges``: person ids from ``stitch export --what events``;
2. ``auto + suggestions``: the same, with the persons named by each pending suggestion joined
   (union-find), as if a reviewer accepted every suggestion;
3. ``exact identifiers``: what CRM duplicate control does, computed from the replay file alone: union
   profiles that share a normalized phone (``core.phones.normalize_phone(raw, "RU")``: WhatsApp ``From``,
   a Telegram contact the user shared of themselves, the web form's phone) or a normalized e-mail
   (``core.phones.normalize_email``), nothing else.

The truth file is JSON Lines (``event_id``, ``person_id``, and optionally ``profile``) as written by
``bench.generate``, or one JSON object mapping event id to person id; profiles come from ``--replay``
when given, else from the truth lines.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import chain
from typing import IO, Any

from core.phones import normalize_email, normalize_phone

DEFAULT_REGION = "RU"


@dataclass(frozen=True, slots=True, kw_only=True)
class Scores:
    """Pairwise figures for one prediction."""

    precision: float
    recall: float
    f1: float
    true_positive: int
    predicted_pairs: int
    truth_pairs: int

    @property
    def false_positive(self) -> int:
        return self.predicted_pairs - self.true_positive

    @property
    def false_negative(self) -> int:
        return self.truth_pairs - self.true_positive


def _pairs(counter: Counter[Any]) -> int:
    return sum(n * (n - 1) // 2 for n in counter.values())


def pairwise_scores(
    truth: Mapping[str, Hashable], predicted: Mapping[str, Hashable], profile_of: Mapping[str, Hashable]
) -> Scores:
    """Pairwise P/R/F1 over cross-profile pairs of the events in ``truth`` (see the module docstring).

    ``predicted`` and ``profile_of`` map event id to predicted person and to profile; an event missing
    from either is a singleton there.
    """
    # Dense integer codes keep the six tables small at a million events: one int key per cell
    # instead of a tuple of strings.
    pred_code: dict[Hashable, int] = {}
    true_code: dict[Hashable, int] = {}
    profile_code: dict[Hashable, int] = {}
    cells: list[tuple[int, int, int]] = []
    for event_id, true_person in truth.items():
        # A tuple key cannot collide with a real id, so missing events stay singletons.
        person = predicted.get(event_id, ("missing", event_id))
        profile = profile_of.get(event_id, ("event", event_id))
        cells.append(
            (
                pred_code.setdefault(person, len(pred_code)),
                true_code.setdefault(true_person, len(true_code)),
                profile_code.setdefault(profile, len(profile_code)),
            )
        )
    n_true, n_profile = len(true_code) + 1, len(profile_code) + 1
    by_pred: Counter[int] = Counter(p for p, _, _ in cells)
    by_pred_profile: Counter[int] = Counter(p * n_profile + f for p, _, f in cells)
    by_true: Counter[int] = Counter(t for _, t, _ in cells)
    by_true_profile: Counter[int] = Counter(t * n_profile + f for _, t, f in cells)
    by_both: Counter[int] = Counter(p * n_true + t for p, t, _ in cells)
    by_both_profile: Counter[int] = Counter((p * n_true + t) * n_profile + f for p, t, f in cells)
    predicted_pairs = _pairs(by_pred) - _pairs(by_pred_profile)
    truth_pairs = _pairs(by_true) - _pairs(by_true_profile)
    tp = _pairs(by_both) - _pairs(by_both_profile)
    return _scores(tp, predicted_pairs, truth_pairs)


def _scores(tp: int, predicted_pairs: int, truth_pairs: int) -> Scores:
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / truth_pairs if truth_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(
        precision=precision,
        recall=recall,
        f1=f1,
        true_positive=tp,
        predicted_pairs=predicted_pairs,
        truth_pairs=truth_pairs,
    )


class UnionFind:
    """Disjoint sets over hashable items, with path halving; unknown items are their own root."""

    def __init__(self) -> None:
        self._parent: dict[Hashable, Hashable] = {}

    def find(self, item: Hashable) -> Hashable:
        parent = self._parent
        while (up := parent.get(item, item)) != item:
            grand = parent.get(up, up)
            parent[item] = grand
            item = grand
        return item

    def union(self, a: Hashable, b: Hashable) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Order by repr so the surviving root does not depend on the order of the input.
            if repr(ra) < repr(rb):
                ra, rb = rb, ra
            self._parent[ra] = rb


def with_suggestions(
    predicted: Mapping[str, Hashable], suggestions: Iterable[tuple[Hashable, Hashable]]
) -> dict[str, Hashable]:
    """Event → person after joining the two persons of every suggestion (as if all were accepted)."""
    sets = UnionFind()
    for a, b in suggestions:
        sets.union(a, b)
    return {event_id: sets.find(person) for event_id, person in predicted.items()}


# --- reading files -----------------------------------------------------------------------------------
def _open(path: str) -> IO[str]:
    if path == "-":
        return sys.stdin
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _json_lines(path: str) -> Iterator[dict[str, Any]]:
    with _open(path) as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def load_truth(path: str) -> tuple[dict[str, str], dict[str, str]]:
    """(event → true person, event → profile) from JSON Lines or one JSON object (no profiles then)."""
    truth: dict[str, str] = {}
    profiles: dict[str, str] = {}
    with _open(path) as stream:
        first = stream.readline()
        while first and not first.strip():
            first = stream.readline()
        try:
            head = json.loads(first)
        except json.JSONDecodeError:
            head = None  # the first line of a pretty-printed object
        if not (isinstance(head, dict) and "event_id" in head and "person_id" in head):
            mapping = json.loads(first + stream.read())
            return {str(k): str(v) for k, v in mapping.items()}, profiles
        # JSON Lines: stream them, a million-event truth should not sit in memory twice.
        for line in chain([first], stream):
            if line.strip():
                row = json.loads(line)
                truth[row["event_id"]] = row["person_id"]
                if "profile" in row:
                    profiles[row["event_id"]] = row["profile"]
    return truth, profiles


def load_events(path: str) -> dict[str, str]:
    """event → person from ``stitch export --what events``."""
    return {row["event_id"]: row["person_id"] for row in _json_lines(path)}


def load_suggestions(path: str) -> list[tuple[str, str]]:
    return [(row["a"], row["b"]) for row in _json_lines(path)]


def event_id_of(envelope: Mapping[str, Any], line_number: int) -> str:
    """The envelope's id, else the provider's message id (replay contract); a form gets its line."""
    if envelope.get("id"):
        return str(envelope["id"])
    payload = envelope.get("payload") or {}
    channel = envelope.get("channel")
    if channel == "telegram" and "update_id" in payload:
        return str(payload["update_id"])
    if channel == "whatsapp" and payload.get("MessageSid"):
        return str(payload["MessageSid"])
    if channel == "avito":
        value = (payload.get("payload") or {}).get("value") or {}
        if value.get("id"):
            return str(value["id"])
    return f"line:{line_number}"


def profile_and_keys(event_id: str, envelope: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The event's profile and the exact-identifier keys (``phone:…``, ``email:…``) it carries."""
    channel = envelope.get("channel")
    payload: Mapping[str, Any] = envelope.get("payload") or {}
    keys: list[str] = []
    if channel == "telegram":
        message = payload.get("message") or payload.get("edited_message") or {}
        sender = (message.get("from") or {}).get("id")
        contact = message.get("contact") or {}
        # Only a contact the user shared of themselves identifies them; anyone else's is just data.
        if contact.get("phone_number") and sender is not None and contact.get("user_id") == sender:
            keys.append(_phone_key(str(contact["phone_number"])))
        return (f"telegram:{sender}" if sender is not None else f"event:{event_id}"), keys
    if channel == "whatsapp":
        sender = payload.get("From")
        if sender:
            keys.append(_phone_key(str(sender)))
        account = str(sender).removeprefix("whatsapp:")
        return (f"whatsapp:{account}" if sender else f"event:{event_id}"), keys
    if channel == "avito":
        value = (payload.get("payload") or {}).get("value") or {}
        author = value.get("author_id")
        return (f"avito:{author}" if author is not None else f"event:{event_id}"), keys
    if channel == "webform":
        if payload.get("phone"):
            keys.append(_phone_key(str(payload["phone"])))
        if payload.get("email"):
            email = normalize_email(str(payload["email"]))
            keys.append(f"email:{email}" if email else "")
        visitor = payload.get("visitor_id")
        return (f"webform:{visitor}" if visitor else f"event:{event_id}"), keys
    return f"event:{event_id}", keys


def _phone_key(raw: str) -> str:
    phone = normalize_phone(raw, DEFAULT_REGION)
    return f"phone:{phone}" if phone else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayView:
    """What the replay file alone says: each event's profile and the exact-identifier clustering."""

    profile_of: dict[str, str]
    exact_person_of: dict[str, str]


def read_replay(lines: Iterable[str]) -> ReplayView:
    """Profiles, and the exact-identifier matcher's persons (profile ∪ shared phone ∪ shared e-mail)."""
    profile_of: dict[str, str] = {}
    sets = UnionFind()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            envelope = json.loads(line)
        except json.JSONDecodeError:
            continue  # replay skips such lines too
        if not isinstance(envelope, dict):
            continue
        event_id = event_id_of(envelope, number)
        profile, keys = profile_and_keys(event_id, envelope)
        profile_of[event_id] = profile
        for key in keys:
            if key:
                sets.union(profile, key)
    exact = {event_id: str(sets.find(profile)) for event_id, profile in profile_of.items()}
    return ReplayView(profile_of=profile_of, exact_person_of=exact)


def read_replay_file(path: str) -> ReplayView:
    with _open(path) as lines:
        return read_replay(lines)


# --- report ------------------------------------------------------------------------------------------
def _row(name: str, scores: Scores) -> str:
    return (
        f"{name:<22} {scores.precision:>9.4f} {scores.recall:>9.4f} {scores.f1:>9.4f} "
        f"{scores.true_positive:>12} {scores.false_positive:>12} {scores.false_negative:>12}"
    )


def report(rows: Mapping[str, Scores], *, events: int) -> str:
    header = (
        f"{'matcher':<22} {'precision':>9} {'recall':>9} {'F1':>9} {'TP pairs':>12} {'FP pairs':>12} {'FN pairs':>12}"
    )
    lines = [f"events: {events}  (pairs of events from different profiles)", header, "-" * len(header)]
    lines.extend(_row(name, scores) for name, scores in rows.items())
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.accuracy",
        description="Pairwise accuracy of identity resolution against ground truth.",
    )
    parser.add_argument("--truth", required=True, help="truth file from bench.generate")
    parser.add_argument("--events", required=True, help="stitch export --what events (JSON Lines)")
    parser.add_argument("--suggestions", help="stitch export --what suggestions (JSON Lines)")
    parser.add_argument("--replay", help="the replay file: profiles and the exact-identifier baseline")
    parser.add_argument("--json", dest="json_out", help="write the figures here as JSON")
    args = parser.parse_args(argv)

    truth, profile_of = load_truth(args.truth)
    exact: dict[str, str] | None = None
    if args.replay:
        view = read_replay_file(args.replay)
        profile_of = view.profile_of
        exact = view.exact_person_of
    predicted = load_events(args.events)
    rows: dict[str, Scores] = {"auto merges": pairwise_scores(truth, predicted, profile_of)}
    if args.suggestions:
        merged = with_suggestions(predicted, load_suggestions(args.suggestions))
        rows["auto + suggestions"] = pairwise_scores(truth, merged, profile_of)
    if exact is not None:
        rows["exact identifiers"] = pairwise_scores(truth, exact, profile_of)

    missing = sum(1 for event_id in truth if event_id not in predicted)
    print(report(rows, events=len(truth)))
    if missing:
        print(f"note: {missing} truth events were not in the export; each counts as its own person")
    if args.json_out:
        figures = {
            "events": len(truth),
            "missing_from_export": missing,
            "rows": {
                name: {**asdict(s), "false_positive": s.false_positive, "false_negative": s.false_negative}
                for name, s in rows.items()
            },
        }
        with open(args.json_out, "w", encoding="utf-8") as out:
            json.dump(figures, out, ensure_ascii=False, indent=2)
            out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
