"""A match result as something a producer can follow: a terminal listing and a report folder.

The folder is self-contained (open ``index.html`` anywhere, offline):

* the result first: one closeness score with what it means, why the loop stopped, and a
  one-click A/B between the sound now (the best state) and the target;
* players for the input, each step, the best state and the target;
* the Mel strip (input, each step, target) with frequency (Hz) and time (s) axes and a
  colour scale in dB, and one picture of the difference that remains;
* each step in Serum's words: which effect to switch on, each knob by Serum's parameter
  name with its value in a musical unit, the fixed knobs by the names on Serum's panel;
* ``steps.json`` for tools.

Nothing here runs models or renders: the functions take a finished
:class:`~serumrnn.server.steps.Result` and the audio of each step.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server import features as F
from serumrnn.server import spec
from serumrnn.server.audio_io import write_wav
from serumrnn.server.steps import KnobSetting, Result, StepReport

#: The two distances a producer sees: the paper's headline one and its most robust one.
SHOWN_METRICS = (("mse", "Mel-MSE"), ("mssmae", "MSSMAE"))
TARGET_WAV = "target.wav"
BEST_WAV = "best.wav"
MEL_PNG = "mel_progression.png"
DIFF_PNG = "remaining_difference.png"
STEPS_JSON = "steps.json"
INDEX_HTML = "index.html"
#: Mel-axis tick marks, in Hz.
HZ_TICKS = (100, 300, 1000, 2000, 5000, 10000)


# -- names of the files ------------------------------------------------------------------
def step_wav_names(result: Result) -> list[str]:
    """``step0-input.wav``, ``step1-<effect>.wav``, ...: one per sound along the way."""
    return ["step0-input.wav"] + [f"step{s.step}-{s.effect}.wav" for s in result.steps]


def step_titles(result: Result) -> list[str]:
    return ["input"] + [f"step {s.step}: + {s.label}" for s in result.steps]


# -- text ---------------------------------------------------------------------------------
def _fmt_dist(d: Mapping[str, float] | None) -> str:
    if not d:
        return "n/a"
    return "  ".join(f"{label} {d[key]:.4g}" for key, label in SHOWN_METRICS)


def _verdict(step: StepReport) -> str:
    if step.improved is None:
        return "not judged yet"
    return "closer" if step.improved else "further away"


def _confidence_text(s: StepReport) -> str:
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
    if not result.stop:
        return ""
    return {
        "already_matches": "Your sound already matches the target.",
        "reached": "Done: the target is reached.",
        "no_closer": "Done: no remaining effect brings the sound closer.",
        "all_effects": f"Done: all {len(spec.EFFECTS)} effects are on.",
        "worse": "Stopped: too many steps made the sound worse (the paper's rule).",
    }.get(result.stop["reason"], result.stop.get("text", ""))


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


def _knob_line(k: KnobSetting) -> str:
    return f"{k.serum_name} = {k.value:.3f} ({k.text.strip()})"


def format_steps(result: Result, *, header: str = "") -> str:
    """A compact terminal listing of the steps (the same facts as the HTML page)."""
    lines = [header] if header else []
    lines += [f"note: {n}" for n in result.notes]
    lines.append(f"start: {_fmt_dist(result.initial)}")
    for v in result.taken_back:
        lines.append(f"taken back: {v['text']}")
    for s in result.steps:
        best = "  <- best" if s.step == result.best_step and s.loop == "paper" else ""
        lines.append(f"{s.step}. {s.instruction}  [{_confidence_text(s)}]{best}")
        lines.append(f"   turn on: {s.enable.serum_name} = 1")
        lines += [f"   set:     {_knob_line(k)}" for k in s.knobs]
        if s.fixed:
            lines.append("   fixed:   " + ", ".join(f"{f.label}: {f.text.strip()}" for f in s.fixed))
        lines.append(f"   after:   {_fmt_dist(s.after)}  ({_verdict(s)})")
    if result.stop:
        lines.append(stop_text(result))
    lines.append(rollback_text(result))
    if result.closeness is not None:
        lines.append(f"closeness {result.closeness:.0%} (share of the starting difference removed)")
    return "\n".join(lines)


# -- pictures -----------------------------------------------------------------------------
def _mel_axes(ax, n_frames: int, label_y: bool) -> None:
    """Hz ticks on the Mel axis, seconds on the time axis."""
    import librosa

    centres = librosa.mel_frequencies(n_mels=F.N_MELS + 2, fmin=F.FMIN, fmax=F.FMAX)[1:-1]
    ticks = [t for t in HZ_TICKS if centres[0] <= t <= centres[-1]]
    ax.set_yticks([float(np.interp(t, centres, np.arange(F.N_MELS))) for t in ticks])
    ax.set_yticklabels([f"{t // 1000}k" if t >= 1000 else str(t) for t in ticks], fontsize=6)
    ax.tick_params(labelleft=label_y)
    secs = (0.0, 0.25, 0.5, 0.75, 1.0)
    ax.set_xticks([min(s * F.SAMPLE_RATE / F.HOP, n_frames - 1) for s in secs])
    ax.set_xticklabels([f"{s:g}" for s in secs], fontsize=6)
    ax.set_xlim(0, n_frames - 1)


def plot_progression(audios: Sequence[np.ndarray], titles: Sequence[str], path: Path) -> Path:
    """Input, each step and the target side by side as dB Mel spectrograms (Figure 1),
    with Hz and time axes and one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mel, _ = F.features(np.stack([np.asarray(a, np.float32) for a in audios]))
    n = len(audios)
    fig, axes = plt.subplots(1, n, figsize=(1.9 * n + 1.0, 2.7), sharey=True, squeeze=False)
    im = None
    for i, (ax, m, title) in enumerate(zip(axes[0], mel, titles)):
        im = ax.imshow(m * F.TOP_DB, origin="lower", aspect="auto", vmin=-F.TOP_DB, vmax=20, cmap="magma")
        ax.set_title(title, fontsize=8)
        _mel_axes(ax, m.shape[-1], label_y=i == 0)
        ax.set_xlabel("time (s)", fontsize=6)
    if im is None:
        raise ValueError("plot_progression needs at least one sound and its title")
    axes[0][0].set_ylabel("frequency (Hz)", fontsize=7)
    bar = fig.colorbar(im, ax=list(axes[0]), fraction=0.02, pad=0.01)
    bar.set_label("level (dB)", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_difference(now: np.ndarray, target: np.ndarray, path: Path, title: str) -> Path:
    """What remains: the dB Mel of the sound now minus the target's. Red where the sound
    now is louder than the target, blue where it is quieter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mel, _ = F.features(np.stack([np.asarray(now, np.float32), np.asarray(target, np.float32)]))
    diff = (mel[0] - mel[1]) * F.TOP_DB
    lim = 30.0
    fig, ax = plt.subplots(figsize=(6.2, 2.8))
    im = ax.imshow(
        np.clip(diff, -lim, lim), origin="lower", aspect="auto", vmin=-lim, vmax=lim, cmap="RdBu_r"
    )
    _mel_axes(ax, diff.shape[-1], label_y=True)
    ax.set_xlabel("time (s)", fontsize=7)
    ax.set_ylabel("frequency (Hz)", fontsize=7)
    ax.set_title(title, fontsize=8)
    bar = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("now − target (dB)\nred: too loud, blue: too quiet", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


# -- HTML ---------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1000px;margin:1.5em auto;
padding:0 1em;color:#222;background:#fafafa;line-height:1.4}
h1{font-size:1.45em;margin-bottom:.2em}h2{font-size:1.15em;margin:0 0 .4em}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:1em;margin:1em 0}
.result{border:2px solid #2a8a3a}.score{font-size:2.4em;font-weight:700;color:#2a8a3a;
margin:0}.ab{font-size:1.1em;padding:.5em 1.2em;border-radius:6px;border:1px solid #2a8a3a;
background:#2a8a3a;color:#fff;cursor:pointer}.ab.t{background:#fff;color:#2a8a3a}
.badge{display:inline-block;padding:.1em .5em;border-radius:4px;font-size:.85em;margin-left:.4em}
.good{background:#dff3e2;color:#1d6b2a}.bad{background:#fbe3e3;color:#9b1c1c}
.muted{color:#666;font-size:.9em}.warn{background:#fff4d6;border-color:#e0b040}
table{border-collapse:collapse;margin:.4em 0}td,th{padding:.2em .8em;text-align:left;
border-bottom:1px solid #eee}th{font-weight:600}code{background:#f0f0f0;padding:0 .25em}
img{max-width:100%;border:1px solid #ddd;background:#fff}audio{height:2em;vertical-align:middle}
.players td{padding:.3em .8em}td.on{background:#dff3e2}
"""

#: The A/B button: one click swaps what plays between "now" and "target", at the same
#: point in the sound, so the difference is heard rather than remembered.
_AB_JS = """
(function(){var a=document.getElementById('ab-now'),b=document.getElementById('ab-target'),
btn=document.getElementById('ab'),label=document.getElementById('ab-label'),on=a;
function show(){label.textContent=on===a?'now playing: NOW':'now playing: TARGET';
btn.className=on===a?'ab':'ab t';a.parentNode.className=on===a?'on':'';
b.parentNode.className=on===b?'on':'';}
btn.addEventListener('click',function(){var other=on===a?b:a,t=on.currentTime;on.pause();
other.currentTime=t;on=other;other.play();show();});
a.addEventListener('play',function(){if(on!==a){b.pause();on=a;show();}});
b.addEventListener('play',function(){if(on!==b){a.pause();on=b;show();}});show();})();
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _audio(name: str, element_id: str = "") -> str:
    n = _e(name)
    ident = f' id="{element_id}"' if element_id else ""
    return f'<audio controls preload="none"{ident} src="{n}"></audio> <a href="{n}">{n}</a>'


def _knob_table(knobs: Sequence[KnobSetting], *, fixed: bool = False) -> str:
    head = (
        "<tr><th>on Serum's panel</th><th>Serum parameter (Live)</th><th>set to</th>"
        "<th>value (0..1)</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{_e(k.label)}</td><td><code>{_e(k.serum_name)}</code> #{k.serum_index}</td>"
        f"<td>{_e(k.text.strip())}</td><td>{k.value:.3f}</td></tr>"
        for k in knobs
    )
    return f"<table>{head}{rows}</table>"


def _dist_table(before: Mapping[str, float] | None, after: Mapping[str, float] | None) -> str:
    rows = "".join(
        f"<tr><td>{label}</td><td>{_num(before, key)}</td><td>{_num(after, key)}</td></tr>"
        for key, label in SHOWN_METRICS
    )
    return f"<table><tr><th>distance to target</th><th>before</th><th>after</th></tr>{rows}</table>"


def _num(d: Mapping[str, float] | None, key: str) -> str:
    return "n/a" if not d else f"{d[key]:.4g}"


def _step_html(s: StepReport, wav: str, best: bool) -> str:
    verdict = {
        None: "",
        True: '<span class="badge good">closer to the target</span>',
        False: '<span class="badge bad">further from the target</span>',
    }[s.improved]
    best_badge = '<span class="badge good">best step</span>' if best and s.loop == "paper" else ""
    refine = ""
    if s.refine and s.refine.get("kept"):
        refine = (
            f" Knobs polished by listening ({s.refine['renders']} renders): "
            f"{s.refine['score_model']:.2f} → {s.refine['score_refined']:.2f} of the "
            "starting difference."
        )
    return f"""
<section class="card{" result" if best and s.loop == "paper" else ""}" id="step{s.step}">
<h2>Step {s.step}: {_e(s.instruction)} {verdict}{best_badge}</h2>
<p>Confidence: {_e(_confidence_text(s))}.<span class="muted"> The selector's own probability
for {_e(s.label)}: {s.selector_probability:.0%}.{_e(refine)}</span></p>
<p>1. Turn on <b>{_e(s.label)}</b>: <code>{_e(s.enable.serum_name)}</code> = On.</p>
<p>2. Set its knobs:</p>{_knob_table(s.knobs)}
<p>3. Leave the rest of {_e(s.label)} as below (the models never change these):</p>
{_knob_table(s.fixed, fixed=True)}
{_dist_table(s.before, s.after)}
<p>Listen after this step: {_audio(wav)}</p>
</section>"""


def render_html(
    result: Result, meta: Mapping[str, Any], wavs: Sequence[str], best_wav: str = BEST_WAV
) -> str:
    """The report page: inline CSS and JavaScript, files referenced relatively."""
    notes = "".join(f"<li>{_e(n)}</li>" for n in result.notes)
    steps = "".join(_step_html(s, w, s.step == result.best_step) for s, w in zip(result.steps, wavs[1:]))
    taken = "".join(f"<li>{_e(v['text'])}</li>" for v in result.taken_back)
    players = "".join(
        f"<tr><td>{_e(t)}</td><td>{_audio(w)}</td></tr>" for t, w in zip(step_titles(result), wavs)
    )
    players += f"<tr><td><b>now (best state)</b></td><td>{_audio(best_wav)}</td></tr>"
    players += f"<tr><td><b>target</b></td><td>{_audio(TARGET_WAV)}</td></tr>"
    todo = "".join(
        f'<li><a href="#step{s.step}">{_e(s.instruction)}</a></li>' for s in result.steps[: result.best_step]
    )
    score = "" if result.closeness is None else f'<p class="score">{result.closeness:.0%}</p>'
    loop = {
        "verified": "verified steps (each step is rendered and kept only when it brings the sound closer)",
        "refine": "verified steps with knob refinement (the knobs of each step are polished by listening)",
        "paper": "the paper's loop (the selector's choice is applied without listening first)",
    }.get(result.loop, result.loop)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SerumRNN match: {_e(meta.get("input", ""))} to {_e(meta.get("target", ""))}</title>
<style>{_CSS}</style></head><body>
<h1>SerumRNN: from {_e(meta.get("input", "input"))} to {_e(meta.get("target", "target"))}</h1>
<p class="muted">Group {_e(meta.get("group", ""))}; models {_e(meta.get("models_id", ""))}
created {_e(meta.get("models_created", ""))}; {_e(loop)}. {_e(meta.get("render", ""))}</p>
{f'<ul class="card warn">{notes}</ul>' if notes else ""}
<section class="card result">
<h2>{_e(stop_text(result) or rollback_text(result))}</h2>
{score}<p>{_e(closeness_text(result))}</p>
{f"<p><b>What to do in Serum:</b></p><ol>{todo}</ol>" if todo else ""}
<p><b>{_e(rollback_text(result))}</b></p>
<p><button class="ab" id="ab" type="button">A/B: switch between now and target</button>
<span id="ab-label" class="muted"></span></p>
<table class="players"><tr><td>NOW (your sound with the steps)</td>
<td><audio id="ab-now" controls preload="auto" src="{_e(best_wav)}"></audio></td></tr>
<tr><td>TARGET</td><td><audio id="ab-target" controls preload="auto" src="{TARGET_WAV}">
</audio></td></tr></table>
<p class="muted">One click plays the other sound from the same moment, so you hear what
still differs.</p>
</section>
<section class="card"><h2>Listen</h2><table class="players">{players}</table></section>
<section class="card"><h2>How the sound changes (Mel spectrogram)</h2>
<p><img src="{MEL_PNG}" alt="Mel spectrograms of the input, each step and the target, with
frequency in Hz, time in seconds and level in dB"></p>
<h2>What still differs</h2>
<p><img src="{DIFF_PNG}" alt="The sound now minus the target, in dB, over frequency and time"></p>
<p class="muted">Red: the sound now is louder there than the target; blue: quieter; white:
the same.</p></section>
{f'<section class="card"><h2>Taken back</h2><ul>{taken}</ul></section>' if taken else ""}
{steps}
<p class="muted">Start: {_e(_fmt_dist(result.initial))}. Now: {_e(_fmt_dist(result.best))}.
Renders: {result.renders}. Mel-MSE: mean squared difference of the dB Mel spectrograms (×100);
MSSMAE: multi-scale spectral difference (×100); lower is closer for both.</p>
<script>{_AB_JS}</script>
</body></html>
"""


# -- the folder ---------------------------------------------------------------------------
def write_report(
    result: Result,
    audio_by_step: Sequence[np.ndarray],
    target_audio: np.ndarray,
    out_dir: Path,
    meta: Mapping[str, Any],
    *,
    sample_rate: int = 44100,
) -> Path:
    """Write WAVs, the two pictures, ``steps.json`` and ``index.html``; return the page.

    ``audio_by_step``: the input sound, then the sound after each step (len(steps) + 1).
    """
    if len(audio_by_step) != len(result.steps) + 1:
        raise ValueError(
            f"need {len(result.steps) + 1} sounds (input and one per step), got {len(audio_by_step)}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wavs = step_wav_names(result)
    for name, audio in zip(wavs, audio_by_step):
        write_wav(out_dir / name, audio, sample_rate)
    now = audio_by_step[result.best_step]
    write_wav(out_dir / BEST_WAV, now, sample_rate)
    write_wav(out_dir / TARGET_WAV, target_audio, sample_rate)
    plot_progression([*audio_by_step, target_audio], [*step_titles(result), "target"], out_dir / MEL_PNG)
    plot_difference(
        now, target_audio, out_dir / DIFF_PNG, "What still differs: the sound now minus the target"
    )
    files = {
        "steps": wavs,
        "best": BEST_WAV,
        "target": TARGET_WAV,
        "mel_png": MEL_PNG,
        "difference_png": DIFF_PNG,
        "html": INDEX_HTML,
    }
    doc = {**result.to_json(), "meta": dict(meta), "files": files}
    _write_text(out_dir / STEPS_JSON, json.dumps(doc, indent=2) + "\n")
    return _write_text(out_dir / INDEX_HTML, render_html(result, meta, wavs))


def _write_text(path: Path, text: str) -> Path:
    """Atomic, so a browser refreshing the page never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
