"""The benchmark suite's pieces on tiny data: no timing is asserted, only that figures come out right."""

from __future__ import annotations

import shlex
import sqlite3
import subprocess
from pathlib import Path

import pytest

from bench import growth, historical, linkage, scale, suite, webhooks
from bench.report import summary, write

# Not used by the other tests' stores: the scale part drops this store's keys in it.
SCALE_REDIS = "redis://127.0.0.1:6379/14"

TINY_ROWS = [
    # unique_id, cluster, first_name, surname, dob, birth_place
    ("a-1", "A", "thomas", "chudleigh", "1630-08-01", "devon"),
    ("a-2", "A", "tom", "chudleigh", "1630-08-01", "devon"),
    ("a-3", "A", "thomas", "chudleigh", None, "devon"),
    ("b-1", "B", "mary", "shelley", "1797-08-30", "london"),
    ("b-2", "B", "mary", "shelley", "1797-08-30", None),
    ("c-1", "C", "john", "smith", "1800-01-01", "york"),
    ("d-1", "D", "john", "smith", "1900-05-05", "leeds"),
]


def _tiny_parquet(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = ("unique_id", "cluster", "first_name", "surname", "dob", "birth_place")
    table = pa.table({name: [row[i] for row in TINY_ROWS] for i, name in enumerate(columns)})
    table = table.append_column("postcode_fake", pa.array(["x"] * len(TINY_ROWS)))
    table = table.append_column("occupation", pa.array(["writer"] * len(TINY_ROWS)))
    pq.write_table(table, path)
    return path


def test_historical_loader_reads_and_limits(tmp_path: Path) -> None:
    path = _tiny_parquet(tmp_path / "tiny.parquet")
    records = historical.load_historical(path)
    assert [r.unique_id for r in records] == [row[0] for row in TINY_ROWS]
    assert records[2].dob == ""  # missing stays empty, never "None"
    assert records[1].name == "tom chudleigh"
    assert {r.cluster for r in historical.load_historical(path, clusters=2)} == {"A", "B"}


def test_edge_and_cluster_scores() -> None:
    truth = {"a": "X", "b": "X", "c": "X", "d": "Y"}
    edges = [("a", "b"), ("b", "a"), ("c", "d")]
    scores = historical.edge_scores(truth, edges)
    assert (scores.true_positive, scores.predicted_pairs, scores.truth_pairs) == (1, 2, 3)
    clusters = historical.connected_components(truth, edges)
    assert clusters["a"] == clusters["b"] != clusters["c"]
    assert historical.cluster_scores(truth, clusters).true_positive == 1


def test_accuracy_section_on_tiny_traffic(tmp_path: Path) -> None:
    rows = suite.accuracy(tmp_path, 40, splink=False)
    assert [r.matcher for r in rows][:3] == [
        "Stitch, automatic merges",
        "Stitch, merges + suggestions",
        "exact identifiers (CRM duplicate control)",
    ]
    assert all(0.0 <= r.f1 <= 1.0 and r.events > 0 for r in rows)


def test_growth_copies_the_template_with_new_ids(tmp_path: Path) -> None:
    template = growth.build_template(tmp_path, 30, cwd=suite.REPO)
    points = growth.measure(tmp_path, template, [1, 3], 30, cwd=suite.REPO)
    assert [p.persons for p in points] == [template.persons, 3 * template.persons]
    assert all(p.batch_events > 0 and p.bytes_per_person > 0 for p in points)
    # A copy is new rows, not the same ones: three times the template's events (plus the batch).
    copied = tmp_path / "copied.db"
    copied.write_bytes(template.path.read_bytes())
    growth.add_copies(copied, template, 1, 2)
    with sqlite3.connect(copied) as db:
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
        suffixed = db.execute("SELECT count(*) FROM profiles WHERE key LIKE '%~2'").fetchone()[0]
    db.close()
    assert events == 3 * template.events
    assert suffixed > 0


def test_a_quick_run_writes_its_results(tmp_path: Path) -> None:
    plan = suite.Plan(
        accuracy_sizes=(30,),
        template_persons=30,
        growth_copies=(1, 2),
        batch_events=30,
        webhook_rates=(10,),
        webhook_seconds=1.0,
        historical_clusters=2,
        scale_args=("--quick", "--events", "12", "--workers", "1", "--redis", SCALE_REDIS),
        is_quick=True,
        splink=False,
        sections=frozenset({"accuracy", "growth", "scale", "historical"}),
    )
    data = _tiny_parquet(tmp_path / "tiny.parquet")
    out = tmp_path / "results"
    results = suite.run(plan, out, command="python -m bench --quick", data=data, workdir=tmp_path)
    assert results.failures == {}
    text = (out / "RESULTS.md").read_text(encoding="utf-8")
    assert "python -m bench --quick" in text
    assert "Stitch, automatic merges" in text and "Redis, 1/2/4 workers" in text
    assert {"accuracy.png", "growth.png", "historical.png", "results.json"} <= {p.name for p in out.iterdir()}
    assert results.historical and results.growth
    assert [r["workers"] for r in results.scale_rows] == [1] and results.scale_rows[0]["same_grouping"] == 1.0
    rows = {r.part: r for r in summary(results)}
    assert list(rows) == ["accuracy", "growth", "scale", "historical"]
    assert rows["scale"].figures.endswith("same grouping: yes")
    assert rows["scale"].command.startswith("python -m bench.scale --quick --events 12")
    assert "## Summary" in text and "FAILED" not in text


def test_quick_mode_reaches_every_part_with_arguments_its_parser_accepts() -> None:
    plan = suite.plan_of(suite.parser().parse_args(["--quick"]))
    assert plan.sections == frozenset(suite.PARTS)
    # The Redis part is handed --quick, and its own parser takes it: small runs, every worker count.
    options = scale.parse(plan.scale_args)
    assert options.events == scale.QUICK_EVENTS and options.workers == (1, 2, 4)
    # Every part's reproducing command is accepted by the module it names and runs that part alone.
    for part, command in suite.commands(plan).items():
        python, dash_m, module, *args = shlex.split(command)
        assert (python, dash_m) == ("python", "-m")
        if module == "bench":
            alone = suite.plan_of(suite.parser().parse_args(args))
            assert alone.sections == {part} and alone.is_quick
        elif module == "bench.scale":
            assert part == "scale" and scale.parse(args) == options
        else:
            assert (part, module) == ("webhooks", "bench.webhooks")
            parsed = webhooks.parser().parse_args(args)
            assert parsed.rates == "50" and parsed.seconds == plan.webhook_seconds


def test_the_redis_url_reaches_the_scale_part() -> None:
    plan = suite.plan_of(suite.parser().parse_args(["--quick", "--redis", SCALE_REDIS, "--no-webhooks"]))
    assert scale.parse(plan.scale_args).redis == SCALE_REDIS
    assert "webhooks" not in plan.sections and "scale" in plan.sections


def test_results_go_to_a_folder_git_ignores_by_default() -> None:
    out = Path(suite.parser().parse_args(["--quick"]).out)
    assert out == suite.DEFAULT_OUT
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(out / "RESULTS.md")], cwd=suite.REPO, capture_output=True, check=False
    )
    assert ignored.returncode == 0, "the default results folder must be ignored by git"
    tracked = subprocess.run(
        ["git", "ls-files", str(out)], cwd=suite.REPO, capture_output=True, text=True, check=True
    ).stdout
    assert tracked == ""


def test_bad_options_are_one_line_and_a_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("x", encoding="utf-8")
    for argv in (["--out", str(a_file)], ["--only", "nothing"], ["--quick", "--workdir", str(tmp_path / "absent")]):
        with pytest.raises(SystemExit) as exited:
            suite.main(argv)
        assert exited.value.code == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].startswith("python -m bench: error:")
    with pytest.raises(SystemExit):
        scale.parse(["--workers", "1,two"])


def test_missing_data_is_reported_not_fatal(tmp_path: Path) -> None:
    plan = suite.Plan(
        accuracy_sizes=(),
        template_persons=0,
        growth_copies=(),
        batch_events=0,
        webhook_rates=(),
        webhook_seconds=0.0,
        historical_clusters=None,
        splink=False,
        sections=frozenset({"historical"}),
    )
    results = suite.run(plan, tmp_path / "r", command="x", data=tmp_path / "absent.parquet", workdir=tmp_path)
    assert "not found" in results.historical_note
    assert write(results, tmp_path / "again")


@pytest.mark.skipif(not linkage.available(), reason="Splink is an optional extra ('.[compare]')")
def test_splink_event_records_carry_identifiers() -> None:
    line = (Path(suite.REPO) / "samples" / "impatient-customer.jsonl").read_text(encoding="utf-8").splitlines()
    records = linkage.event_records(line)
    assert records and all(r["unique_id"] and r["profile"] for r in records)
    assert any(r["phone"] for r in records)


def test_costs_splits_a_replay_into_sqlite_and_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import costs

    sample = Path(__file__).resolve().parents[2] / "samples" / "impatient-customer.jsonl"
    assert costs.main([str(sample), "--store", f"sqlite:///{tmp_path / 'c.db'}", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("events: 4 ")
    assert "inside SQLite" in out and "statements per event" in out
    assert len(out.splitlines()) == 8  # four summary lines, the column header, three statements
