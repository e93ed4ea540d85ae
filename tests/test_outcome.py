"""Honest outcomes: the headline is graded by what was reached, a
short session says what to try, and the out-of-domain warning fires on what it should."""

from __future__ import annotations

from serumrnn.server import outcome as O


def test_a_small_gain_is_called_small():
    assert (
        O.headline(0.12, 1, "no_closer")
        == "A small gain: 12% of the difference to the target is gone after 1 step"
    )


def test_grades_follow_the_bands():
    assert [O.grade(c) for c in (0.96, 0.73, 0.30, 0.05, 0.01, 0.0, None)] == [
        "Close match",
        "Partly matched",
        "Some of the way",
        "A small gain",
        "Barely closer",
        "No closer",
        "No closer",
    ]
    assert (
        O.headline(0.96, 3, "no_closer")
        == "Close match: 96% of the difference to the target is gone after 3 steps"
    )
    assert O.headline(None, 0, "already_matches") == "Your sound already matches the target"
    assert O.headline(0.0, 0, "no_closer").startswith("No closer")


def test_what_to_try_only_when_short_of_the_target():
    assert O.what_to_try(0.95, "no_closer", "verified", "basic_shapes") is None
    assert O.what_to_try(0.3, "reached", "verified", "basic_shapes") is None
    text = O.what_to_try(0.3, "no_closer", "verified", "basic_shapes")
    assert text and "70%" in text and "--loop search" in text and "--group advanced" in text
    assert "--loop search" not in (O.what_to_try(0.3, "no_closer", "search", "basic_shapes") or "")


def test_the_warning_fires_on_a_refused_first_choice_or_a_poor_end_only():
    assert O.unmatched_warning(0.95, False) is None
    assert "first choice" in (O.unmatched_warning(0.95, True) or "")
    assert "only 40%" in (O.unmatched_warning(0.40, False) or "")
    steps = [
        {
            "candidates": [
                {"probability": 0.9, "model_accepted": False},
                {"probability": 0.1, "model_accepted": True},
            ]
        }
    ]
    assert O.first_choice_refused(steps, [])
    assert not O.first_choice_refused([], [{"probability": 0.9, "closer": True}])
