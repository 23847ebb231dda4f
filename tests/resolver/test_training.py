"""Training the chat model on generator traffic, keeping it with a store, and the `stitch model` command."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.cli import main
from app.ingest import Pipeline
from app.replay import replay
from bench import generate as gen
from core.errors import TooLittleData
from resolver import model as fs
from resolver import training
from store.base import BaseStore


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("traffic")
    out = folder / "traffic.jsonl"
    # The truth file is written by the generator and never read here.
    gen.generate(persons=400, seed=5, out=str(out), truth=str(folder / "truth.jsonl"), days=3)
    return out


def test_training_on_too_little_data_refuses_naming_the_count() -> None:
    at = datetime(2026, 10, 1, tzinfo=UTC)
    few = [
        training.Sighting(event=f"e{i}", profile=f"telegram:{i}", channel="telegram", name="Анна", text="Цена?", at=at)
        for i in range(12)
    ]
    with pytest.raises(TooLittleData) as caught:
        training.train(few, where="few.jsonl")
    text = str(caught.value)
    assert "\n" not in text
    assert "few.jsonl" in text and "12 messages" in text and str(training.MIN_SIGHTINGS) in text


def test_the_trained_model_learns_which_way_each_level_points(traffic: Path) -> None:
    sightings = training.sightings_from_replay([str(traffic)], region="RU")
    trained = training.train(sightings.items, where=str(traffic))
    model = trained.model
    assert trained.sightings == len(sightings.items) >= training.MIN_SIGHTINGS
    name, text, phone = model.comparison("name"), model.comparison("text"), model.comparison("phone")
    assert name.level("exact").weight > 0 > name.level("different").weight
    # The same question within minutes is strong; a different one days later weighs nothing much.
    assert text.level("same_soon").weight > text.level("other_soon").weight > 0
    assert text.level("same_soon").weight > text.level("same_later").weight
    assert abs(text.level("other_later").weight) < 1
    assert phone.level("same").weight > 0 > phone.level("different").weight
    assert 0.0 < model.prior < 0.01
    # An explained score adds up: messages minutes apart, same name, same question, two channels.
    levels = {"name": "exact", "text": "same_soon", "channel": "different"}
    score = model.score(levels)
    assert score.weight == pytest.approx(score.prior + sum(p.weight for p in score.parts))
    assert score.probability > 0.99


def test_a_sighting_pair_compares_as_the_resolver_does() -> None:
    at = datetime(2026, 10, 1, 9, 58, tzinfo=UTC)
    a = training.Sighting(
        event="a",
        profile="telegram:1",
        channel="telegram",
        name="Саша Петров",
        text="Сколько стоит замена масла на Kia Rio?",
        at=at,
    )
    b = training.Sighting(
        event="b",
        profile="whatsapp:+79123456789",
        channel="whatsapp",
        name="Alexander",
        text="сколько стоит замена масла на kia rio?",
        at=at + timedelta(minutes=1),
        identifiers=frozenset({"phone:+79123456789"}),
    )
    levels = training.compare(a, b)
    assert levels == {
        "name": "given_only",  # "Alexander" is the given name of "Саша Петров", no surname to compare
        "text": "same_soon",  # the same question within the window: text and time are one comparison
        "channel": "different",
        "phone": "null",
        "email": "null",
        "username": "null",
    }


def test_the_shipped_model_loads_and_has_the_chat_comparisons() -> None:
    shipped = fs.load(training.DEFAULT_MODEL)
    blank = training.blank_model()
    assert shipped.names == blank.names
    for ours, theirs in zip(shipped.comparisons, blank.comparisons, strict=True):
        assert [lv.name for lv in ours.levels] == [lv.name for lv in theirs.levels]


async def test_a_store_keeps_its_model_and_falls_back_to_the_shipped_one(store: BaseStore) -> None:
    model, where = await training.load_for(store)
    assert where == str(training.DEFAULT_MODEL)
    own = fs.Model(version="own-1", prior=0.001, comparisons=model.comparisons)
    saved_at = await training.save_for(store, own)
    again, where = await training.load_for(store)
    assert again == own and where == saved_at


async def test_sightings_from_a_store_are_its_inbound_messages(
    store: BaseStore, pipeline: Pipeline, traffic: Path, tmp_path: Path
) -> None:
    first = tmp_path / "first.jsonl"
    first.write_text("".join(traffic.read_text(encoding="utf-8").splitlines(keepends=True)[:120]), encoding="utf-8")
    summary = await replay(pipeline, [str(first)], err=io.StringIO(), progress=False)
    from_file = training.sightings_from_replay([str(first)], region="RU").items
    from_store = (await training.sightings_from_store(store)).items
    assert summary.ingested == len(from_file) == len(from_store)
    assert sorted(s.event for s in from_store) == sorted(s.event for s in from_file)
    assert [s.at for s in from_store] == sorted(s.at for s in from_store)


def test_train_and_show_commands(traffic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "stitch.db"
    assert main(["model", "train", "--store", f"sqlite:///{db}", "--replay", str(traffic)]) == 0
    out = capsys.readouterr().out
    assert f"saved to {db}.model.json" in out
    assert main(["model", "show", "--store", f"sqlite:///{db}"]) == 0
    shown = capsys.readouterr().out
    assert f"{db}.model.json" in shown
    assert "text" in shown and "same_soon" in shown and "weight" in shown


def test_commands_fail_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny = tmp_path / "tiny.jsonl"
    envelope = {
        "id": "e1",
        "channel": "webform",
        "received_at": "2026-10-01T10:03:40Z",
        "payload": {"form_id": "contact", "name": "Анна", "message": "Цена?"},
    }
    tiny.write_text(json.dumps(envelope) + "\nnot json\n")
    assert main(["model", "train", "--replay", str(tiny), "--out", str(tmp_path / "m.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 messages" in err and str(training.MIN_SIGHTINGS) in err
    assert not (tmp_path / "m.json").exists()

    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{")
    assert main(["model", "show", "--model", str(corrupt)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(corrupt) in err

    assert main(["model", "show", "--store", f"sqlite:///{tmp_path / 'absent.db'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "absent.db" in err
    assert not (tmp_path / "absent.db").exists()
