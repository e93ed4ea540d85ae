"""A match result in words: the terminal listing (:func:`format_steps`) and the sentences
the report page shows (why the loop stopped, what was taken back, how close it got)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from serumrnn.server import outcome, spec
from serumrnn.server.steps import KnobSetting, Result, StepReport

#: The two distances a producer sees: the paper's headline one and its most robust one.
SHOWN_METRICS = (("mse", "Mel-MSE"), ("mssmae", "MSSMAE"))


def step_titles(result: Result) -> list[str]:
    return ["input"] + [f"step {s.step}: + {s.label}" for s in result.steps]


def fmt_dist(d: Mapping[str, float] | None) -> str:
    if not d:
        return "n/a"
    return "  ".join(f"{label} {d[key]:.4g}" for key, label in SHOWN_METRICS)


def _verdict(step: StepReport) -> str:
    if step.improved is None:
        return "not judged yet"
    return "closer" if step.improved else "further away"


def confidence_text(s: StepReport) -> str:
    """What the shown confidence means for this loop."""
    if s.loop == "paper":
        return f"{s.confidence:.0%} sure (the selector's probability)"
    return f"expected {s.confidence:.0%} closer (measured on its render)"


def rollback_text(result: Result) -> str:
    """Which steps to keep, said the way a producer acts on it."""
    n, best = len(result.steps), result.best_step
    if n == 0:
        return "No step: keep your sound as it is."
    if best == n:
        return f"Keep all {n} step{'s' if n > 1 else ''}." if n > 1 else "Keep the step."
    if best == 0:
        return "No step got closer to the target: switch every suggested effect off again."
    undo = ", ".join(s.label for s in result.steps[best:])
    return f"Step {best} is the best: roll back to it (switch off {undo})."


def stop_text(result: Result) -> str:
    if result.outcome:  # graded by what was reached (serumrnn.server.outcome)
        return outcome.done_sentence(result.outcome)
    if not result.stop:
        return ""
    words = {
        "already_matches": "Your sound already matches the target.",
        "reached": "Done: the target is reached.",
        "no_closer": "Done: no remaining effect brings the sound closer.",
        "all_effects": f"Done: all {len(spec.EFFECTS)} effects are on.",
        "worse": "Stopped: too many steps made the sound worse (the paper's rule).",
    }
    return str(words.get(result.stop["reason"], result.stop.get("text", "")))


def closeness_text(result: Result) -> str:
    """The one closeness score, explained."""
    if result.closeness is None:
        return ""
    return (
        f"Closeness {result.closeness:.0%}: the sound now removes {result.closeness:.0%} "
        "of the difference between your sound and the target (the mean of Mel-MSE and "
        "MSSMAE, each as a share of where you started). 0 % is where you started, "
        "100 % is the target itself."
    )


def _closer(gain: float) -> str:
    """A share of the current distance removed, as a producer reads it."""
    if gain >= 0:
        return f"{gain:.0%} closer"
    return "further away" + (" (more than twice as far)" if gain < -1 else f" by {-gain:.0%}")


#: How a step's search found an effect's setting (``Tried.search``), in the report's words.
_HOW = {
    "wide": "searched",
    "polish": "polished",
    "extra": "searched with its extra knobs too",
    "deep": "searched again, longer",
}


def tried_lines(candidates: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every effect a step tried, with what its best render reached: "Distortion was
    tried: best setting 40 % closer (its model's knobs: further away by 12 %; searched, 19
    renders)", "Hall Reverb chosen: 55 % closer". Candidates without a measured gain (the
    paper's loop renders none) are left out."""
    out = []
    for c in candidates:
        if "gain" not in c:
            continue
        label = c.get("label") or spec.effect(c["effect"]).label
        verb = "chosen" if c.get("chosen") else "was tried"
        line = f"{label} {verb}: best setting {_closer(float(c['gain']))}"
        if c.get("search") in _HOW and "model_gain" in c:
            line += (
                f" (its model's knobs: {_closer(float(c['model_gain']))}; "
                f"{_HOW[c['search']]}, {c.get('renders', 0)} renders)"
            )
        if c.get("extra"):
            line += (
                f"; beyond the paper's knobs it sets {', '.join(spec.extra_text(c['effect'], c['extra']))}"
            )
        if c.get("note"):
            line += f". {c['note']}"
        out.append(line)
    return out


def renders_tried(ft: Mapping[str, Any]) -> str:
    """'107 renders tried in 2 rounds, 47 of them each choice of a menu knob' (the
    categorical sweep)."""
    swept, rounds = ft.get("swept", 0), ft.get("rounds", 1)
    return (
        f"{ft['renders']} renders tried"
        + (f" in {rounds} rounds" if rounds > 1 else "")
        + (f", {swept} of them each choice of a menu knob" if swept else "")
    )


def fine_tune_lines(result: Result) -> list[str]:
    """What the fine-tune after the last step did (none when it did not run)."""
    ft = result.fine_tune
    if not ft:
        return []
    if not ft["kept"]:
        return [
            f"fine-tune tried ({renders_tried(ft)}): its best setting of the knobs together was "
            f"{ft['improvement']:.0%} closer, less than the judge's margin, so the knobs stay"
        ]
    lines = [f"{ft['instruction']}  [{ft['improvement']:.0%} closer; {renders_tried(ft)}]"]
    lines += [
        f"   set:     {c['serum_name']} = {c['serum_value']:.3f} ({c['after_text'].strip()})"
        for c in ft["changes"]
    ]
    return lines


def _knob_line(k: KnobSetting) -> str:
    return f"{k.serum_name} = {k.value:.3f} ({k.text.strip()})"


def format_steps(result: Result, *, header: str = "") -> str:
    """A compact terminal listing of the steps (the same facts as the HTML page)."""
    lines = [header] if header else []
    lines += [f"note: {n}" for n in result.notes]
    lines.append(f"start: {fmt_dist(result.initial)}")
    for v in result.taken_back:
        lines.append(f"taken back: {v['text']}")
    for s in result.steps:
        best = "  <- best" if s.step == result.best_step and s.loop == "paper" else ""
        lines.append(f"{s.step}. {s.instruction}  [{confidence_text(s)}]{best}")
        lines.append(f"   turn on: {s.enable.serum_name} = 1")
        lines += [f"   set:     {_knob_line(k)}" for k in s.knobs]
        if s.fixed:
            lines.append("   fixed:   " + ", ".join(f"{f.label}: {f.text.strip()}" for f in s.fixed))
        lines.append(f"   after:   {fmt_dist(s.after)}  ({_verdict(s)})")
        lines += [f"   tried:   {t}" for t in tried_lines(s.candidates)]
    lines += [f"last search tried: {t}" for t in tried_lines(result.tried)]
    lines += fine_tune_lines(result)
    if result.stop:
        lines.append(stop_text(result))
    lines.append(rollback_text(result))
    if result.closeness is not None:
        lines.append(f"closeness {result.closeness:.0%} (share of the starting difference removed)")
    return "\n".join(lines)
