"""Figures in the docs' prose are spans tied to committed JSON: rendered, refilled, and a
figure typed by hand is found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serumrnn.training import doc_figures as D
from serumrnn.training import result_figures as R


@pytest.fixture
def results(tmp_path: Path) -> Path:
    for g, mse, worse in (("basic", -80.64, 0), ("advanced", -77.95, 3)):
        (tmp_path / g).mkdir()
        (tmp_path / g / "run.json").write_text(
            json.dumps({"delta": {"mse": mse}, "worse": worse, "ms": 12.345})
        )
    return tmp_path


def span(source: str, key: str, fmt: str, shown: str = "?") -> str:
    return f"<!-- fig:{source}#{key} {fmt} -->{shown}<!-- /fig -->"


def test_a_span_is_rewritten_from_its_json(results):
    text = "verified: " + span("basic/run.json", "delta.mse", "pct") + " in Basic."
    assert (
        D.fill(text, results)
        == "verified: " + span("basic/run.json", "delta.mse", "pct", "−80.6 %") + " in Basic."
    )


def test_a_glob_and_a_range_read_every_group(results):
    assert D.render(results, "*/run.json", "delta.mse", "range0") == "−81–−78"
    assert D.render(results, "*/run.json", "worse", "sum0") == "3"
    assert D.render(results, "basic/run.json", "ms", "ms") == "12.3 ms"


def test_a_fraction_is_shown_as_a_percentage_and_three_decimals_keep_their_zero(tmp_path):
    (tmp_path / "f.json").write_text(json.dumps({"share": 0.9957, "acc": 0.99}))
    assert D.render(tmp_path, "f.json", "share", "share") == "99.6 %"
    assert D.render(tmp_path, "f.json", "share", "share0") == "100 %"
    assert D.render(tmp_path, "f.json", "acc", "num3") == "0.990"
    assert D.render(tmp_path, "f.json", "*", "sharerange") == "99.0–99.6 %"


def test_a_star_key_takes_every_item(results):
    (results / "list.json").write_text(json.dumps({"rows": [{"n": 1}, {"n": 4}]}))
    assert D.values(results, "list.json", "rows.*.n") == [1, 4]
    (results / "named.json").write_text(json.dumps({"naming head": {"top1": 0.8}}))
    assert D.values(results, "named.json", "naming%20head.top1") == [0.8]
    (results / "flags.json").write_text(json.dumps({"rows": [{"w": True}, {"w": False}, {"w": True}]}))
    assert (
        D.render(results, "flags.json", "rows.*.w", "true"),
        D.render(results, "flags.json", "rows.*.w", "count"),
    ) == ("2", "3")


def test_a_ratio_reads_two_keys_in_order(results):
    assert D.render(results, "basic/run.json", "ms,delta.mse", "ratio2") == "−0.15"
    with pytest.raises(ValueError, match="two values"):
        D.render(results, "basic/run.json", "ms", "ratio2")
    assert D.render(results, "basic/run.json", "ms,delta.mse", "diff0") == "93"
    assert D.render(results, "*/run.json", "worse,delta.mse", "diffrange") == "80.6–81.0"
    with pytest.raises(ValueError, match="pairs of values"):
        D.render(results, "basic/run.json", "worse", "diffrange")


def test_a_missing_key_or_file_or_format_is_a_clear_error(results):
    with pytest.raises(KeyError, match="basic/run.json has no 'delta.mssmae'"):
        D.render(results, "basic/run.json", "delta.mssmae", "pct")
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        D.render(results, "nothing.json", "x", "pct")
    with pytest.raises(KeyError, match="unknown figure format 'percent'"):
        D.render(results, "basic/run.json", "delta.mse", "percent")
    with pytest.raises(ValueError, match="one value"):
        D.render(results, "*/run.json", "delta.mse", "pct")


def test_a_hand_typed_figure_is_found_but_goals_code_and_spans_are_not():
    text = "\n".join(
        [
            "The loop removed −80.6 % of it.",  # typed by hand: found
            "A step took 12.3 ms.",  # typed by hand: found
            "The goal is ≤ −85 %, within 150 ms.",  # chosen bounds
            "Its output reads `step p50 12.3 ms`.",  # code
            span("basic/run.json", "delta.mse", "pct", "−80.6 %"),
            "<!-- results:table t.json -->\n| a | −1.0 % |\n<!-- /results -->",  # a JSON table
        ]
    )
    assert D.unmarked(text) == ["line 1: −80.6 %", "line 2: 12.3 ms"]
    assert D.unmarked("The demo reached 95.2 %, +436.3 % on Mel-MSE (goal: 80 %).") == [
        "line 1: 95.2 %",
        "line 1: +436.3 %",
    ]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("It ended 0 of 130 pairs worse.", "0 of 130"),
        ("named on 27 of the 30 pairs", "27 of the 30"),
        ("the first step names the type on 83/120", "83/120"),
        ("Mel-MSE −77.8 / −75.8 / −81.2 in the three groups", "−77.8 / −75.8 / −81.2"),
        ("search is 3.27x slower", "3.27x"),
        ("search is 1.16 × refine's step", "1.16 ×"),
        ("the step's time grew ×3.3", "×3.3"),
        ("old vs new: 0.51–0.64× the time", "0.51–0.64×"),
        ("the selector took 1,237 s", "1,237 s"),
        ("parameter models took 365–615 s", "365–615 s"),
        ("the suite took 8 min", "8 min"),
        ("it downloads about 600 MB", "600 MB"),
        ("a 112 kB file", "112 kB"),
        ("SerumRNN vs NI: −3.08", "−3.08"),
        ("| verified | -74.8 |", "-74.8"),
        ("| loop | 29 |", "29"),
        ("evaluated on 100 pairs", "100 pairs"),
        ("the clean clone ran 410 tests", "410 tests"),
        ("the selector names it 0.990 of the time", "0.990"),
        ("It ended 2 of 7.", "2 of 7"),
        ("it takes no step on 16 of them", "16 of them"),
        ("it names reverb 1 time in 8", "1 time in 8"),
        ("the weight chosen was 0.75.", "0.75"),
    ],
)
def test_a_measured_count_ratio_size_or_duration_is_found(text, found):
    assert D.unmarked(text) == [f"line 1: {found}"]


@pytest.mark.parametrize(
    "text",
    [
        "### 2. Drop the device\n1. Pick the group.",  # section and list numbers
        "Python 3.11, 3.12 or 3.13; spec 2.0; OSC 1.0; GPL-3.0-or-later; the paper's section 4.4",
        "run `serumrnn eval --pairs 100 --timeout 20` and read `step p50 12 ms, 3 of 5`",  # code
        "```sh\nserumrnn bench  # 83/120, 1,237 s, 600 MB\n```",  # a fenced block
        "goal: 2 s; at most 250 lines; ≤ 150 ms; within 3 s; the 15 s goal; default 20 s",  # chosen
        "the first step, against the goal of\n15 s; replies are kept for `120` s",
        "the device pings every 10 s; a note above −60 dB",  # settings and thresholds
        "dropout `0.5`, the tie `judge.PRIOR_TIE` = 0.5, knobs varied ±0.25, less than 0.02",
        "a spectrogram of 128 × 87 bins; five effects and twelve presets",  # a shape; words
        "on 2026-12-03 at 09:35 UTC, port 9000",  # dates, times of day, bare numbers
        "[results](docs/results.md#table-4-per-group) and https://x.org/a/1.5/2",  # link targets
        "<!-- fig:a.json#n num0 -->83<!-- /fig --> of <!-- fig:a.json#m num0 -->120<!-- /fig -->",
    ],
)
def test_what_is_not_a_measurement_is_not_found(text):
    assert D.unmarked(text) == []


def test_a_json_table_is_rendered_with_its_column_formats(tmp_path):
    t = {
        "columns": [
            {"name": "group"},
            {"name": "Mel-MSE Δ", "format": "pct"},
            {"name": "worse", "format": "num0"},
        ],
        "rows": [["Basic", -80.64, 0], ["Adv.", None, 3]],
    }
    (tmp_path / "t.json").write_text(json.dumps(t))
    assert R.json_table(tmp_path / "t.json").splitlines() == [
        "| group | Mel-MSE Δ | worse |",
        "|---|---:|---:|",
        "| Basic | −80.6 % | 0 |",
        "| Adv. | – | 3 |",
    ]
    doc = "x\n<!-- results:table t.json -->\nstale\n<!-- /results -->\n"
    assert "| Basic | −80.6 % | 0 |" in R.fill(doc, {}, None, tmp_path)


def test_the_plugin_rows_of_every_group_come_from_plugins_json(tmp_path):
    def pair(start: float, end: float, worse: bool) -> dict:
        row = {"end": {"mse": end, "mssmae": end}, "worse_any": worse, "seconds": 1.0, "steps_offered": 1}
        row |= {k: 1 for k in ("open_renders", "plugin_renders", "steps_offered", "taken_back")}
        return {
            "start": {"mse": start, "mssmae": start},
            "rows": {"open": row, "device": row | {"captures": 3}},
        }

    (tmp_path / "basic_shapes").mkdir()
    pairs = [pair(1.0, 0.5, False), pair(1.0, 1.5, True)]
    for p in pairs:
        p["rows"]["open"]["captures"] = 0
    (tmp_path / "basic_shapes" / "plugins.json").write_text(json.dumps({"pairs_done": pairs}))
    table = R.plugins_markdown(tmp_path).splitlines()
    assert table[0] == "| row | Basic Shapes |"
    assert table[2] == "| (a) open-rack suggestions set on the plugins | 0.0 / 0.0 / 1 of 2 |"
    assert "| −50.0 / −50.0 / 0 of 1, 3.0 captures |" in R.plugins_markdown(tmp_path, first=1)
    # a row no group ran is left out; a row another group ran reads "–" where this one did not
    assert len(table) == 4 and table[3].startswith("| (b) device's flow")
    (tmp_path / "advanced_shapes").mkdir()
    only_open = [{"start": p["start"], "rows": {"open": p["rows"]["open"]}} for p in pairs]
    (tmp_path / "advanced_shapes" / "plugins.json").write_text(json.dumps({"pairs_done": only_open}))
    both = R.plugins_markdown(tmp_path).splitlines()
    assert len(both) == 4 and both[3].endswith("| – |")


def test_an_ood_naming_table_is_the_commands_own_with_the_docs_minus(tmp_path):
    summary = {"cases": 4, "named": 1, "first_names_type": 0.25, "no_step": 2, "worse_any": 0}
    summary |= {"mean_mse_delta_pct": -12.34, "mean_mssmae_delta_pct": 5.0, "mean_renders": 7.4}
    result = {
        "loops": {"verified": {"summary": summary}},
        "namers": {"selector": {"summary": {"cases": 4, "top1": 0.5, "top2": 0.75}}},  # rates only
    }
    (tmp_path / "r.json").write_text(json.dumps(result))
    assert R.ood_naming_markdown(tmp_path / "r.json").splitlines()[2:] == [
        "| verified | 4 | 1/4 (25 %) | 2 | 0 | −12.3 % | +5.0 % | 7 |"
    ]
