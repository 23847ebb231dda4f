"""Stitch's match-weight model on an outside data set: Splink's ``historical_50k``.

    python -m bench.historical [--data ../shared/data/historical_figures_with_errors_50k.parquet]
                               [--clusters N] [--threshold P] [--no-splink] [--explain]

The file (50,578 records of 5,156 people, truth in ``cluster``) is read at run time and never copied
into the project. The same model code as the chat resolver's (``resolver/model.py``) does the work,
in Splink's stages:

1. blocking: records sharing a key (Splink's tutorial rules: first name + surname, surname + dob,
   first name + dob, postcode + a name, dob + birth place, postcode area + dob or a name, name
   prefixes + birth year, plus canonical given name + surname so "tom" meets "thomas") are candidate
   pairs; nothing compares all pairs;
2. comparison: ordered levels per field, the first that holds wins (names with Jaro-Winkler
   thresholds and ``core.names`` diminutives, date of birth exact / one edit / within a month, a year,
   ten years, postcode exact / sector / district / area, birth place, occupation, gender), with
   term-frequency adjustment on exact levels;
3. estimation without the labels: u from random pairs, m by expectation–maximisation over the pairs
   of two blocking rules (first name + surname, leaving the name out; dob, leaving the dob out), then
   λ by EM over all candidate pairs with m and u fixed;
4. scoring and clustering: a pair at or above ``MATCH_PROBABILITY`` is a predicted match (the
   *pairwise* figures); connected components of those are the *clustered* figures.

The truth is read only to compute the figures. What was chosen by looking at figures: the
comparison design and ``MATCH_PROBABILITY``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from functools import cache
from itertools import combinations
from pathlib import Path

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

from bench.accuracy import Scores, UnionFind, _scores, pairwise_scores
from core.names import fold_token, parse_name
from resolver.model import (
    Comparison,
    Level,
    Model,
    Pattern,
    combine,
    estimate_u,
    expectation_maximisation,
    term_frequencies,
)

FILE_NAME = "historical_figures_with_errors_50k.parquet"
COLUMNS = (
    "unique_id",
    "cluster",
    "first_name",
    "surname",
    "dob",
    "birth_place",
    "postcode_fake",
    "occupation",
    "gender",
)

# Probability at or above which two records are predicted to be one person (chosen on this file).
MATCH_PROBABILITY = 0.9
# A block larger than this is a very common key: its pairs are left to the other rules (Splink has
# no such cap; without it "william" + a postcode area alone would be millions of pairs).
MAX_BLOCK = 1000
# Random pairs sampled to estimate u (at most U_PAIRS_PER_RECORD per record on small files), and the
# seed that keeps figures reproducible.
U_PAIRS = 400_000
U_PAIRS_PER_RECORD = 50
SEED = 7
# Where EM for λ among random pairs starts: one in ten thousand pairs a match.
START_RANDOM_PRIOR = 1e-4
# Jaro-Winkler levels of Splink's name comparisons.
JW_HIGH = 0.92
JW_LOW = 0.88
# Date-of-birth spans (days) of Splink's DateOfBirthComparison levels.
MONTH_DAYS = 31
YEAR_DAYS = 366
DECADE_DAYS = 3653


class Name(StrEnum):
    EXACT = "exact"
    SWAPPED = "swapped"
    EQUIVALENT = "equivalent"  # a diminutive of the same given name, same surname ("tom" / "thomas")
    JW_HIGH = "jw_high"  # both names at Jaro-Winkler >= JW_HIGH
    JW_LOW = "jw_low"
    SURNAME = "surname"  # surname alone agrees
    FIRST_ALONE = "first_alone"  # first names agree and a side has no surname to disagree with
    FIRST = "first"  # first names agree (or are equivalent), surnames differ
    CLOSE = "close"  # one of the two names within JW_LOW
    OTHER = "other"  # both names clearly differ
    NULL = "null"


class Dob(StrEnum):
    EXACT = "exact"
    TYPO = "typo"  # one edit apart, transpositions included
    MONTH = "month"
    YEAR = "year"
    DECADE = "decade"
    OTHER = "other"
    NULL = "null"


class Postcode(StrEnum):
    EXACT = "exact"
    SECTOR = "sector"  # "tq13 8"
    DISTRICT = "district"  # "tq13"
    AREA = "area"  # "tq"
    OTHER = "other"
    NULL = "null"


class Exact(StrEnum):
    EXACT = "exact"
    OTHER = "other"
    NULL = "null"


def _comparison(name: str, levels: Iterable[StrEnum], tf: Iterable[StrEnum] = ()) -> Comparison:
    return Comparison(
        name=name,
        levels=tuple(Level(name=lv.value, null=lv.value == "null") for lv in levels),
        tf_levels=frozenset(lv.value for lv in tf),
    )


def blank_model() -> Model:
    """The comparisons, before estimation."""
    return Model(
        version="historical_50k",
        prior=0.5,
        comparisons=(
            _comparison("name", Name, tf=(Name.EXACT, Name.SURNAME, Name.FIRST_ALONE, Name.FIRST)),
            _comparison("dob", Dob, tf=(Dob.EXACT,)),
            _comparison("postcode", Postcode, tf=(Postcode.EXACT,)),
            _comparison("birth_place", Exact, tf=(Exact.EXACT,)),
            _comparison("occupation", Exact, tf=(Exact.EXACT,)),
            _comparison("gender", Exact),
        ),
    )


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
    """One row of the outside file; a missing value is the empty string."""

    unique_id: str
    cluster: str
    first_name: str
    surname: str
    dob: str
    place: str
    postcode: str = ""
    occupation: str = ""
    gender: str = ""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.surname}".strip()


def load_historical(path: str | Path, *, clusters: int | None = None) -> list[HistRecord]:
    """Records of the parquet file; ``clusters`` keeps only the first N true persons (quick runs)."""
    import pyarrow.parquet as pq  # the bench extra; imported here so `bench` imports without it

    present = set(pq.read_schema(str(path)).names)
    table = pq.read_table(str(path), columns=[c for c in COLUMNS if c in present])
    rows = table.to_pydict()

    def column(name: str, i: int) -> str:
        return _text(rows[name][i]) if name in rows else ""

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
                first_name=column("first_name", i),
                surname=column("surname", i),
                dob=column("dob", i),
                place=column("birth_place", i),
                postcode=column("postcode_fake", i),
                occupation=column("occupation", i),
                gender=column("gender", i),
            )
        )
    return records


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


# --- 1. blocking -------------------------------------------------------------------------------------
@cache
def canonical_given(first: str) -> frozenset[str]:
    """Canonical given names of a first name ("tom" -> thomas), or the folded word itself."""
    given = parse_name(first).given
    return given or frozenset({" ".join(fold_token(t) for t in first.split())})


def blocking_keys(r: HistRecord) -> list[str]:
    area = r.postcode[:3]
    rules: list[tuple[str, tuple[str, ...]]] = [
        ("fs", (r.first_name, r.surname)),
        ("sd", (r.surname, r.dob)),
        ("fd", (r.first_name, r.dob)),
        ("pf", (r.postcode, r.first_name)),
        ("ps", (r.postcode, r.surname)),
        ("dp", (r.dob, r.place)),
        ("ad", (area, r.dob)),
        ("af", (area, r.first_name)),
        ("as", (area, r.surname)),
        ("py", (r.first_name[:2], r.surname[:2], r.dob[:4])),
    ]
    keys = [f"{rule}:{'|'.join(values)}" for rule, values in rules if all(values)]
    if r.surname:
        keys.extend(f"gs:{g}|{r.surname}" for g in sorted(canonical_given(r.first_name)) if r.first_name)
    return keys


def blocks_of(records: Sequence[HistRecord], keys: Callable[[HistRecord], Iterable[str]]) -> list[list[int]]:
    grouped: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        for key in keys(record):
            grouped[key].append(i)
    return [members for members in grouped.values() if 1 < len(members) <= MAX_BLOCK]


def pairs_of(blocks: Iterable[list[int]]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for members in blocks:
        pairs.update(combinations(members, 2))
    return pairs


def candidate_pairs(records: Sequence[HistRecord]) -> set[tuple[int, int]]:
    """Index pairs (i < j) sharing at least one blocking key of at most MAX_BLOCK records."""
    return pairs_of(blocks_of(records, blocking_keys))


# --- 2. comparison -----------------------------------------------------------------------------------
def compare_name(a: HistRecord, b: HistRecord) -> Name:
    if not a.name or not b.name:
        return Name.NULL
    both = bool(a.surname and b.surname)
    if both and a.first_name == b.first_name and a.surname == b.surname:
        return Name.EXACT
    if both and a.first_name == b.surname and a.surname == b.first_name:
        return Name.SWAPPED
    same_given = bool(a.first_name and b.first_name) and (
        a.first_name == b.first_name or bool(canonical_given(a.first_name) & canonical_given(b.first_name))
    )
    if both and same_given and a.surname == b.surname:
        return Name.EQUIVALENT
    first = JaroWinkler.similarity(a.first_name, b.first_name) if a.first_name and b.first_name else 0.0
    sur = JaroWinkler.similarity(a.surname, b.surname) if both else 0.0
    if first >= JW_HIGH and sur >= JW_HIGH:
        return Name.JW_HIGH
    if first >= JW_LOW and sur >= JW_LOW:
        return Name.JW_LOW
    if both and a.surname == b.surname:
        return Name.SURNAME
    if same_given:
        return Name.FIRST if both else Name.FIRST_ALONE
    if first >= JW_LOW or sur >= JW_LOW:
        return Name.CLOSE
    return Name.OTHER


@cache
def _day(text: str) -> int | None:
    try:
        return date.fromisoformat(text).toordinal()
    except ValueError:
        return None


def compare_dob(a: str, b: str) -> Dob:
    if not a or not b:
        return Dob.NULL
    if a == b:
        return Dob.EXACT
    if DamerauLevenshtein.distance(a, b) <= 1:
        return Dob.TYPO
    day_a, day_b = _day(a), _day(b)
    if day_a is None or day_b is None:
        return Dob.OTHER
    gap = abs(day_a - day_b)
    if gap <= MONTH_DAYS:
        return Dob.MONTH
    if gap <= YEAR_DAYS:
        return Dob.YEAR
    if gap <= DECADE_DAYS:
        return Dob.DECADE
    return Dob.OTHER


def compare_postcode(a: str, b: str) -> Postcode:
    if not a or not b:
        return Postcode.NULL
    if a == b:
        return Postcode.EXACT
    out_a, _, in_a = a.partition(" ")
    out_b, _, in_b = b.partition(" ")
    if out_a == out_b and in_a[:1] == in_b[:1]:
        return Postcode.SECTOR
    if out_a == out_b:
        return Postcode.DISTRICT
    if out_a.rstrip("0123456789") == out_b.rstrip("0123456789"):
        return Postcode.AREA
    return Postcode.OTHER


def compare_exact(a: str, b: str) -> Exact:
    if not a or not b:
        return Exact.NULL
    return Exact.EXACT if a == b else Exact.OTHER


@dataclass(frozen=True, slots=True, kw_only=True)
class Frequencies:
    """Term frequencies of the adjusted values, from the records themselves."""

    full: Mapping[str, float]
    surname: Mapping[str, float]
    first: Mapping[str, float]
    dob: Mapping[str, float]
    postcode: Mapping[str, float]
    place: Mapping[str, float]
    occupation: Mapping[str, float]

    @classmethod
    def of(cls, records: Sequence[HistRecord]) -> Frequencies:
        return cls(
            full=term_frequencies(f"{r.first_name}|{r.surname}" for r in records if r.first_name and r.surname),
            surname=term_frequencies(r.surname for r in records),
            first=term_frequencies(r.first_name for r in records),
            dob=term_frequencies(r.dob for r in records),
            postcode=term_frequencies(r.postcode for r in records),
            place=term_frequencies(r.place for r in records),
            occupation=term_frequencies(r.occupation for r in records),
        )


def compare(a: HistRecord, b: HistRecord, tf: Frequencies) -> tuple[Pattern, dict[str, float]]:
    """The level of every comparison (in the model's order) and the frequencies of agreed values."""
    name = compare_name(a, b)
    dob = compare_dob(a.dob, b.dob)
    postcode = compare_postcode(a.postcode, b.postcode)
    place = compare_exact(a.place, b.place)
    occupation = compare_exact(a.occupation, b.occupation)
    gender = compare_exact(a.gender, b.gender)
    tf_u: dict[str, float] = {}
    if name is Name.EXACT:
        tf_u["name"] = tf.full.get(f"{a.first_name}|{a.surname}", 0.0)
    elif name is Name.SURNAME:
        tf_u["name"] = tf.surname.get(a.surname, 0.0)
    elif name in (Name.FIRST, Name.FIRST_ALONE):
        tf_u["name"] = max(tf.first.get(a.first_name, 0.0), tf.first.get(b.first_name, 0.0))
    if dob is Dob.EXACT:
        tf_u["dob"] = tf.dob.get(a.dob, 0.0)
    if postcode is Postcode.EXACT:
        tf_u["postcode"] = tf.postcode.get(a.postcode, 0.0)
    if place is Exact.EXACT:
        tf_u["birth_place"] = tf.place.get(a.place, 0.0)
    if occupation is Exact.EXACT:
        tf_u["occupation"] = tf.occupation.get(a.occupation, 0.0)
    pattern = (name.value, dob.value, postcode.value, place.value, occupation.value, gender.value)
    return pattern, tf_u


# --- 3. estimation -------------------------------------------------------------------------------------
def train(records: Sequence[HistRecord], tf: Frequencies) -> Model:
    """u from random pairs, m by EM on two blocking rules' pairs, λ from random pairs: no labels.

    λ is, as in Splink, the chance that two random records match; estimated by EM over the random
    pairs with m and u fixed. (EM over the candidate pairs would put it near 1: records of one
    football club share a birth year, place and occupation, which independent levels overcount.)
    """
    model = blank_model()
    rng = random.Random(SEED)
    n = len(records)
    random_tally: Counter[Pattern] = Counter()
    for _ in range(min(U_PAIRS, U_PAIRS_PER_RECORD * n) if n > 1 else 0):
        i, j = rng.randrange(n), rng.randrange(n)
        if i != j:
            random_tally[compare(records[i], records[j], tf)[0]] += 1
    model = estimate_u(model, random_tally)
    sessions: list[tuple[Model, tuple[str, ...]]] = []
    for keys, leave_out in (
        (lambda r: [f"{r.first_name}|{r.surname}"] if r.first_name and r.surname else [], ("name",)),
        (lambda r: [r.dob] if r.dob else [], ("dob",)),
    ):
        pairs = pairs_of(blocks_of(records, keys))
        session_tally = Counter(compare(records[i], records[j], tf)[0] for i, j in pairs)
        sessions.append((expectation_maximisation(model, session_tally, leave_out=leave_out), leave_out))
    model = replace(combine(model, sessions), prior=START_RANDOM_PRIOR)
    return expectation_maximisation(model, random_tally, fixed_m=True)


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
    model: Model


def run_stitch(records: Sequence[HistRecord], *, threshold: float = MATCH_PROBABILITY) -> HistoricalResult:
    """Block, compare, estimate, score and cluster ``records`` with Stitch's model code."""
    started = time.perf_counter()
    tf = Frequencies.of(records)
    pairs = candidate_pairs(records)
    model = train(records, tf)
    edges = []
    for i, j in pairs:
        pattern, tf_u = compare(records[i], records[j], tf)
        if model.score(dict(zip(model.names, pattern, strict=True)), tf_u).probability >= threshold:
            edges.append((records[i].unique_id, records[j].unique_id))
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
        model=model,
    )


def figures(label: str, pairwise: Scores, clustered: Scores) -> list[str]:
    return [
        f"{label} pairwise: P {pairwise.precision:.4f}  R {pairwise.recall:.4f}  F1 {pairwise.f1:.4f}",
        f"{label} clustered: P {clustered.precision:.4f}  R {clustered.recall:.4f}  F1 {clustered.f1:.4f}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.historical", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(default_path()))
    parser.add_argument("--clusters", type=int, help="keep only the first N true persons")
    parser.add_argument("--threshold", type=float, default=MATCH_PROBABILITY, help="match probability to link")
    parser.add_argument("--no-splink", action="store_true", help="skip Splink even when it is installed")
    parser.add_argument("--explain", action="store_true", help="print the estimated model's levels")
    args = parser.parse_args(argv)
    if not Path(args.data).exists():
        print(f"error: {args.data}: no such file (pass --data)", file=sys.stderr)
        return 2
    if not 0.0 < args.threshold < 1.0:
        print(f"error: --threshold {args.threshold}: must be between 0 and 1", file=sys.stderr)
        return 2
    records = load_historical(args.data, clusters=args.clusters)
    result = run_stitch(records, threshold=args.threshold)
    if args.explain:
        from resolver.training import describe

        print(describe(result.model))
    print("\n".join(figures("Stitch", result.pairwise, result.clustered)))
    print(f"Stitch: {result.records} records, {result.candidate_pairs} candidate pairs, {result.seconds:.1f} s")
    from bench import linkage

    if not args.no_splink and linkage.available():
        splink = linkage.historical(args.data, clusters=args.clusters)
        truth = {r.unique_id: r.cluster for r in records}
        label = f"Splink {splink.version}"
        print(
            "\n".join(
                figures(
                    label, edge_scores(truth, splink.edges), cluster_scores(truth, linkage.clusters_for(truth, splink))
                )
            )
        )
        print(f"{label}: {splink.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
