"""Splink, the probabilistic linkage engine, on the same data as Stitch (optional: ``pip install '.[compare]'``).

Two models, both on the DuckDB backend, trained the way Splink's own tutorials do (random-sampling
u estimation, then expectation maximisation per blocking rule), then clustered (connected components)
at a match probability threshold:

- ``historical``: Splink's published settings for ``historical_50k`` (forename/surname, date of
  birth, postcode, birth place, occupation). It sees more columns than Stitch's comparison does.
- ``events``: one record per generator event, fields the event itself carries: folded name,
  canonical given name and surname (``core.names``), normalized phone and e-mail, channel account,
  channel, the message text and its time. Splink has no notion of "the same question minutes apart"
  beyond these comparisons, and it sees the whole batch at once: every event, past and future, is
  available when deciding each pair. Stitch resolves online, one event at a time, seeing only the past.

Splink is imported inside the functions, so ``bench`` imports (and its tests run) without it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.accuracy import event_id_of
from connectors.envelope import envelope_from_json
from connectors.parsers import parse_envelope
from core.errors import InputError
from core.names import parse_name
from core.text import text_key
from core.values import IdKind, Message

# Published tutorial figures use these two thresholds: pairs scored at or above PREDICT_THRESHOLD are
# kept, clusters join pairs at or above CLUSTER_THRESHOLD.
PREDICT_THRESHOLD = 0.5
CLUSTER_THRESHOLD = 0.95
# Pairs sampled to estimate u (the chance that fields agree by coincidence).
U_MAX_PAIRS = 5_000_000
# Prior recall of the deterministic rules used to estimate the match probability of two random records.
DETERMINISTIC_RECALL = 0.7
# Time levels for events: a burst (15 minutes), an hour, a day, a week.
TIME_METRICS = ("minute", "hour", "day", "day")
TIME_THRESHOLDS = (15, 1, 1, 7)
# A seeded u sample keeps figures reproducible.
SEED = 7


def available() -> bool:
    """True when Splink and DuckDB are installed (the ``compare`` extra)."""
    return importlib.util.find_spec("splink") is not None and importlib.util.find_spec("duckdb") is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class SplinkResult:
    """Splink's predicted pairs (above PREDICT_THRESHOLD... then CLUSTER_THRESHOLD) and clusters."""

    edges: list[tuple[str, str]]  # pairs at or above CLUSTER_THRESHOLD
    clusters: dict[str, str]  # unique_id -> cluster id
    seconds: float
    version: str


def _quiet() -> None:
    # Splink logs every training step at INFO; a benchmark report should not drown in it.
    logging.getLogger("splink").setLevel(logging.ERROR)


def _run(records: list[dict[str, Any]], settings: Any, train: Any) -> SplinkResult:
    import pyarrow as pa
    import splink
    from splink import DuckDBAPI, Linker

    _quiet()
    started = time.perf_counter()
    db_api = DuckDBAPI()
    frame = db_api.register(pa.Table.from_pylist(records))
    linker = Linker(frame, settings, log_level=logging.ERROR)
    train(linker)
    predictions = linker.inference.predict(threshold_match_probability=PREDICT_THRESHOLD)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=CLUSTER_THRESHOLD
    )
    pairs = predictions.as_dict()
    edges = [
        (str(a), str(b))
        for a, b, p in zip(pairs["unique_id_l"], pairs["unique_id_r"], pairs["match_probability"], strict=True)
        if p >= CLUSTER_THRESHOLD
    ]
    table = clusters.as_dict()
    mapping = {str(u): str(c) for u, c in zip(table["unique_id"], table["cluster_id"], strict=True)}
    return SplinkResult(
        edges=edges, clusters=mapping, seconds=time.perf_counter() - started, version=splink.__version__
    )


# --- historical_50k ------------------------------------------------------------------------------------
def historical(path: str, *, clusters: int | None = None) -> SplinkResult:
    """Splink's tutorial model for historical_50k, on the parquet file at ``path``."""
    import pyarrow.parquet as pq
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    records = pq.read_table(path).to_pylist()
    if clusters is not None:
        seen: list[str] = list(dict.fromkeys(r["cluster"] for r in records))[:clusters]
        keep = set(seen)
        records = [r for r in records if r["cluster"] in keep]
    for r in records:
        first, sur = r.get("first_name"), r.get("surname")
        r["first_name_surname_concat"] = f"{first or ''} {sur or ''}".strip() or None
    settings = SettingsCreator(
        link_type="dedupe_only",
        # The blocking rules of Splink's own accuracy tutorial for this file.
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "surname"),
            block_on("surname", "dob"),
            block_on("first_name", "dob"),
            block_on("postcode_fake", "first_name"),
            block_on("postcode_fake", "surname"),
            block_on("dob", "birth_place"),
            block_on("substr(postcode_fake,1,3)", "dob"),
            block_on("substr(postcode_fake,1,3)", "first_name"),
            block_on("substr(postcode_fake,1,3)", "surname"),
            block_on("substr(first_name,1,2)", "substr(surname,1,2)", "substr(dob,1,4)"),
        ],
        comparisons=[
            cl.ForenameSurnameComparison(
                "first_name", "surname", forename_surname_concat_col_name="first_name_surname_concat"
            ),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode_fake"),
            cl.ExactMatch("birth_place").configure(term_frequency_adjustments=True),
            cl.ExactMatch("occupation").configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=False,
    )

    def train(linker: Any) -> None:
        linker.training.estimate_probability_two_random_records_match(
            [block_on("first_name", "surname", "dob"), block_on("substr(first_name,1,2)", "surname", "dob")],
            recall=DETERMINISTIC_RECALL,
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))

    return _run(records, settings, train)


# --- generator events ------------------------------------------------------------------------------------
def event_record(event_id: str, message: Message) -> dict[str, Any]:
    """One event as a flat record: what the event itself says, nothing from other events."""
    name = parse_name(message.name)
    phones = sorted(i.value for i in message.identifiers if i.kind is IdKind.PHONE)
    emails = sorted(i.value for i in message.identifiers if i.kind is IdKind.EMAIL)
    return {
        "unique_id": event_id,
        "name": " ".join(name.tokens) or None,
        "given": min(name.given) if name.given else None,
        "surname": min(name.surnames) if name.surnames else None,
        "phone": phones[0] if phones else None,
        "email": emails[0] if emails else None,
        "profile": message.profile_key,
        "channel": str(message.channel),
        "text": text_key(message.text) or None,
        "at": message.received_at.isoformat(),
    }


def event_records(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Records of a replay file's events; lines the parsers cannot use are left out, as replay skips them."""
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            envelope = envelope_from_json(obj, line=number)
            parsed = parse_envelope(envelope)
        except (json.JSONDecodeError, InputError):
            continue
        if isinstance(parsed, Message):
            records.append(event_record(event_id_of(obj, number), parsed))
    return records


def events(records: list[dict[str, Any]]) -> SplinkResult:
    """An event-level Splink model: identifiers, names, text and time; see the module docstring."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("profile"),
            block_on("phone"),
            block_on("email"),
            block_on("given", "surname"),
            block_on("text"),
        ],
        # The channel account is a blocking rule, not a comparison: almost every pair of one account is
        # one person, so as a comparison EM learns that a different account is strong evidence against,
        # which is exactly the cross-channel link being measured.
        comparisons=[
            cl.ExactMatch("phone"),
            cl.ExactMatch("email"),
            cl.JaroWinklerAtThresholds("name", [0.95, 0.88]),
            cl.ExactMatch("given").configure(term_frequency_adjustments=True),
            cl.ExactMatch("surname").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("text", [0.95, 0.8]),
            cl.AbsoluteTimeDifferenceAtThresholds(
                "at", input_is_string=True, metrics=list(TIME_METRICS), thresholds=list(TIME_THRESHOLDS)
            ),
        ],
        retain_intermediate_calculation_columns=False,
    )

    def train(linker: Any) -> None:
        linker.training.estimate_probability_two_random_records_match(
            [block_on("phone"), block_on("email")], recall=DETERMINISTIC_RECALL
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
        # Each EM pass fixes the fields it blocks on and learns the others; text-blocked pairs are left
        # out of training because generic texts ("Актуально?") would teach it that strangers agree.
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("given", "surname"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("phone"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))

    return _run(records, settings, train)


def clusters_for(ids: Iterable[str], result: SplinkResult) -> Mapping[str, str]:
    """Every id's Splink cluster; an id Splink did not return is its own cluster."""
    return {i: result.clusters.get(i, f"single:{i}") for i in ids}
