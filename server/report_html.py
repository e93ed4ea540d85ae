"""The report page (``index.html``): self-contained, inline CSS and JavaScript, the
folder's files referenced relatively; a one-click A/B between the sound now and the target."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from serumrnn.server.report_text import (
    SHOWN_METRICS,
    closeness_text,
    confidence_text,
    fine_tune_lines,
    fmt_dist,
    renders_tried,
    rollback_text,
    step_titles,
    stop_text,
    tried_lines,
)
from serumrnn.server.steps import KnobSetting, Result, StepReport

#: The folder's files, which the page links (``report.write_report`` writes them).
TARGET_WAV = "target.wav"
BEST_WAV = "best.wav"
TUNED_WAV = "fine-tuned.wav"
MEL_PNG = "mel_progression.png"
DIFF_PNG = "remaining_difference.png"
STEPS_JSON = "steps.json"
INDEX_HTML = "index.html"


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
img{max-width:100%;border:1px solid #ddd;background:#fff}audio{height:2em;vertical-align:middle;
max-width:100%}.players td{padding:.3em .8em}td.on{background:#dff3e2}
code{overflow-wrap:anywhere}.nw{white-space:nowrap}a.zoom{display:block}
.fig{overflow-x:auto}ul.card{padding-left:2em}
@media (max-width:640px){body{margin:.5em auto;padding:0 .5em}.card{padding:.6em}
.score{font-size:2em}table,tbody,tr,td,th{display:block}tr{border-bottom:1px solid #ddd;padding:.3em 0}
td,th{border:0;padding:.1em 0}tr:first-child th{display:none}tr:first-child:has(th){display:none}
audio{width:100%}.fig img{min-width:560px;max-width:none}
td[data-label]::before{content:attr(data-label) ": ";color:#666}}
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


def value_html(text: str) -> str:
    """A value with its unit, escaped, kept on one line ("63 %" never breaks after 63)."""
    return _e(text.strip()).replace(" ", "\u00a0")


def _knob_table(knobs: Sequence[KnobSetting], *, fixed: bool = False) -> str:
    head = (
        "<tr><th>on Serum's panel</th><th>Serum parameter (Live)</th><th>set to</th>"
        "<th>value (0..1)</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{_e(k.label)}</td><td><code>{_e(k.serum_name)}</code> #{k.serum_index}</td>"
        f'<td data-label="set to">{value_html(k.text)}</td><td data-label="0..1">{k.value:.3f}</td></tr>'
        for k in knobs
    )
    return f"<table>{head}{rows}</table>"


def _dist_table(before: Mapping[str, float] | None, after: Mapping[str, float] | None) -> str:
    rows = "".join(
        f'<tr><td>{label}</td><td data-label="before">{_num(before, key)}</td>'
        f'<td data-label="after">{_num(after, key)}</td></tr>'
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
<p>Confidence: {_e(confidence_text(s))}.<span class="muted"> The selector's own probability
for {_e(s.label)}: {s.selector_probability:.0%}.{_e(refine)}</span></p>
<p>1. Turn on <b>{_e(s.label)}</b>: <code>{_e(s.enable.serum_name)}</code> = On.</p>
<p>2. Set its knobs:</p>{_knob_table(s.knobs)}
<p>3. Leave the rest of {_e(s.label)} as below (the models never change these):</p>
{_knob_table(s.fixed, fixed=True)}
{_dist_table(s.before, s.after)}
{_tried_html(s.candidates, "Effects tried for this step")}
<p>Listen after this step: {_audio(wav)}</p>
</section>"""


def _tried_html(candidates: Sequence[Mapping[str, Any]], title: str) -> str:
    """Every effect a search tried, with what its best render reached (empty when none)."""
    lines = tried_lines(candidates)
    if not lines:
        return ""
    items = "".join(f"<li>{_e(t)}</li>" for t in lines)
    return f'<div class="tried"><p><b>{_e(title)}:</b></p><ul>{items}</ul></div>'


def _fine_tune_html(result: Result) -> str:
    """The fine-tune's card: every knob it moved, from and to (empty when it did not run)."""
    ft = result.fine_tune
    if not ft:
        return ""
    lines = fine_tune_lines(result)
    if not ft["kept"]:
        return f'<section class="card" id="fine-tune"><h2>Fine-tune</h2><p>{_e(lines[0])}</p></section>'
    rows = "".join(
        f"<tr><td>{_e(c['label'])}</td><td><code>{_e(c['serum_name'])}</code></td>"
        f"<td>{value_html(c['before_text'])}</td><td>{value_html(c['after_text'])}</td></tr>"
        for c in ft["changes"]
    )
    return f"""<section class="card" id="fine-tune">
<h2>Last: fine-tune the knobs together ({ft["improvement"]:.0%} closer)</h2>
<p>Each step set only its own effect's knobs; these settings of the effects already on bring the
sound closer together ({_e(renders_tried(ft))}).</p>
<table class="knobs"><tr><th>knob</th><th>Serum parameter</th><th>from</th><th>to</th></tr>{rows}</table>
<p>{_audio(TUNED_WAV)}</p></section>"""


def render_html(
    result: Result, meta: Mapping[str, Any], wavs: Sequence[str], best_wav: str = BEST_WAV
) -> str:
    """The report page: inline CSS and JavaScript, files referenced relatively."""
    notes = "".join(f"<li>{_e(n)}</li>" for n in result.notes)
    steps = "".join(_step_html(s, w, s.step == result.best_step) for s, w in zip(result.steps, wavs[1:]))
    taken = "".join(f"<li>{_e(v['text'])}</li>" for v in result.taken_back)
    tuned = bool(result.fine_tune and result.fine_tune["kept"])
    players = "".join(
        f"<tr><td>{_e(t)}</td><td>{_audio(w)}</td></tr>"
        for t, w in zip(step_titles(result) + (["fine-tuned"] if tuned else []), wavs)
    )
    players += f"<tr><td><b>now (best state)</b></td><td>{_audio(best_wav)}</td></tr>"
    players += f"<tr><td><b>target</b></td><td>{_audio(TARGET_WAV)}</td></tr>"
    todo = "".join(
        f'<li><a href="#step{s.step}">{_e(s.instruction)}</a></li>' for s in result.steps[: result.best_step]
    )
    if tuned and result.fine_tune is not None:
        todo += f'<li><a href="#fine-tune">{_e(result.fine_tune["instruction"])}</a></li>'
    steps += _fine_tune_html(result)
    score = "" if result.closeness is None else f'<p class="score nw">{result.closeness:.0%}</p>'
    loop = {
        "verified": "verified steps (each step is rendered and kept only when it brings the sound closer)",
        "refine": "verified steps with knob refinement (the knobs of each step are polished by listening)",
        "search": "verified steps with knob search (the likely effects' knobs are searched by listening "
        "before any is rejected)",
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
{_tried_html(result.tried, "The last search tried, and none brought the sound closer")}
<p><button class="ab" id="ab" type="button">A/B: switch between now and target</button>
<span id="ab-label" class="muted"></span></p>
<table class="players"><tr><td>NOW (your sound with the steps)</td>
<td><audio id="ab-now" controls loop preload="auto" src="{_e(best_wav)}"></audio></td></tr>
<tr><td>TARGET</td><td><audio id="ab-target" controls loop preload="auto" src="{TARGET_WAV}">
</audio></td></tr></table>
<p class="muted">Both loop. One click plays the other sound from the same moment, so you hear
what still differs.</p>
</section>
<section class="card"><h2>Listen</h2><table class="players">{players}</table></section>
<section class="card"><h2>How the sound changes (Mel spectrogram)</h2>
<div class="fig"><a class="zoom" href="{MEL_PNG}"><img src="{MEL_PNG}" alt="Mel spectrograms of
the input, each step and the target, with frequency in Hz, time in seconds and level in dB"></a></div>
<p class="muted">Tap or click a picture to open it full size; on a phone, swipe it sideways.</p>
<h2>What still differs</h2>
<div class="fig"><a class="zoom" href="{DIFF_PNG}"><img src="{DIFF_PNG}" alt="The sound now minus
the target, in dB, over frequency and time"></a></div>
<p class="muted">Red: the sound now is louder there than the target; blue: quieter; white:
the same.</p></section>
{f'<section class="card"><h2>Taken back</h2><ul>{taken}</ul></section>' if taken else ""}
{steps}
<p class="muted">Start: {_e(fmt_dist(result.initial))}. Now: {_e(fmt_dist(result.best))}.
Renders: {result.renders}. Mel-MSE: mean squared difference of the dB Mel spectrograms (×100);
MSSMAE: multi-scale spectral difference (×100); lower is closer for both.</p>
<script>{_AB_JS}</script>
</body></html>
"""
