"""`stitch replay` and `stitch export` as a user runs them."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest

from app.cli import main

SAMPLES = Path(__file__).parent.parent / "payloads" / "contract_samples.jsonl"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_replay_then_export_finds_one_person(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path / 's.db'}"
    code, out, _ = run(capsys, "replay", "--store", store, "--json", str(SAMPLES))
    summary = json.loads(out)
    assert code == 0
    assert summary["ingested"] == 4 and summary["persons_created"] == 1 and summary["merges_auto"] == 3
    code, out, _ = run(capsys, "export", "--store", store, "--what", "events")
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event_id"] for e in events] == ["e1", "e2", "e3", "e4"]
    assert len({e["person_id"] for e in events}) == 1 and len({e["lead_id"] for e in events}) == 1
    code, out, _ = run(capsys, "export", "--store", store, "--what", "persons")
    (person,) = [json.loads(line) for line in out.splitlines()]
    assert {p["channel"] for p in person["profiles"]} == {"telegram", "whatsapp", "avito", "webform"}
    assert {"type": "phone", "value": "+79123456789"} in person["identifiers"]
    code, out, _ = run(capsys, "export", "--store", store, "--what", "merges")
    merges = [json.loads(line) for line in out.splitlines()]
    assert [m["kind"] for m in merges] == ["auto"] * 3 and all(m["evidence"] for m in merges)


def test_replaying_twice_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path / 's.db'}"
    run(capsys, "replay", "--store", store, str(SAMPLES))
    _, first, _ = run(capsys, "export", "--store", store, "--what", "persons")
    code, out, _ = run(capsys, "replay", "--store", store, "--json", str(SAMPLES))
    assert code == 0 and json.loads(out)["duplicates"] == 4
    _, second, _ = run(capsys, "export", "--store", store, "--what", "persons")
    assert first == second


def test_bad_lines_are_reported_skipped_and_harmless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path / 's.db'}"
    run(capsys, "replay", "--store", store, str(SAMPLES))
    _, before, _ = run(capsys, "export", "--store", store, "--what", "persons")
    bad = tmp_path / "bad.jsonl.gz"
    lines = [
        "{not json",
        json.dumps({"channel": "fax", "received_at": "2026-10-01T10:00:00Z", "payload": {}}),
        json.dumps(
            {
                "id": "x",
                "channel": "telegram",
                "received_at": "2026-10-01T10:00:00Z",
                "payload": {
                    "update_id": 5,
                    "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}},
                },
            }
        ),
        "",
    ]
    with gzip.open(bad, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines))
    code, out, err = run(capsys, "replay", "--store", store, "--json", str(bad))
    assert code == 1
    assert json.loads(out)["skipped"] == 3
    assert f"{bad}:1:" in err and f"{bad}:2:" in err and "message.from" in err
    _, after, _ = run(capsys, "export", "--store", store, "--what", "persons")
    assert before == after


def test_export_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path / 's.db'}"
    run(capsys, "replay", "--store", store, str(SAMPLES))
    out_file = tmp_path / "persons.csv"
    assert (
        run(capsys, "export", "--store", store, "--what", "persons", "--format", "csv", "--out", str(out_file))[0] == 0
    )
    rows = list(csv.DictReader(io.StringIO(out_file.read_text(encoding="utf-8"))))
    assert len(rows) == 1 and len(json.loads(rows[0]["profiles"])) == 4


@pytest.mark.parametrize("url", ["postgres://nowhere/db", "sqlite:///", "sqlite:////no/such/folder/s.db"])
def test_a_bad_store_url_fails_with_one_line(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "export", "--store", url, "--what", "events")
    assert code == 2
    assert err.startswith("stitch: ") and len(err.strip().splitlines()) == 1
