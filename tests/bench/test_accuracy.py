"""The accuracy metric: hand-made cases with known figures, suggestions, the exact-identifier baseline."""

from __future__ import annotations

import json
import random
from itertools import combinations
from pathlib import Path

import pytest

from bench.accuracy import (
    UnionFind,
    load_truth,
    main,
    pairwise_scores,
    read_replay,
    with_suggestions,
)


def _distinct_profiles(*events: str) -> dict[str, str]:
    return {e: f"p-{e}" for e in events}


def test_known_precision_recall_f1() -> None:
    truth = {"e1": "A", "e2": "A", "e3": "B", "e4": "B"}
    predicted = {"e1": "x", "e2": "x", "e3": "x", "e4": "y"}
    scores = pairwise_scores(truth, predicted, _distinct_profiles(*truth))
    # predicted pairs: e1e2, e1e3, e2e3; true pairs: e1e2, e3e4; only e1e2 is both.
    assert (scores.true_positive, scores.predicted_pairs, scores.truth_pairs) == (1, 3, 2)
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 2)
    assert scores.f1 == pytest.approx(0.4)
    assert (scores.false_positive, scores.false_negative) == (2, 1)


def test_pairs_inside_one_profile_are_not_counted() -> None:
    truth = {"e1": "A", "e2": "A", "e3": "A"}
    profiles = {"e1": "tg:1", "e2": "tg:1", "e3": "wa:1"}
    # Only the two cross-profile pairs e1e3 and e2e3 count; the resolver linked e1 and e2 only.
    scores = pairwise_scores(truth, {"e1": "x", "e2": "x", "e3": "y"}, profiles)
    assert (scores.true_positive, scores.predicted_pairs, scores.truth_pairs) == (0, 0, 2)
    assert scores.precision == 1.0 and scores.recall == 0.0 and scores.f1 == 0.0
    perfect = pairwise_scores(truth, {"e1": "x", "e2": "x", "e3": "x"}, profiles)
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)


def test_a_shared_profile_of_two_people_adds_no_pairs() -> None:
    # Colleagues writing from one office WhatsApp: the same profile, two true persons.
    truth = {"e1": "A", "e2": "B"}
    scores = pairwise_scores(truth, {"e1": "x", "e2": "x"}, {"e1": "wa:office", "e2": "wa:office"})
    assert (scores.predicted_pairs, scores.truth_pairs) == (0, 0)


def test_events_missing_from_the_export_are_singletons() -> None:
    truth = {"e1": "A", "e2": "A", "e3": "A"}
    scores = pairwise_scores(truth, {"e1": "x", "e2": "x"}, _distinct_profiles(*truth))
    assert (scores.true_positive, scores.predicted_pairs, scores.truth_pairs) == (1, 1, 3)


def test_contingency_counts_match_enumerated_pairs() -> None:
    rng = random.Random(5)
    events = [f"e{i}" for i in range(150)]
    truth = {e: f"T{rng.randrange(30)}" for e in events}
    predicted = {e: f"P{rng.randrange(25)}" for e in events}
    profiles = {e: f"F{rng.randrange(60)}" for e in events}
    tp = pred = true = 0
    for a, b in combinations(events, 2):
        if profiles[a] == profiles[b]:
            continue
        same_pred, same_true = predicted[a] == predicted[b], truth[a] == truth[b]
        pred += same_pred
        true += same_true
        tp += same_pred and same_true
    scores = pairwise_scores(truth, predicted, profiles)
    assert (scores.true_positive, scores.predicted_pairs, scores.truth_pairs) == (tp, pred, true)


def test_suggestions_join_persons_transitively() -> None:
    predicted = {"e1": "x", "e2": "y", "e3": "z", "e4": "w"}
    merged = with_suggestions(predicted, [("x", "y"), ("y", "z")])
    assert merged["e1"] == merged["e2"] == merged["e3"] != merged["e4"]
    truth = {"e1": "A", "e2": "A", "e3": "A", "e4": "B"}
    profiles = _distinct_profiles(*truth)
    assert pairwise_scores(truth, predicted, profiles).recall == 0.0
    after = pairwise_scores(truth, merged, profiles)
    assert (after.precision, after.recall) == (1.0, 1.0)


def test_union_find_ignores_input_order() -> None:
    one, two = UnionFind(), UnionFind()
    one.union("a", "b")
    two.union("b", "a")
    assert one.find("a") == one.find("b") == two.find("a") == two.find("b")
    assert one.find("c") == "c"


def _line(event_id: str, channel: str, payload: dict[str, object]) -> str:
    return json.dumps({"id": event_id, "channel": channel, "received_at": "2026-10-01T10:00:00Z", "payload": payload})


def _tg(event_id: str, user: int, *, contact: dict[str, object] | None = None) -> str:
    message: dict[str, object] = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": False, "first_name": "Саша"},
    }
    if contact:
        message["contact"] = contact
    else:
        message["text"] = "Привет"
    return _line(event_id, "telegram", {"update_id": len(event_id), "message": message})


def _wa(event_id: str, phone: str) -> str:
    return _line(
        event_id,
        "whatsapp",
        {"MessageSid": f"SM{event_id}", "From": f"whatsapp:{phone}", "Body": "?", "ProfileName": ""},
    )


def _form(event_id: str, visitor: str, phone: str, email: str = "") -> str:
    return _line(
        event_id,
        "webform",
        {"name": "Петров Александр", "phone": phone, "email": email, "message": "?", "visitor_id": visitor},
    )


def _avito(event_id: str, author: int) -> str:
    value = {
        "id": f"v{event_id}",
        "chat_id": "c",
        "user_id": 1,
        "author_id": author,
        "created": 0,
        "type": "text",
        "content": {"text": "Актуально?"},
    }
    return _line(
        event_id,
        "avito",
        {"id": "w", "version": "v3.0.0", "timestamp": 0, "payload": {"type": "message", "value": value}},
    )


TINY_REPLAY = [
    _wa("w1", "+79123456789"),
    _form("f1", "v1", "8 (912) 345-67-89", "A.Petrov@Mail.ru"),  # same phone as w1
    _form("f2", "v2", "+7 916 000-11-22", "a.petrov@mail.ru"),  # same e-mail as f1
    _tg("t1", 501),
    _tg("t2", 501, contact={"phone_number": "79123456789", "user_id": 501}),  # own contact: links to w1
    _tg("t3", 777, contact={"phone_number": "79165554433", "user_id": 999}),  # someone else's contact
    _form("f3", "v3", "12345", "test@test.com"),  # junk: links nothing
    _form("f4", "v4", "12345", "test@test.com"),
    _avito("a1", 42),
    _form("f5", "", "+7 903 111-22-33"),  # no visitor id: its own profile
    _wa("w2", "+79031112233"),
]


def test_exact_identifier_baseline_on_a_tiny_replay() -> None:
    view = read_replay(TINY_REPLAY)
    assert view.profile_of["w1"] == "whatsapp:+79123456789"
    assert view.profile_of["t1"] == view.profile_of["t2"] == "telegram:501"
    assert view.profile_of["a1"] == "avito:42"
    assert view.profile_of["f5"] == "event:f5"
    person = view.exact_person_of
    assert person["w1"] == person["f1"] == person["f2"] == person["t1"] == person["t2"]
    assert person["t3"] != person["w1"]
    assert person["f3"] != person["f4"]
    assert person["f5"] == person["w2"]
    assert len({person["a1"], person["w1"], person["f3"], person["t3"], person["f5"]}) == 5


def test_cli_reports_all_three_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replay = tmp_path / "replay.jsonl"
    replay.write_text("\n".join(TINY_REPLAY) + "\n", encoding="utf-8")
    truth_rows = {
        "w1": "A",
        "f1": "A",
        "f2": "A",
        "t1": "A",
        "t2": "A",
        "t3": "B",
        "f3": "C",
        "f4": "D",
        "a1": "A",
        "f5": "E",
        "w2": "E",
    }
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps(truth_rows), encoding="utf-8")  # the plain-object form
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps({"event_id": e, "person_id": "p-" + e, "lead_id": None, "channel": "x"}) + "\n"
            for e in truth_rows
        ),
        encoding="utf-8",
    )
    suggestions = tmp_path / "suggestions.jsonl"
    suggestions.write_text(
        json.dumps({"a": "p-a1", "b": "p-w1", "score": 0.7, "evidence": []}) + "\n", encoding="utf-8"
    )
    report = tmp_path / "report.json"
    code = main(
        [
            "--truth",
            str(truth),
            "--events",
            str(events),
            "--suggestions",
            str(suggestions),
            "--replay",
            str(replay),
            "--json",
            str(report),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "exact identifiers" in table and "auto + suggestions" in table
    figures = json.loads(report.read_text(encoding="utf-8"))["rows"]
    assert figures["auto merges"]["predicted_pairs"] == 0
    assert figures["auto + suggestions"]["true_positive"] == 1
    exact = figures["exact identifiers"]
    # Person A has 5 profiles with events w1,f1,f2,{t1,t2},a1: C(6,2) minus the t1-t2 pair = 14 pairs;
    # E has 1. Exact links all of A except a1: 5 events over 4 profiles = 9 pairs, plus f5-w2.
    assert exact["truth_pairs"] == 15
    assert exact["true_positive"] == 10 and exact["predicted_pairs"] == 10


def test_truth_json_lines_carry_profiles(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"event_id":"e1","person_id":"P1","profile":"telegram:1"}\n'
        '{"event_id":"e2","person_id":"P1","profile":"avito:2"}\n',
        encoding="utf-8",
    )
    truth, profiles = load_truth(str(path))
    assert truth == {"e1": "P1", "e2": "P1"}
    assert profiles == {"e1": "telegram:1", "e2": "avito:2"}
