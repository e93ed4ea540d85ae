"""Plugins hosted in a worker process: the parent's floating-point mode stays as it was, an
open rack can be built after them, a hung or crashing render is one error and the next
render works, and a bad profile is one line naming the file and key.

Needs the Debian plugins (installed by scripts/setup-system.sh); without them these fail.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from fake_plugin_worker import CRASH_CODE
from fresh_process import in_fresh_process

from serumrnn.server.rack import FX, PluginLoadError, ProfileError, RenderError, RenderSettings
from serumrnn.server.rack import plugins as PL
from serumrnn.server.rack import profile as PF
from serumrnn.server.rack.plugin_host import HostPool, PluginHost, PluginHostError

EQ = [FX("eq", freq=0.7, q=0.5, gain=0.9)]


def debian_raw() -> dict:
    return json.loads((PF.PROFILE_DIR / "debian_test.json").read_text())


def run_python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (its FPU mode untouched by other tests); it
    prints one JSON line last."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_parent_fpu_unchanged_and_open_rack_builds_after():
    got = run_python(
        """
        import json, numpy as np
        from serumrnn.server.rack import FX, OpenRack
        from serumrnn.server.rack.plugin_host import PluginHost
        def denormal():
            return float(np.float32(5e-40) * np.float32(1))
        before = denormal()
        host = PluginHost("debian_test")
        a = host.render([FX("distortion", mode="Tube", drive=0.7)])
        after = denormal()
        b = OpenRack().render([FX("distortion", mode="Tube", drive=0.7)], "saw")
        print(json.dumps({"before": before, "after": after, "plugin_peak": float(np.abs(a).max()),
                          "open_peak": float(np.abs(b).max()), "n": len(a)}))
        """
    )
    assert got["before"] > 0 and got["after"] == got["before"]
    assert got["n"] == 44100 and got["plugin_peak"] > 0.05 and got["open_peak"] > 0.05


def test_in_process_plugins_change_the_fpu_and_the_host_renders_the_same():
    """Why the host exists (the same check fails in process), and that hosting changes
    nothing in the sound: the worker's render equals the in-process rack's."""
    got = run_python(
        """
        import json, numpy as np
        from serumrnn.server.rack import FX, PluginRack
        from serumrnn.server.rack.plugin_host import PluginHost
        chain = [FX("distortion", mode="Tube", drive=0.7), FX("eq", freq=0.7, q=0.5, gain=0.9)]
        hosted = PluginHost("debian_test").render(chain)
        before = float(np.float32(5e-40) * np.float32(1))
        local = PluginRack("debian_test").render(chain)
        after = float(np.float32(5e-40) * np.float32(1))
        print(json.dumps({"before": before, "after": after,
                          "diff": float(np.abs(hosted - local).max())}))
        """
    )
    assert got["before"] > 0 and got["after"] == 0.0
    assert got["diff"] < 1e-6


def test_host_is_a_renderer(host):
    assert host.presets == ("init", "saw") and host.starts == 1 and host.alive
    dry = host.dry()
    assert dry.shape == (44100,) and dry.dtype == np.float32
    assert np.max(np.abs(dry)) == pytest.approx(0.5, abs=0.01)
    wet = host.render(EQ)
    assert np.abs(wet - dry).mean() > 1e-3
    assert np.array_equal(host.process(dry, EQ), wet)  # a clip through the same plugins
    assert np.array_equal(host.render(EQ), wet)
    # a render error comes back as the rack's own error and the worker lives on
    with pytest.raises(RenderError, match="unknown preset 'nope'"):
        host.render([], "nope")
    assert host.starts == 1 and host.alive


def test_hung_render_is_stopped_and_the_next_render_works():
    h = PluginHost(debian_raw(), factory="fake_plugin_worker:scripted", timeout_s=1.0)
    assert h.render([]).mean() == pytest.approx(0.25)
    t = time.perf_counter()
    with pytest.raises(
        PluginHostError, match=r"profile <dict>: the plugins did not finish the render within 1 s"
    ):
        h.render([], "hang")
    assert time.perf_counter() - t < 5 and not h.alive
    assert h.render(EQ).mean() == pytest.approx(0.26)
    assert h.starts == 2
    h.close()


def test_a_batch_longer_than_the_timeout_is_not_a_hang_but_a_hung_render_in_it_is():
    """The timeout bounds each render of a batch: four renders of 0.6 s finish under a 1 s
    timeout, and a render that hangs inside a batch still stops within it."""
    from fake_plugin_worker import SLOW_S

    h = PluginHost(debian_raw(), factory="fake_plugin_worker:scripted", timeout_s=1.0)
    t = time.perf_counter()
    out = h.render_batch([[], EQ, [], EQ], preset="slow")
    assert time.perf_counter() - t >= 4 * SLOW_S and [float(a.mean()) for a in out] == pytest.approx(
        [0.25, 0.26, 0.25, 0.26]
    )
    assert h.starts == 1
    t = time.perf_counter()
    with pytest.raises(PluginHostError, match=r"did not finish the render_many within 1 s"):
        h.render_batch([[], EQ], preset="hang")
    assert time.perf_counter() - t < 5 and not h.alive
    h.close()


def test_crashing_render_is_an_error_and_the_next_render_works():
    h = PluginHost(debian_raw(), factory="fake_plugin_worker:scripted")
    with pytest.raises(PluginHostError, match=rf"ended during the render \(exit code {CRASH_CODE}"):
        h.render([], "crash")
    x = np.ones(100, np.float32)
    assert np.array_equal(h.process(x, EQ), 0.5 * x)
    assert h.starts == 2
    h.close()


def test_hung_or_crashing_load_is_an_error():
    t = time.perf_counter()
    with pytest.raises(PluginHostError, match="did not finish the load within 1 s"):
        PluginHost(debian_raw(), factory="fake_plugin_worker:hang_on_load", load_timeout_s=1.0)
    assert time.perf_counter() - t < 10
    with pytest.raises(PluginHostError, match=rf"ended during the load \(exit code {CRASH_CODE}"):
        PluginHost(debian_raw(), factory="fake_plugin_worker:crash_on_load")


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text
    return text


def test_bad_profiles_are_one_line_naming_file_and_key(tmp_path):
    raw = debian_raw()
    raw["effects"]["reverb"]["plugin"]["path"] = "/nonexistent/NoSuchReverb.so"
    with pytest.raises(PluginLoadError) as e:
        PluginHost(raw)
    assert (
        one_line(e) == "profile <dict>: effects.reverb.plugin: plugin not found: /nonexistent/NoSuchReverb.so"
    )

    raw = debian_raw()
    raw["effects"]["distortion"]["knobs"]["drive"] = {"param": "Drvie"}
    f = tmp_path / "typo.json"
    f.write_text(json.dumps(raw))
    with pytest.raises(ProfileError) as e:
        PluginHost(f)
    assert one_line(e).startswith(f"profile {f}: effects.distortion.knobs.drive: parameter 'Drvie' not found")
    assert e.value.key_path == "effects.distortion.knobs.drive"

    raw = debian_raw()
    raw["effects"]["phaser"]["plugin"]["path"] = "/usr/lib/vst/ZynAddSubFX.so"
    with pytest.raises(PluginLoadError) as e:
        PluginHost(raw)
    assert one_line(e) == (
        "profile <dict>: effects.phaser.plugin: /usr/lib/vst/ZynAddSubFX.so has no audio input: "
        "it cannot be an effect"
    )


def test_an_effect_that_answers_with_silence_is_refused():
    """The load-time probe: an effect plugin whose output stays silent for a test tone."""
    assert in_fresh_process(_silent_eq_error) == (
        f"profile {PF.PROFILE_DIR / 'debian_test.json'}: effects.eq.plugin: "
        "/usr/lib/vst/lsp-plugins/para-equalizer-x16-mono.so answers a test tone with silence: "
        "it does not process audio"
    )


def _silent_eq_error() -> str:
    """In a fresh process: the plugin rack with the EQ's output silenced; its load error."""
    real_run = PL.PluginStage.run

    def run(self, audio, n):
        out = real_run(self, audio, n)
        return out * 0 if self.label == "eq" else out

    PL.PluginStage.run = run  # type: ignore[method-assign]
    try:
        PL.PluginRack("debian_test")
    except PluginLoadError as e:
        assert "\n" not in str(e)
        return str(e)
    raise AssertionError("the silent EQ loaded")


def test_pool_loads_a_profile_once():
    pool = HostPool(factory="fake_plugin_worker:scripted")
    a = pool.get("debian_test")
    assert pool.get("debian_test") is a and len(pool) == 1
    b = pool.get("debian_test", RenderSettings(note_s=0.5))
    assert b is not a and len(pool) == 2
    with pytest.raises(ProfileError, match="no such file"):
        pool.get("no_such_profile")
    assert len(pool) == 2
    pool.close()
    assert not a.alive and not b.alive


CANDIDATES = [
    [FX("distortion", mode="Tube", drive=0.6), FX("reverb", mix=0.5, low_cut=0.2, high_cut=0.7)],
    [FX("compressor", low=0.7, mid=0.5, high=0.6), FX("reverb", mix=0.5, low_cut=0.2, high_cut=0.7)],
    [FX("eq", freq=0.4, q=0.5, gain=0.8), FX("reverb", mix=0.5, low_cut=0.2, high_cut=0.7)],
]


def _count_requests(host, monkeypatch) -> list[tuple]:
    sent: list[tuple] = []
    real = host._exchange

    def exchange(op, args):
        sent.append((op, args))
        return real(op, args)

    monkeypatch.setattr(host, "_exchange", exchange)
    return sent


def test_a_batch_is_one_round_trip_and_sounds_like_single_calls(host, monkeypatch):
    """A verified step's candidates go to the worker at once; each sound is the single call's
    (the reverb takes a fresh instance per render, loaded ahead while the worker was idle)."""
    dry = host.dry() * 0.8
    single = [host.process(dry, c) for c in CANDIDATES]
    sent = _count_requests(host, monkeypatch)
    batch = host.render_batch(CANDIDATES, audio=dry)
    assert [op for op, _ in sent] == ["process_many"]
    for a, b in zip(single, batch):
        assert np.abs(a - b).max() < 1e-4  # the compressor alone varies by ~4e-5 between renders
    assert np.abs(batch[0] - batch[2]).mean() > 1e-3
    presets = host.render_batch(CANDIDATES[:2], preset="saw")
    assert np.abs(presets[1] - host.render(CANDIDATES[1], "saw")).max() < 1e-4


def test_a_clip_the_worker_holds_is_named_not_sent_again(host, monkeypatch):
    dry = host.dry() * 0.7
    sent = _count_requests(host, monkeypatch)
    first = host.process(dry, EQ)
    again = host.process(dry, EQ)
    assert np.array_equal(first, again)
    assert isinstance(sent[0][1][1], np.ndarray) and sent[1][1][1] is None  # audio sent once
    # the parent believes the worker holds a clip it does not: the worker says so, the clip is sent
    other = dry * 0.5
    key = f"{other.shape}:{hashlib.sha1(other.data).hexdigest()}"
    host._clips.put(key, None)
    sent.clear()
    got = host.process(other, EQ)
    assert [a[1] is None for _, a in sent] == [True, False]
    assert np.array_equal(got, host.render_batch([EQ, []], audio=other)[0])
    assert np.abs(got - first).max() > 0.01  # the other clip's sound, not the held one's
