"""MIDI "next step": which messages trigger, tested with mido messages (no hardware)."""

import mido
import pytest

from serumrnn.server.midi import MidiError, Trigger, TriggerMatcher, open_listener


def note_on(note: int, velocity: int = 100, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=velocity, channel=channel)


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


def test_trigger_parsing_and_errors():
    assert Trigger.parse("note:36") == Trigger("note", 36)
    assert Trigger.parse(" CC:64@2 ") == Trigger("cc", 64, 2)
    assert str(Trigger.parse("cc:64@2")) == "cc:64@2"
    for bad in ("note", "note:x", "pad:3", "note:128", "cc:1@0", "cc:1@17", ""):
        with pytest.raises(MidiError):
            Trigger.parse(bad)


def test_a_note_on_triggers_and_its_note_off_does_not():
    m = TriggerMatcher(Trigger.parse("note:36"))
    assert m.feed(note_on(36))
    assert not m.feed(note_on(36, velocity=0))  # running-status note-off
    assert not m.feed(mido.Message("note_off", note=36))
    assert not m.feed(note_on(37))
    assert not m.feed(cc(36, 127))
    assert not m.feed(mido.Message("clock"))  # messages without a channel
    assert m.feed(note_on(36, channel=9))  # any channel by default


def test_a_cc_triggers_once_per_press():
    m = TriggerMatcher(Trigger.parse("cc:64"))
    assert [m.feed(cc(64, v)) for v in (0, 127, 127, 90, 0, 127)] == [False, True, False, False, False, True]
    assert not m.feed(cc(65, 127))
    assert not m.feed(note_on(64))
    knob = TriggerMatcher(Trigger.parse("cc:1"))  # a knob swept up passes 64 once
    assert sum(knob.feed(cc(1, v)) for v in range(0, 128, 8)) == 1


def test_channel_filter_counts_from_one():
    m = TriggerMatcher(Trigger.parse("note:60@10"))
    assert m.feed(note_on(60, channel=9))
    assert not m.feed(note_on(60, channel=0))


def test_opening_a_port_fails_clearly(monkeypatch):
    def no_backend():
        raise ModuleNotFoundError("No module named 'rtmidi'")

    monkeypatch.setattr(mido, "get_input_names", no_backend)
    with pytest.raises(MidiError, match="python-rtmidi"):
        open_listener("Launchpad", Trigger.parse("note:36"), lambda: None)
    monkeypatch.setattr(mido, "get_input_names", lambda: ["IAC Bus 1"])
    with pytest.raises(MidiError, match="IAC Bus 1"):
        open_listener("Launchpad", Trigger.parse("note:36"), lambda: None)


def test_the_listener_calls_back_for_each_trigger(monkeypatch):
    calls = []

    class FakePort:
        def __init__(self, name, callback):
            self.callback = callback

    monkeypatch.setattr(mido, "get_input_names", lambda: ["Pads"])
    monkeypatch.setattr(mido, "open_input", lambda name, callback: FakePort(name, callback))
    port = open_listener("Pads", Trigger.parse("note:36"), lambda: calls.append(1))
    for msg in (note_on(36), note_on(36, velocity=0), note_on(40), note_on(36)):
        port.callback(msg)
    assert len(calls) == 2
