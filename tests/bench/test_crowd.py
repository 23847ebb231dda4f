"""The second traffic generator: files `stitch replay` takes whole, complete truth, determinism, its crowd."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from app.cli import main as stitch
from bench import accuracy, crowd
from core.phones import normalize_phone

PERSONS = 400
CHANNELS = {"telegram", "whatsapp", "avito", "webform"}


def _write(directory: Path, *, seed: int, persons: int = PERSONS, days: int = 40) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out, truth = directory / "events.jsonl", directory / "truth.jsonl"
    crowd.generate(persons=persons, seed=seed, out=str(out), truth=str(truth), days=days)
    return out, truth


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _text(envelope: dict[str, Any]) -> str:
    payload = envelope["payload"]
    channel = envelope["channel"]
    if channel == "telegram":
        return str(payload["message"].get("text", ""))
    if channel == "whatsapp":
        return str(payload["Body"])
    if channel == "avito":
        return str(payload["payload"]["value"]["content"]["text"])
    return str(payload.get("message", ""))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _write(tmp_path_factory.mktemp("crowd"), seed=5)


def test_replay_takes_every_line_and_accuracy_reads_the_export(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, truth = files
    store = f"sqlite:///{tmp_path / 'crowd.db'}"
    code = stitch(["replay", "--store", store, "--json", "--no-progress", str(out)])
    summary = json.loads(capsys.readouterr().out)
    events = len(_lines(out))
    assert code == 0
    assert summary["skipped"] == 0 and summary["ignored"] == 0 and summary["ingested"] == events
    exported = tmp_path / "events.jsonl"
    assert stitch(["export", "--store", store, "--what", "events", "--out", str(exported)]) == 0
    assert {row["event_id"] for row in _lines(exported)} == {row["event_id"] for row in _lines(truth)}
    capsys.readouterr()
    assert accuracy.main(["--truth", str(truth), "--events", str(exported), "--replay", str(out)]) == 0
    report = capsys.readouterr().out
    assert re.search(r"auto merges\s+[01]\.\d{4}\s+[01]\.\d{4}", report)
    assert "not in the export" not in report


def test_truth_names_every_event_and_its_profile(files: tuple[Path, Path]) -> None:
    out, truth = files
    envelopes, rows = _lines(out), _lines(truth)
    assert [row["event_id"] for row in rows] == [e["id"] for e in envelopes]
    assert len({e["id"] for e in envelopes}) == len(envelopes)
    view = accuracy.read_replay(out.read_text(encoding="utf-8").splitlines())
    for row in rows:
        scored = view.profile_of[row["event_id"]]
        # A form without a visitor id is a profile of its own: both names say "this event alone".
        assert row["profile"] == scored or (row["profile"], scored) == (
            f"webform:{row['event_id']}",
            f"event:{row['event_id']}",
        )
    assert len({row["person_id"] for row in rows}) > PERSONS * 0.95


def test_envelopes_are_the_providers_bodies_in_arrival_order(files: tuple[Path, Path]) -> None:
    envelopes = _lines(files[0])
    stamps = [e["received_at"] for e in envelopes]
    assert stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps)
    assert {e["channel"] for e in envelopes} == CHANNELS
    update_ids = [e["payload"]["update_id"] for e in envelopes if e["channel"] == "telegram"]
    assert update_ids == sorted(update_ids) and len(set(update_ids)) == len(update_ids)
    for e in envelopes:
        payload = e["payload"]
        if e["channel"] == "telegram":
            sender = payload["message"]["from"]
            assert len(str(sender["id"])) in (9, 10) and payload["message"]["chat"]["id"] == sender["id"]
        elif e["channel"] == "whatsapp":
            assert re.fullmatch(r"(SM|MM)[0-9a-f]{32}", payload["MessageSid"])
            assert all(isinstance(v, str) for v in payload.values())
            assert payload["WaId"] == payload["From"].removeprefix("whatsapp:+")
        elif e["channel"] == "avito":
            value = payload["payload"]["value"]
            users = {u["id"]: u["name"] for u in e["lookups"]["chat"]["users"]}
            assert e["lookups"]["chat"]["id"] == value["chat_id"] and users[value["author_id"]]
        else:
            assert all(isinstance(v, str) for v in payload.values())
            assert set(payload) <= {
                "form_id", "name", "phone", "email", "message", "page_url", "visitor_id", "website",
                "utm_source", "utm_medium",
            }  # fmt: skip


def test_the_crowd_has_every_behaviour(tmp_path: Path) -> None:
    # Large enough that the rarer behaviours (someone else's contact card) are surely drawn.
    out, truth = _write(tmp_path, seed=7, persons=2000)
    envelopes, rows = _lines(out), _lines(truth)
    person = {row["event_id"]: row["person_id"] for row in rows}
    phone_owners: dict[str, set[str]] = defaultdict(set)
    given_names: dict[str, set[str]] = defaultdict(set)
    channels_of: dict[str, set[str]] = defaultdict(set)
    own_cards = others_cards = forms_without_visitor = invalid_phones = 0
    for e in envelopes:
        pid, payload = person[e["id"]], e["payload"]
        channels_of[pid].add(e["channel"])
        if e["channel"] == "telegram":
            message = payload["message"]
            card = message.get("contact")
            if card and card.get("user_id") == message["from"]["id"]:
                own_cards += 1
            elif card:
                others_cards += 1
        elif e["channel"] == "whatsapp":
            phone_owners[payload["From"].removeprefix("whatsapp:")].add(pid)
        elif e["channel"] == "webform":
            forms_without_visitor += "visitor_id" not in payload
            if payload.get("phone"):
                phone = normalize_phone(payload["phone"])
                invalid_phones += phone is None
                if phone:
                    phone_owners[phone].add(pid)
            if payload.get("name"):
                given_names[payload["name"].split()[-1]].add(pid)
    assert own_cards >= 30 and others_cards >= 3
    assert forms_without_visitor >= 30 and invalid_phones >= 30
    assert sum(len(owners) > 1 for owners in phone_owners.values()) >= 30  # office lines, family phones
    assert sum(len(owners) > 1 for owners in given_names.values()) >= 50  # namesakes
    assert sum(len(chs) >= 3 for chs in channels_of.values()) >= 100  # impatient customers
    texts = [_text(e) for e in envelopes]
    assert any(re.search("[ąęłśżź]", t) for t in texts) and any("the" in t.split() for t in texts)


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = _write(tmp_path / "a", seed=41, persons=150)
    b = _write(tmp_path / "b", seed=41, persons=150)
    c = _write(tmp_path / "c", seed=42, persons=150)
    assert a[0].read_bytes() == b[0].read_bytes() and a[1].read_bytes() == b[1].read_bytes()
    assert a[0].read_bytes() != c[0].read_bytes() and a[1].read_bytes() != c[1].read_bytes()


def test_command_line_writes_files_and_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, truth = tmp_path / "e.jsonl.gz", tmp_path / "t.jsonl"
    assert crowd.main(["--persons", "30", "--seed", "3", "--out", str(out), "--truth", str(truth), "--days", "5"]) == 0
    assert "30 persons" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        crowd.main(["--persons", "0", "--seed", "3", "--out", str(out), "--truth", str(truth)])
    assert exit_info.value.code == 2
    assert "expected 1 or more" in capsys.readouterr().err
    missing = tmp_path / "no" / "such" / "dir" / "e.jsonl"
    assert crowd.main(["--persons", "5", "--seed", "3", "--out", str(missing), "--truth", str(truth)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("crowd: cannot write") and len(err.splitlines()) == 1
