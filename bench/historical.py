"""Stitch's name and attribute comparison on an outside data set: Splink's ``historical_50k``.

    python -m bench.historical [--data ../shared/data/historical_figures_with_errors_50k.parquet]
                               [--clusters N]

The file (50,578 records of 5,156 people, truth in ``cluster``) is read at run time and never copied
into the project. It has no channels, phones or e-mails, so only the person-level part of Stitch's
resolver is exercised: its name comparison (``core.names``: folding, diminutives, initials, typos)
plus date of birth and place compared in Splink's level style. Stages, as in Splink:

1. blocking: records sharing a key (first name + surname, canonical given name + surname, surname +
   place, surname + birth year, surname + dob, first name + dob, dob + birth place) are candidate
   pairs; nothing compares all pairs;
2. comparison: ordered levels per field, the first that holds wins (``NameMatch`` for names,
   ``DobLevel``, ``PlaceLevel``);
3. scoring: a hand-set log-odds-like weight per level (the same spirit as ``resolver/scoring.py``),
   summed; a pair at or above ``MATCH_SCORE`` is a predicted match (the *pairwise* figures);
4. clustering: connected components of the predicted matches (the *clustered* figures).

Column map: ``first_name`` + ``surname`` → the display name ``core.names.parse_name`` reads;
``dob`` → date of birth (ISO text); ``birth_place`` → place. ``postcode_fake``, ``occupation`` and
``gender`` are not used: the resolver has no such fields.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import combinations
from pathlib import Path

from rapidfuzz.distance import JaroWinkler, Levenshtein

from bench.accuracy import Scores, UnionFind, _scores, pairwise_scores
from core.names import NameMatch, fold_token, parse_name
from resolver.comparison import compare_person_names

FILE_NAME = "historical_figures_with_errors_50k.parquet"
COLUMNS = ("unique_id", "cluster", "first_name", "surname", "dob", "birth_place")

# A block larger than this is a very common key ("john smith"): comparing all its pairs would be
# quadratic for little gain, and the other keys still bring its true pairs together.
MAX_BLOCK = 400
# Sum of level weights at or above which two records are predicted to be one person.
MATCH_SCORE = 8.0
# Birth places at or above this Jaro-Winkler similarity are a typo of each other (Splink's e-mail
# comparison uses 0.88 for its fuzzy level).
PLACE_FUZZY_MIN = 0.88
# A date of birth this many edits apart is a typo ("1630-08-01" / "1630-08-11").
DOB_TYPO_EDITS = 1

NAME_WEIGHTS: dict[NameMatch, float] = {
    NameMatch.EXACT: 6.0,
    NameMatch.EQUIVALENT: 5.0,
    NameMatch.INITIAL: 3.0,
    # The folded names are within a typo of each other: on this file nearly always the same person.
    NameMatch.FUZZY: 5.0,
    # A given name alone, or nothing readable to compare: a date of birth and a place shared by
    # namesakes must not be enough, or clusters chain through them.
    NameMatch.GIVEN_ONLY: 0.5,
    NameMatch.UNKNOWN: -3.0,
    # Not a veto here, unlike the live resolver: historical records spell names in many ways that
    # the name tables do not know, and a date of birth is strong evidence on its own.
    NameMatch.DIFFERENT: -6.0,
}


class DobLevel(StrEnum):
    EXACT = "exact"
    TYPO = "typo"  # one edit apart
    SAME_YEAR = "same_year"
    DIFFERENT = "different"
    MISSING = "missing"


class PlaceLevel(StrEnum):
    EXACT = "exact"
    FUZZY = "fuzzy"
    DIFFERENT = "different"
    MISSING = "missing"


DOB_WEIGHTS: dict[DobLevel, float] = {
    DobLevel.EXACT: 7.0,
    DobLevel.TYPO: 4.0,
    DobLevel.SAME_YEAR: 1.0,
    DobLevel.DIFFERENT: -6.0,
    DobLevel.MISSING: 0.0,
}
PLACE_WEIGHTS: dict[PlaceLevel, float] = {
    PlaceLevel.EXACT: 3.0,
    PlaceLevel.FUZZY: 1.5,
    PlaceLevel.DIFFERENT: -1.0,
    PlaceLevel.MISSING: 0.0,
}


def default_path() -> Path:
    """``../shared/data/FILE_NAME`` beside the repository, looked for upwards (worktrees sit deeper)."""
    repo = Path(__file__).resolve().parents[1]
    for folder in repo.parents:
        candidate = folder / "shared" / "data" / FILE_NAME
        if candidate.exists():
            return candidate
    return repo.parent / "shared" / "data" / FILE_NAME


@dataclass(frozen=True, slots=True, kw_only=True)
class HistRecord:
    """One row of the outside file, reduced to what the resolver compares."""

    unique_id: str
    cluster: str
    first_name: str
    surname: str
    dob: str
    place: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.surname}".strip()


def load_historical(path: str | Path, *, clusters: int | None = None) -> list[HistRecord]:
    """Records of the parquet file; ``clusters`` keeps only the first N true persons (quick runs)."""
    import pyarrow.parquet as pq  # the bench extra; imported here so `bench` imports without it

    table = pq.read_table(str(path), columns=list(COLUMNS))
    rows = table.to_pydict()
    records: list[HistRecord] = []
    kept: set[str] = set()
    for i in range(table.num_rows):
        cluster = str(rows["cluster"][i])
        if clusters is not None and cluster not in kept:
            if len(kept) >= clusters:
                continue
            kept.add(cluster)
        records.append(
            HistRecord(
                unique_id=str(rows["unique_id"][i]),
                cluster=cluster,
                first_name=_text(rows["first_name"][i]),
                surname=_text(rows["surname"][i]),
                dob=_text(rows["dob"][i]),
                place=_text(rows["birth_place"][i]),
            )
        )
    return records


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


# --- 1. blocking -------------------------------------------------------------------------------------
def blocking_keys(record: HistRecord) -> list[str]:
    first = " ".join(fold_token(t) for t in record.first_name.split())
    sur = " ".join(fold_token(t) for t in record.surname.split())
    keys = []
    if first and sur:
        keys.append(f"fs:{first}|{sur}")
        # Diminutives meet their full forms ("tom" / "thomas") through the canonical given name.
        keys.extend(f"gs:{g}|{sur}" for g in sorted(parse_name(record.name).given))
    if sur and record.place:
        keys.append(f"sp:{sur}|{record.place}")
    if sur and record.dob:
        keys.append(f"sy:{sur}|{record.dob[:4]}")
    if sur and record.dob:
        keys.append(f"sd:{sur}|{record.dob}")
    if first and record.dob:
        keys.append(f"fd:{first}|{record.dob}")
    if record.dob and record.place:
        keys.append(f"dp:{record.dob}|{record.place}")
    return keys


def candidate_pairs(records: Sequence[HistRecord]) -> set[tuple[int, int]]:
    """Index pairs (i < j) sharing at least one blocking key of at most MAX_BLOCK records."""
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        for key in blocking_keys(record):
            blocks[key].append(i)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if 1 < len(members) <= MAX_BLOCK:
            pairs.update(combinations(members, 2))
    return pairs


# --- 2. comparison -----------------------------------------------------------------------------------
def compare_dob(a: str, b: str) -> DobLevel:
    if not a or not b:
        return DobLevel.MISSING
    if a == b:
        return DobLevel.EXACT
    if Levenshtein.distance(a, b) <= DOB_TYPO_EDITS:
        return DobLevel.TYPO
    if a[:4] == b[:4]:
        return DobLevel.SAME_YEAR
    return DobLevel.DIFFERENT


def compare_place(a: str, b: str) -> PlaceLevel:
    if not a or not b:
        return PlaceLevel.MISSING
    if a == b:
        return PlaceLevel.EXACT
    if JaroWinkler.similarity(a, b) >= PLACE_FUZZY_MIN:
        return PlaceLevel.FUZZY
    return PlaceLevel.DIFFERENT


# --- 3. scoring --------------------------------------------------------------------------------------
def pair_score(a: HistRecord, b: HistRecord) -> float:
    name = compare_person_names(parse_name(a.name), parse_name(b.name))
    return NAME_WEIGHTS[name] + DOB_WEIGHTS[compare_dob(a.dob, b.dob)] + PLACE_WEIGHTS[compare_place(a.place, b.place)]


# --- 4. clustering and figures -------------------------------------------------------------------------
def connected_components(ids: Iterable[str], edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    sets = UnionFind()
    for a, b in edges:
        sets.union(a, b)
    return {i: str(sets.find(i)) for i in ids}


def edge_scores(truth: Mapping[str, str], edges: Iterable[tuple[str, str]]) -> Scores:
    """Pairwise figures of predicted pairs themselves (before clustering) against true persons."""
    unique = {(a, b) if a < b else (b, a) for a, b in edges if a != b}
    tp = sum(1 for a, b in unique if truth[a] == truth[b])
    truth_pairs = sum(n * (n - 1) // 2 for n in Counter(truth.values()).values())
    return _scores(tp, len(unique), truth_pairs)


def cluster_scores(truth: Mapping[str, str], clusters: Mapping[str, str]) -> Scores:
    """Pairwise figures of a clustering: every record is its own profile, so all pairs count."""
    return pairwise_scores(truth, clusters, {})


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoricalResult:
    records: int
    persons: int
    candidate_pairs: int
    pairwise: Scores
    clustered: Scores
    seconds: float


def run_stitch(records: Sequence[HistRecord]) -> HistoricalResult:
    """Block, compare, score and cluster ``records`` with Stitch's comparisons."""
    started = time.perf_counter()
    pairs = candidate_pairs(records)
    edges = [
        (records[i].unique_id, records[j].unique_id)
        for i, j in pairs
        if pair_score(records[i], records[j]) >= MATCH_SCORE
    ]
    ids = [r.unique_id for r in records]
    clusters = connected_components(ids, edges)
    seconds = time.perf_counter() - started
    truth = {r.unique_id: r.cluster for r in records}
    return HistoricalResult(
        records=len(records),
        persons=len(set(truth.values())),
        candidate_pairs=len(pairs),
        pairwise=edge_scores(truth, edges),
        clustered=cluster_scores(truth, clusters),
        seconds=seconds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.historical", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(default_path()))
    parser.add_argument("--clusters", type=int, help="keep only the first N true persons")
    args = parser.parse_args(argv)
    result = run_stitch(load_historical(args.data, clusters=args.clusters))
    for label, s in (("pairwise", result.pairwise), ("clustered", result.clustered)):
        print(f"{label:>9}: P {s.precision:.4f}  R {s.recall:.4f}  F1 {s.f1:.4f}")
    print(f"{result.records} records, {result.candidate_pairs} candidate pairs, {result.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
