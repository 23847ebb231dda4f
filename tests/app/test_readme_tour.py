"""The README's tour shows what its commands really print ("..." stands for what varies or is cut)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "impatient-customer.jsonl"


def shown_after(intro: str) -> list[str]:
    """The lines of the README's first code block after the paragraph starting with `intro`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rest = readme[readme.index(intro) :]
    block = rest.split("```\n", 2)[1]
    return block.splitlines()


def matches(shown: list[str], printed: list[str]) -> bool:
    patterns = [re.compile(".*".join(re.escape(part) for part in line.split("...")) + "$") for line in shown]
    return len(patterns) == len(printed) and all(p.match(line) for p, line in zip(patterns, printed, strict=True))


def test_the_tour_output_in_the_readme_is_real(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path / 'tour.db'}"
    assert main(["replay", "--no-progress", "--store", store, str(SAMPLE)]) == 0
    assert matches(shown_after("Step 1 prints its summary"), capsys.readouterr().out.splitlines())
    assert main(["export", "--store", store, "--what", "merges"]) == 0
    assert matches(shown_after("The sample's customer is"), capsys.readouterr().out.splitlines())


def test_the_first_merge_adds_up_as_the_readme_says(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path / 'tour.db'}"
    assert main(["replay", "--no-progress", "--store", store, str(SAMPLE)]) == 0
    capsys.readouterr()
    assert main(["graph", "explain", "telegram:5651074222", "whatsapp:+79123456789", "--store", store]) == 0
    printed = capsys.readouterr().out.splitlines()
    parts = [float(line.split()[-1]) for line in printed[2:-1]]
    total = printed[-1].split()
    assert total[:3] == ["=", "match", "weight"] and float(total[3]) == pytest.approx(sum(parts), abs=1e-9)
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    said = f"for the tour's first merge a match weight of {total[3]} bits, match probability {total[-1]})"
    assert said in readme
    assert f"(for the first merge {round(float(total[3]), 1)} bits," in readme
