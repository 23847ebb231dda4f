"""historical_50k's harness on a small file drawn like it: the model is estimated without labels."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench import historical as h

FIRST = ["thomas", "william", "john", "mary", "george", "anne", "james", "elizabeth", "henry", "margaret"]
NICKNAMES = {"thomas": "tom", "william": "bill", "john": "jack", "elizabeth": "betty", "margaret": "peggy"}
SURNAMES = ["chudleigh", "shelley", "smith", "hartley", "brompton", "wakefield", "ashdown", "fairweather",
            "gresley", "pemberton", "rowntree", "tollemache", "whitbread", "kenyon", "lascelles", "montagu"]  # fmt: skip
PLACES = ["devon", "london", "york", "leeds", "bath", "hull", "ripon", "ely"]
OCCUPATIONS = ["politician", "painter", "cricketer", "writer", "priest"]


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word))
    return word[:i] + rng.choice("aeiou") + word[i + 1 :]


def _records(persons: int, seed: int) -> list[h.HistRecord]:
    rng = random.Random(seed)
    records = []
    for p in range(persons):
        first, surname = rng.choice(FIRST), rng.choice(SURNAMES)
        dob = f"{rng.randint(1600, 1900)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        place, job = rng.choice(PLACES), rng.choice(OCCUPATIONS)
        postcode = f"{rng.choice(['tq', 'se', 'ls', 'yo'])}{rng.randint(1, 30)} {rng.randint(1, 9)}{rng.choice('abd')}{rng.choice('fgh')}"
        for k in range(rng.randint(2, 6)):
            noisy_first = NICKNAMES.get(first, first) if rng.random() < 0.2 else first
            noisy_surname = _typo(surname, rng) if rng.random() < 0.15 else surname

            def maybe(value: str, missing: float = 0.2) -> str:
                return "" if rng.random() < missing else value

            records.append(
                h.HistRecord(
                    unique_id=f"{p}-{k}",
                    cluster=str(p),
                    first_name=noisy_first,
                    surname=maybe(noisy_surname, 0.1),
                    dob=maybe(dob),
                    place=maybe(place),
                    postcode=maybe(postcode),
                    occupation=maybe(job, 0.5),
                    gender="",
                )
            )
    return records


def test_levels_follow_splinks_order() -> None:
    def rec(first: str, surname: str) -> h.HistRecord:
        return h.HistRecord(unique_id="x", cluster="x", first_name=first, surname=surname, dob="", place="")

    assert h.compare_name(rec("thomas", "chudleigh"), rec("thomas", "chudleigh")) is h.Name.EXACT
    assert h.compare_name(rec("chudleigh", "thomas"), rec("thomas", "chudleigh")) is h.Name.SWAPPED
    assert h.compare_name(rec("tom", "chudleigh"), rec("thomas", "chudleigh")) is h.Name.EQUIVALENT
    assert h.compare_name(rec("thomas", "chudleigh"), rec("thomas", "chudlegh")) is h.Name.JW_HIGH
    assert h.compare_name(rec("thomas", ""), rec("thomas", "chudleigh")) is h.Name.FIRST_ALONE
    assert h.compare_name(rec("thomas", "smith"), rec("thomas", "chudleigh")) is h.Name.FIRST
    assert h.compare_name(rec("mary", "smith"), rec("george", "chudleigh")) is h.Name.OTHER
    assert h.compare_name(rec("", ""), rec("george", "chudleigh")) is h.Name.NULL
    assert h.compare_dob("1630-08-01", "1630-08-01") is h.Dob.EXACT
    assert h.compare_dob("1630-08-01", "1630-08-10") is h.Dob.TYPO
    assert h.compare_dob("1630-08-01", "1630-08-25") is h.Dob.MONTH
    assert h.compare_dob("1630-08-01", "1631-03-25") is h.Dob.YEAR
    assert h.compare_dob("1630-08-01", "1636-03-25") is h.Dob.DECADE
    assert h.compare_dob("", "1630-08-01") is h.Dob.NULL
    assert h.compare_postcode("tq13 8df", "tq13 8hu") is h.Postcode.SECTOR
    assert h.compare_postcode("tq13 8df", "tq13 5hu") is h.Postcode.DISTRICT
    assert h.compare_postcode("tq13 8df", "tq2 5hu") is h.Postcode.AREA


def test_the_estimated_model_finds_the_people_and_keeps_namesakes_apart() -> None:
    records = _records(150, seed=3)
    result = h.run_stitch(records)
    model = result.model
    # Learned, not set: agreement weighs for a match and disagreement against it.
    assert model.comparison("dob").level("exact").weight > 0 > model.comparison("dob").level("other").weight
    assert model.comparison("name").level("exact").weight > 0 > model.comparison("name").level("other").weight
    assert 0.0 < model.prior < 0.05
    assert result.clustered.precision >= 0.9
    assert result.clustered.recall >= 0.8


def test_the_command_prints_one_pairwise_and_one_clustered_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = _records(40, seed=4)
    columns = {
        "unique_id": [r.unique_id for r in records],
        "cluster": [r.cluster for r in records],
        "first_name": [r.first_name or None for r in records],
        "surname": [r.surname or None for r in records],
        "dob": [r.dob or None for r in records],
        "birth_place": [r.place or None for r in records],
    }
    path = tmp_path / "small.parquet"
    pq.write_table(pa.table(columns), path)
    assert h.main(["--data", str(path), "--no-splink"]) == 0
    out = capsys.readouterr().out
    assert sum("pairwise: P" in line for line in out.splitlines()) == 1
    assert sum("clustered: P" in line for line in out.splitlines()) == 1


def test_a_missing_file_is_one_line_and_a_non_zero_exit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert h.main(["--data", str(tmp_path / "absent.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "absent.parquet" in err
