"""Honest outcomes: what a finished session says it reached, graded by the closeness it
reached, what to try when no effect can close the rest, and the warning that the target
was likely made with effects our rack does not imitate well.

Read by the report's headline (``match``), the terminal listing and the device's done
text (the OSC ``end`` reply's sentence), so all three say the same thing. A small gain is
called small: a 12 % gain is not "Done".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Closeness bands, best first: (lowest closeness of the band, its words). Closeness is the
#: judge's share of the starting difference removed (0..1).
GRADES: tuple[tuple[float, str], ...] = (
    (0.90, "Close match"),
    (0.60, "Partly matched"),
    (0.30, "Some of the way"),
    (0.05, "A small gain"),
    (0.005, "Barely closer"),
    (0.0, "No closer"),
)
#: Below this closeness a finished session says what to try next.
SUGGEST_BELOW = 0.90
#: The out-of-domain warning fires when the session ends below this closeness, or when
#: the selector's first choice was refused on its model's knobs (see
#: :func:`unmatched_warning`); chosen by measurement (docs/loops.md).
OOD_CLOSENESS = 0.60


def grade(closeness: float | None) -> str:
    """The words for a closeness: "Close match", "Partly matched", "A small gain", ..."""
    c = 0.0 if closeness is None else float(closeness)
    for lo, words in GRADES:
        if c >= lo:
            return words
    return GRADES[-1][1]


def headline(closeness: float | None, steps: int, stop_reason: str | None) -> str:
    """One sentence, graded by what was reached, e.g. "A small gain: 18 % of the
    difference to the target is gone after 1 step"."""
    if stop_reason == "already_matches":
        return "Your sound already matches the target"
    if stop_reason == "reached":
        return f"Matched: the target is reached after {steps} step{'s' if steps != 1 else ''}"
    if steps == 0 or closeness is None:
        return "No closer: no effect brought your sound closer to the target"
    c = float(closeness)
    return f"{grade(c)}: {c:.0%} of the difference to the target is gone after {steps} step{'s' if steps != 1 else ''}"


def what_to_try(closeness: float | None, stop_reason: str | None, loop: str, group: str | None) -> str | None:
    """When the session is done short of the target because no effect brings it closer:
    say so, and what to try next. None when there is nothing to add."""
    if stop_reason not in ("no_closer", "all_effects", "worse") or (closeness or 0.0) >= SUGGEST_BELOW:
        return None
    from serumrnn.server import spec
    from serumrnn.server.rack.presets import GROUP_ALIASES

    left = 1.0 - float(closeness or 0.0)
    others = list({g: a for a, g in reversed(GROUP_ALIASES.items()) if g != group}.values())
    tries = []
    if loop != "search":
        tries.append("--loop search (each effect's knobs searched by listening)")
    if others:
        tries.append(f"another group's models (--group {' or --group '.join(others)})")
    tries.append("a different starting preset or sound")
    return (
        f"No remaining effect of the {len(spec.EFFECTS)} can close the remaining {left:.0%} of the difference; "
        f"the target may use an effect or a setting they cannot make. Try {'; '.join(tries)}."
    )


def first_choice_refused(
    steps: Sequence[Mapping[str, Any]], tried_at_stop: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether the selector's most probable first effect was refused on its model's knobs
    (rendered further from the target): the models did not know what to make of the target."""
    tried = steps[0].get("candidates", []) if steps else tried_at_stop
    if not tried:
        return False
    top = max(tried, key=lambda c: c.get("probability", 0.0))
    return not top.get("model_accepted", top.get("closer", True))


def unmatched_warning(closeness: float | None, refused_first: bool) -> str | None:
    """The out-of-domain warning that fires on sounds made elsewhere: the session ended
    far from the target, or the models' first answer was refused by the render."""
    low = closeness is None or closeness < OOD_CLOSENESS
    if not (low or refused_first):
        return None
    why = []
    if refused_first:
        why.append("the selector's first choice made the sound further away with its model's knobs")
    if low:
        why.append(f"the best result removes only {float(closeness or 0.0):.0%} of the difference")
    return (
        "This target may be unlike what the models were trained on (" + "; ".join(why) + "): it may "
        "have been made with effects or settings the ones here cannot make, so the named effects may "
        "not be the ones used."
    )


def of(
    closeness: float | None, steps: int, stop_reason: str | None, loop: str, group: str | None
) -> dict[str, Any]:
    """The graded outcome a result carries (``Result.outcome``): the grade, the headline and,
    when the session is done short of the target, what to try. Empty while it goes on."""
    if stop_reason is None:
        return {}
    return {
        "grade": grade(closeness) if steps else GRADES[-1][1],
        "headline": headline(closeness, steps, stop_reason),
        "what_to_try": what_to_try(closeness, stop_reason, loop, group),
    }


def done_sentence(outcome: Mapping[str, Any]) -> str:
    """The outcome in one or two sentences, for the device's done text and the terminal."""
    if not outcome:
        return ""
    text = f"{outcome['headline']}."
    if outcome.get("what_to_try"):
        text += f" {outcome['what_to_try']}"
    return text
