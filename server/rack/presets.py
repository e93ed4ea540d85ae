"""The open rack's 12 presets, in the paper's three groups.

A preset is a set of values for the sliders of ``faust/synth.dsp``: the sounds differ by
data, not code. Names are our own; each sound is in the spirit of the Serum factory preset
the paper used in the same slot (see the README's preset table).
"""

from __future__ import annotations

from collections.abc import Mapping

#: How a preset is named where a file path could stand (match INPUT, the OSC `new` source).
PRESET_PREFIX = "preset:"

#: Group id -> preset names, in the paper's order of increasing complexity.
GROUPS: dict[str, tuple[str, ...]] = {
    "basic_shapes": ("sine", "triangle", "saw", "square"),
    "advanced_shapes": ("power_fifths_lead", "saw_stack", "dirty_stab", "bells"),
    "advanced_modulating_shapes": ("wobble_bass", "laser_pluck", "morph_pad", "tremolo_organ"),
}

#: Short names a user may type on the command line.
GROUP_ALIASES: dict[str, str] = {
    "basic": "basic_shapes",
    "advanced": "advanced_shapes",
    "modulating": "advanced_modulating_shapes",
    "adv_mod": "advanced_modulating_shapes",
}

_SINGLE = {"osc2_level": 0.0, "attack": 0.002, "decay": 0.1, "sustain": 1.0, "release": 0.05}

PRESETS: dict[str, dict[str, float]] = {
    # Basic Shapes: one oscillator, no modulation (Serum's default init sounds).
    "sine": {**_SINGLE, "osc1_wt": 0.0},
    "triangle": {**_SINGLE, "osc1_wt": 1.0},
    "saw": {**_SINGLE, "osc1_wt": 2.0},
    "square": {**_SINGLE, "osc1_wt": 3.0},
    # Advanced Shapes: two oscillators, static timbres.
    "power_fifths_lead": {
        "osc1_wt": 2.0,
        "osc2_wt": 2.6,
        "osc2_level": 0.8,
        "osc2_semi": 7,
        "osc2_fine": 4,
        "filter_on": 1,
        "cutoff": 5000,
        "resonance": 0.15,
        "attack": 0.005,
        "sustain": 0.9,
    },
    "saw_stack": {
        "osc1_wt": 2.0,
        "osc1_semi": -12,
        "osc1_level": 0.6,
        "osc2_wt": 2.0,
        "osc2_level": 1.0,
        "osc2_spread": 22,
        "attack": 0.02,
        "sustain": 1.0,
    },
    "dirty_stab": {
        "osc1_wt": 3.0,
        "osc2_wt": 2.0,
        "osc2_level": 0.9,
        "osc2_semi": -12,
        "osc2_fine": 12,
        "noise_level": 0.12,
        "filter_on": 1,
        "cutoff": 2500,
        "resonance": 0.4,
        "attack": 0.001,
        "decay": 0.35,
        "sustain": 0.25,
    },
    "bells": {
        "osc1_wt": 0.0,
        "osc2_wt": 0.3,
        "osc2_level": 0.7,
        "osc2_semi": 19,
        "osc2_fine": 31,
        "attack": 0.001,
        "decay": 0.9,
        "sustain": 0.0,
        "release": 0.6,
    },
    # Advanced Modulating Shapes: two oscillators with intense modulation.
    "wobble_bass": {  # LFO on filter cutoff
        "osc1_wt": 2.0,
        "osc2_wt": 3.0,
        "osc2_level": 0.7,
        "osc2_semi": -12,
        "filter_on": 1,
        "cutoff": 350,
        "resonance": 0.55,
        "lfo_rate": 4.0,
        "lfo_cut": 3.5,
    },
    "laser_pluck": {  # envelopes on pitch and filter
        "osc1_wt": 3.0,
        "osc2_wt": 2.0,
        "osc2_level": 0.8,
        "osc2_fine": -9,
        "penv_amt": 24,
        "penv_dec": 0.18,
        "filter_on": 1,
        "cutoff": 600,
        "resonance": 0.3,
        "fenv_amt": 4.5,
        "fenv_dec": 0.4,
        "attack": 0.001,
        "decay": 0.6,
        "sustain": 0.3,
    },
    "morph_pad": {  # LFO on wavetable position
        "osc1_wt": 0.0,
        "osc2_wt": 1.0,
        "osc2_level": 0.8,
        "osc2_spread": 14,
        "lfo_rate": 2.5,
        "lfo_wt": 2.0,
        "attack": 0.08,
        "sustain": 1.0,
    },
    "tremolo_organ": {  # LFO on amplitude and pitch
        "osc1_wt": 3.0,
        "osc2_wt": 0.0,
        "osc2_level": 0.9,
        "osc2_semi": 12,
        "lfo_rate": 6.0,
        "lfo_amp": 0.85,
        "lfo_pitch": 0.35,
    },
}


def resolve_group(group: str) -> str:
    """A group id from an id or alias, with an error that lists the valid ones."""
    g = GROUP_ALIASES.get(group, group)
    if g not in GROUPS:
        valid = ", ".join(list(GROUPS) + list(GROUP_ALIASES))
        raise KeyError(f"unknown preset group {group!r}; valid groups: {valid}")
    return g


def group_presets(group: str) -> tuple[str, ...]:
    return GROUPS[resolve_group(group)]


def preset(name: str) -> Mapping[str, float]:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None


def group_of(name: str) -> str:
    for g, names in GROUPS.items():
        if name in names:
            return g
    raise KeyError(f"unknown preset {name!r}")
