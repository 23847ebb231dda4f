"""The traffic generator: valid replay lines, complete truth, determinism, every population present."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import phonenumbers
import pytest

from bench import generate as gen
from bench.vocab import PL, RU
from core.phones import normalize_phone

SMALL = 400
CHANNELS = {"telegram", "whatsapp", "avito", "webform"}


def _run(tmp_path: Path, *, seed: int = 11, persons: int = SMALL, suffix: str = ".jsonl") -> tuple[Path, Path]:
    out, truth = tmp_path / f"replay-{seed}{suffix}", tmp_path / f"truth-{seed}.jsonl"
    gen.generate(persons=persons, seed=seed, out=str(out), truth=str(truth), days=5)
    return out, truth


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    out, truth = _run(tmp_path_factory.mktemp("gen"))
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    rows = [json.loads(line) for line in truth.read_text(encoding="utf-8").splitlines()]
    return lines, rows


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    runs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        (tmp_path / name).mkdir()
        runs.append(_run(tmp_path / name, seed=seed, persons=120))
    first, second, other = runs
    assert first[0].read_bytes() == second[0].read_bytes()
    assert first[1].read_bytes() == second[1].read_bytes()
    assert first[0].read_bytes() != other[0].read_bytes()


def test_gzip_output_is_deterministic_and_readable(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, _ = _run(tmp_path / "a", persons=50, suffix=".jsonl.gz")
    b, _ = _run(tmp_path / "b", persons=50, suffix=".jsonl.gz")
    assert a.read_bytes() == b.read_bytes()
    with gzip.open(a, "rt", encoding="utf-8") as lines:
        assert all(json.loads(line)["channel"] in CHANNELS for line in lines)


def test_every_line_is_a_valid_envelope_in_time_order(
    produced: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    lines, _ = produced
    previous = ""
    for envelope in lines:
        assert set(envelope) <= {"id", "channel", "received_at", "payload", "lookups"}
        assert envelope["channel"] in CHANNELS
        assert isinstance(envelope["payload"], dict)
        stamp = envelope["received_at"]
        assert stamp.endswith("Z")
        assert datetime.fromisoformat(stamp).utcoffset() is not None
        assert stamp >= previous
        previous = stamp
    assert len({e["id"] for e in lines}) == len(lines)


def test_truth_covers_every_event_and_every_population(
    produced: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    lines, rows = produced
    truth = {row["event_id"]: row for row in rows}
    assert len(truth) == len(rows) == len(lines)
    assert {e["id"] for e in lines} == set(truth)
    assert len({row["person_id"] for row in rows}) == SMALL
    assert {row["population"] for row in rows} == set(gen.POPULATION_SHARES)
    assert sum(gen.POPULATION_SHARES.values()) == pytest.approx(1.0)


def test_payloads_are_raw_provider_shapes(
    produced: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    lines, _ = produced
    by_channel: dict[str, list[dict[str, Any]]] = {}
    for envelope in lines:
        by_channel.setdefault(envelope["channel"], []).append(envelope)
    for envelope in by_channel["whatsapp"]:
        payload = envelope["payload"]
        assert all(isinstance(v, str) for v in payload.values())
        assert payload["MessageSid"].startswith("SM") and len(payload["MessageSid"]) == 34
        assert payload["From"] == f"whatsapp:+{payload['WaId']}"
        assert normalize_phone(payload["From"]) == payload["From"].removeprefix("whatsapp:")
    contacts = 0
    for envelope in by_channel["telegram"]:
        message = envelope["payload"]["message"]
        assert message["chat"]["id"] == message["from"]["id"]
        if "contact" in message:
            contacts += 1
            assert message["contact"]["user_id"] == message["from"]["id"]
        else:
            assert message["text"]
    assert contacts > 0
    for envelope in by_channel["avito"]:
        value = envelope["payload"]["payload"]["value"]
        names = {u["id"]: u["name"] for u in envelope["lookups"]["chat"]["users"]}
        assert value["author_id"] in names and value["user_id"] in names
        assert value["author_id"] != value["user_id"]
    for envelope in by_channel["webform"]:
        assert {"name", "phone", "message", "visitor_id"} <= set(envelope["payload"])


def test_provider_ids_are_unique(produced: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    lines, _ = produced
    ids: Counter[str] = Counter()
    for envelope in lines:
        payload = envelope["payload"]
        if envelope["channel"] == "telegram":
            ids[f"u{payload['update_id']}"] += 1
            ids[f"m{payload['message']['message_id']}"] += 1
        elif envelope["channel"] == "whatsapp":
            ids[payload["MessageSid"]] += 1
        elif envelope["channel"] == "avito":
            ids[payload["payload"]["value"]["id"]] += 1
            ids[payload["id"]] += 1
    assert ids and max(ids.values()) == 1


def test_shared_phones_belong_to_different_true_persons_only_in_their_populations(
    produced: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    lines, rows = produced
    truth = {row["event_id"]: row for row in rows}
    owners: dict[str, set[str]] = {}
    for envelope in lines:
        if envelope["channel"] == "webform":
            phone = normalize_phone(envelope["payload"]["phone"])
            if phone:
                owners.setdefault(phone, set()).add(envelope["id"])
    for events in owners.values():
        persons = {truth[e]["person_id"] for e in events}
        if len(persons) > 1:
            assert {truth[e]["population"] for e in events} <= {gen.COLLEAGUES, gen.FAMILY}


def test_phone_prefixes_are_valid_ranges() -> None:
    samples = [f"+7{p}1234567" for p in gen.RU_MOBILE_PREFIXES + gen.RU_LANDLINE_PREFIXES]
    samples += [f"+48{p}123456" for p in gen.PL_MOBILE_PREFIXES]
    samples += [f"+1{p}2345678" for p in gen.US_AREA_CODES]
    for e164 in samples:
        assert phonenumbers.is_valid_number(phonenumbers.parse(e164)), e164


def test_names_and_rephrasing() -> None:
    assert gen.feminine_surname("Петров", RU) == "Петрова"
    assert gen.feminine_surname("Кобзарский", RU) == "Кобзарская"
    assert gen.feminine_surname("Kowalski", PL) == "Kowalska"
    assert gen.latin("Александр") == "Alexander"
    assert gen.latin("Саша") == "Sasha"


def test_typed_phones_normalize_back(tmp_path: Path) -> None:
    with (tmp_path / "o").open("w") as out, (tmp_path / "t").open("w") as truth:
        generator = gen.TrafficGenerator(seed=1, start_ts=gen.parse_start(gen.DEFAULT_START), out=out, truth=truth)
        for _ in range(200):
            e164 = generator._phone("RU")
            assert normalize_phone(generator.typed_phone(e164), "RU") == e164
            polish = generator._phone("PL")
            assert normalize_phone(generator.typed_phone(polish), "PL") == polish
        question = "Сколько стоит замена масла на Kia Rio?"
        variants = {generator.rephrase(question, RU) for _ in range(30)}
        assert len(variants) > 5


def test_cli_writes_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, truth = tmp_path / "r.jsonl", tmp_path / "t.jsonl"
    code = gen.main(
        [
            "--persons",
            "30",
            "--seed",
            "2",
            "--out",
            str(out),
            "--truth",
            str(truth),
            "--start",
            "2026-11-01T00:00:00Z",
        ]
    )
    assert code == 0
    assert "persons 30" in capsys.readouterr().err
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first["received_at"].startswith("2026-11-01")
