"""The match-weight model: weights, scores that add up, estimation, and its file."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from pathlib import Path

import pytest

from core.errors import ModelError, StitchError
from resolver import model as fs
from resolver.model import Comparison, Level, Model


def _model(prior: float = 0.2) -> Model:
    return Model(
        version="test-1",
        prior=prior,
        comparisons=(
            Comparison(
                name="name",
                levels=(
                    Level(name="exact", m=0.7, u=0.01),
                    Level(name="fuzzy", m=0.2, u=0.09),
                    Level(name="other", m=0.1, u=0.9),
                    Level(name="null", null=True),
                ),
                tf_levels=frozenset({"exact"}),
            ),
            Comparison(
                name="time",
                levels=(Level(name="close", m=0.8, u=0.1), Level(name="far", m=0.2, u=0.9)),
            ),
            Comparison(
                name="channel",
                levels=(Level(name="different", m=0.6, u=0.5), Level(name="same", m=0.4, u=0.5)),
            ),
        ),
    )


def test_a_level_weighs_log2_of_m_over_u() -> None:
    level = Level(name="exact", m=0.7, u=0.01)
    assert level.weight == pytest.approx(math.log2(70))
    assert Level(name="null", null=True).weight == 0.0


def test_a_score_is_its_prior_plus_its_parts_in_order() -> None:
    model = _model()
    score = model.score({"name": "fuzzy", "time": "close", "channel": "same"})
    assert [(p.comparison, p.level) for p in score.parts] == [("name", "fuzzy"), ("time", "close"), ("channel", "same")]
    assert score.prior == pytest.approx(math.log2(0.2 / 0.8))
    assert score.weight == pytest.approx(score.prior + sum(p.weight for p in score.parts))
    assert all(p.weight == pytest.approx(math.log2(p.m / p.u)) for p in score.parts)
    assert score.probability == pytest.approx(2**score.weight / (1 + 2**score.weight))
    assert "probability" in score.explain()


def test_a_null_level_and_a_missing_comparison_weigh_nothing() -> None:
    model = _model()
    with_null = model.score({"name": "null", "time": "far"})
    assert with_null.parts[0].weight == 0.0
    assert with_null.weight == pytest.approx(with_null.prior + math.log2(0.2 / 0.9))


def test_probability_does_not_overflow() -> None:
    assert fs.probability(5000.0) == 1.0
    assert fs.probability(-5000.0) == 0.0


def test_term_frequency_makes_a_common_value_weigh_less_than_a_rare_one() -> None:
    model = _model()
    levels = {"name": "exact", "time": "far", "channel": "different"}
    common = model.score(levels, {"name": 0.05})
    rare = model.score(levels, {"name": 0.0001})
    assert common.weight < model.score(levels).weight < rare.weight
    assert common.parts[0].u == 0.05
    # A value seen once must not weigh like an identifier: its frequency is floored.
    once = model.score(levels, {"name": 1e-12})
    assert once.parts[0].u == model.comparison("name").tf_floor
    # Only the adjusted level is adjusted.
    fuzzy = model.score({**levels, "name": "fuzzy"}, {"name": 0.05})
    assert fuzzy.parts[0].u == 0.09


def test_term_frequencies_are_shares_of_the_values() -> None:
    assert fs.term_frequencies(["a", "a", "b", "", "c"]) == {"a": 0.5, "b": 0.25, "c": 0.25}


def _draw(model: Model, rng: random.Random, *, match: bool) -> fs.Pattern:
    pattern = []
    for comparison in model.comparisons:
        levels = [lv for lv in comparison.levels if not lv.null]
        weights = [lv.m if match else lv.u for lv in levels]
        pattern.append(rng.choices([lv.name for lv in levels], weights)[0])
    return tuple(pattern)


def test_em_recovers_m_and_the_prior_of_a_known_model_without_labels() -> None:
    known = _model(prior=0.3)
    rng = random.Random(5)
    blocked: Counter[fs.Pattern] = Counter()
    for _ in range(40_000):
        blocked[_draw(known, rng, match=rng.random() < known.prior)] += 1
    unrelated = Counter(_draw(known, rng, match=False) for _ in range(40_000))

    blank = Model(
        version="blank",
        prior=0.5,
        comparisons=tuple(
            c.with_probabilities(m={lv.name: 0.5 for lv in c.levels}, u={lv.name: 0.5 for lv in c.levels})
            for c in known.comparisons
        ),
    )
    with_u = fs.estimate_u(blank, unrelated)
    for comparison in known.comparisons:
        for level in comparison.levels:
            if not level.null:
                assert with_u.comparison(comparison.name).level(level.name).u == pytest.approx(level.u, abs=0.01)
    estimated = fs.expectation_maximisation(with_u, blocked)
    assert estimated.prior == pytest.approx(0.3, abs=0.02)
    for comparison in known.comparisons:
        for level in comparison.levels:
            if not level.null:
                assert estimated.comparison(comparison.name).level(level.name).m == pytest.approx(level.m, abs=0.03)


def test_em_leaves_out_what_its_blocking_rule_forces_to_agree() -> None:
    known = _model(prior=0.3)
    rng = random.Random(9)
    blocked: Counter[fs.Pattern] = Counter()
    for _ in range(20_000):
        blocked[_draw(known, rng, match=rng.random() < known.prior)] += 1
    estimated = fs.expectation_maximisation(known, blocked, leave_out=["name"])
    assert estimated.comparison("name") == known.comparison("name")
    combined = fs.combine(known, [(estimated, ["name"])])
    assert combined.comparison("name") == known.comparison("name")
    assert combined.comparison("time").level("close").m == estimated.comparison("time").level("close").m


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "model.json"
    fs.save(model, path)
    assert fs.load(path) == model
    assert not (tmp_path / "model.json.tmp").exists()


def _one_line(error: StitchError) -> str:
    text = str(error)
    assert "\n" not in text
    return text


def test_a_missing_file_fails_with_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(ModelError) as caught:
        fs.load(path)
    assert str(path) in _one_line(caught.value) and "missing" in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        json.dumps({"format": fs.FORMAT, "format_version": fs.FORMAT_VERSION, "version": "x"}),
        json.dumps(
            {"format": fs.FORMAT, "format_version": fs.FORMAT_VERSION, "version": "x", "prior": 2.0, "comparisons": []}
        ),
        json.dumps(
            {
                "format": fs.FORMAT,
                "format_version": fs.FORMAT_VERSION,
                "version": "x",
                "prior": 0.1,
                "comparisons": [{"name": "a", "levels": [{"name": "b", "m": 0, "u": 0.5}]}],
            }
        ),
    ],
)
def test_a_corrupt_file_fails_with_one_line_naming_it(tmp_path: Path, content: str) -> None:
    path = tmp_path / "model.json"
    path.write_text(content)
    with pytest.raises(ModelError) as caught:
        fs.load(path)
    assert str(path) in _one_line(caught.value)


def test_a_file_of_another_version_fails_with_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    data = fs.to_json(_model())
    data["format_version"] = fs.FORMAT_VERSION - 1
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError) as caught:
        fs.load(path)
    assert str(path) in _one_line(caught.value) and "version" in str(caught.value)
