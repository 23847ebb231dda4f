"""The resolver decides with the match-weight model: thresholds are probabilities, evidence adds up,
and a model that cannot be used stops start-up with one line naming it."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from app.cli import main
from app.ingest import Pipeline
from connectors.envelope import envelope_to_json
from core.config import ResolverSettings, Settings
from core.errors import ConfigError, ModelError
from core.records import MergeKind
from resolver import model as fs
from resolver import training
from resolver.model import probability
from resolver.scoring import PRIOR, weight_of
from store.base import BaseStore
from tests.resolver.test_links import run
from tests.resolver.traffic import avito, tg

QUESTION = "Подскажите, сколько стоит замена ремня ГРМ на Hyundai Creta 2019?"


def test_thresholds_are_match_probabilities() -> None:
    settings = Settings.from_env({"STITCH_MERGE_PROBABILITY": "0.995", "STITCH_REVIEW_PROBABILITY": "0.6"})
    assert settings.resolver.merge_probability == 0.995
    assert settings.resolver.review_probability == 0.6
    assert settings.resolver.merge_score == pytest.approx(math.log2(0.995 / 0.005))


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"STITCH_MERGE_SCORE": "12"}, "STITCH_MERGE_SCORE"),
        ({"STITCH_REVIEW_SCORE": "6"}, "STITCH_REVIEW_SCORE"),
        ({"STITCH_MERGE_PROBABILITY": "12"}, "STITCH_MERGE_PROBABILITY"),
        ({"STITCH_REVIEW_PROBABILITY": "0"}, "STITCH_REVIEW_PROBABILITY"),
        ({"STITCH_MERGE_PROBABILITY": "0.9", "STITCH_REVIEW_PROBABILITY": "0.95"}, "STITCH_REVIEW_PROBABILITY"),
        ({"STITCH_MODEL_FALLBACK": "maybe"}, "STITCH_MODEL_FALLBACK"),
    ],
)
def test_bad_thresholds_fail_naming_the_variable(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert key in str(caught.value)
    if key.endswith("_SCORE"):
        assert "PROBABILITY" in str(caught.value)  # the old name points at its successor


async def test_a_merge_keeps_weights_that_add_up_to_its_probability(pipeline: Pipeline, store: BaseStore) -> None:
    a, b = await run(pipeline, tg(61, "Аристарх Ковалёв", QUESTION, 0), avito(62, "Аристарх Ковалёв", QUESTION, 3))
    assert a == b
    (merge,) = [m for m in await store.merges() if m.kind is MergeKind.AUTO]
    assert merge.evidence[0].rule == PRIOR and merge.evidence[0].score < 0
    rules = {e.rule for e in merge.evidence}
    assert {"name", "text", "channel"} <= rules
    assert probability(weight_of(merge.evidence)) >= pipeline.settings.resolver.merge_probability


async def test_a_suggestion_carries_the_match_probability_of_its_evidence(pipeline: Pipeline, store: BaseStore) -> None:
    # The same full name on another channel days apart: worth a look, never a merge.
    await run(
        pipeline,
        tg(63, "Аристарх", "Сколько стоит диван Лофт?", 0, last="Ковалёв"),
        avito(64, "Аристарх Ковалёв", QUESTION, 3 * 24 * 60),
    )
    suggestions = await store.suggestions()
    assert suggestions
    for s in suggestions:
        assert 0.0 < s.score < 1.0
        assert s.score == pytest.approx(probability(weight_of(s.evidence)))


def _write_corrupt_model(db: Path) -> Path:
    path = Path(f"{db}.model.json")
    path.write_text("{ not json", encoding="utf-8")
    return path


def _envelope_file(tmp_path: Path) -> Path:
    line = {
        "id": "e1",
        "channel": "webform",
        "received_at": "2026-10-01T10:03:40Z",
        "payload": {"form_id": "contact", "name": "Анна", "message": "Сколько стоит диван Лофт?"},
    }
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    return path


def test_a_corrupt_store_model_stops_replay_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "stitch.db"
    assert main(["replay", "--no-progress", "--store", f"sqlite:///{db}", str(_envelope_file(tmp_path))]) == 0
    capsys.readouterr()
    bad = _write_corrupt_model(db)
    assert main(["replay", "--no-progress", "--store", f"sqlite:///{db}", str(_envelope_file(tmp_path))]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err
    # Falling back to the shipped model is a setting, never a silent default.
    monkeypatch.setenv("STITCH_MODEL_FALLBACK", "true")
    assert main(["replay", "--no-progress", "--store", f"sqlite:///{db}", str(_envelope_file(tmp_path))]) == 0


def test_a_missing_model_file_in_the_settings_stops_replay_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere.model.json"
    monkeypatch.setenv("STITCH_MODEL", str(missing))
    db = tmp_path / "stitch.db"
    assert main(["replay", "--no-progress", "--store", f"sqlite:///{db}", str(_envelope_file(tmp_path))]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err and "missing" in err


def test_graph_explain_shows_parts_that_add_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs = [tg(81, "Аристарх Ковалёв", QUESTION, 0), avito(82, "Аристарх Ковалёв", QUESTION, 3)]
    path = tmp_path / "pair.jsonl"
    path.write_text("".join(json.dumps(envelope_to_json(e)) + "\n" for e in envs), encoding="utf-8")
    db = tmp_path / "explain.db"
    assert main(["replay", "--no-progress", "--store", f"sqlite:///{db}", str(path)]) == 0
    capsys.readouterr()
    assert main(["graph", "explain", "--store", f"sqlite:///{db}", "telegram:81", "avito:82"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any("match probability" in line for line in out)
    parts = [float(line.split()[-1]) for line in out if line.strip().startswith(("prior", "name", "text"))]
    parts += [float(line.split()[-1]) for line in out if line.strip().startswith("channel")]
    total = next(line for line in out if "= match weight" in line).split()
    assert len(parts) >= 3
    # Printed with the digits they are kept with, the parts add up to the printed total exactly.
    assert round(sum(parts), 3) == float(total[3])
    assert float(total[-1].rstrip("%")) / 100 == pytest.approx(probability(float(total[3])), abs=1e-4)
    assert total[-3:-1] == ["match", "probability"] and total[-1].endswith("%")


async def test_a_model_without_a_level_the_resolver_reaches_is_refused(store: BaseStore, tmp_path: Path) -> None:
    shipped = training.default_model()
    text = shipped.comparison("text")
    older = replace(text, levels=tuple(lv for lv in text.levels if lv.name != "topic_soon"))
    path = tmp_path / "older.model.json"
    fs.save(replace(shipped, comparisons=tuple(older if c.name == "text" else c for c in shipped.comparisons)), path)
    settings = ResolverSettings(model_path=str(path))
    with pytest.raises(ModelError) as caught:
        await training.resolver_model(store, settings)
    assert str(path) in str(caught.value) and "topic_soon" in str(caught.value)
    fallback = await training.resolver_model(store, replace(settings, model_fallback=True))
    assert fallback == (shipped, str(training.DEFAULT_MODEL))
