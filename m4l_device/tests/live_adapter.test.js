// The Live adapter against fake Live sets as strict as Live: finding Serum (by name,
// through racks, never another plugin), the Configure message, values in the
// parameter's own range, undo, watching the parameter list, and never a Live API error
// in Max's console.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { LiveAdapter, specParams, specProblem, splitDevicePath, dequote } = require("../live_adapter.js");
const { FakeLiveSet, SETS, ALL_NAMES, REQUIRED_NAMES, serum, thisDevice } = require("./fake_live.js");
const text = require("../ui_text.js");
const spec = require("../serumrnn_spec.json");

const DEV0 = "live_set tracks 0 devices 0";

function adapterFor(model) {
  const live = new FakeLiveSet(model);
  const logs = [];
  const adapter = new LiveAdapter(live.LiveAPI, spec, { log: (m) => logs.push(m) });
  return { live, adapter, logs };
}

test("the spec names every enable, sampled and fixed knob once; 20 of 44 need configuring", () => {
  const params = specParams(spec);
  const names = params.map((p) => p.name);
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(params.filter((p) => p.role === "enable").map((p) => p.name),
                   ["Comp Enable", "Dist Enable", "EQ Enable", "Phs Enable", "Rev Enable"]);
  for (const n of ["Dist_Mode", "Dist_Drv", "EQ FrqH", "Verb Wet", "Cmp_Thr", "CmpMBnd"]) {
    assert.ok(names.includes(n), n);
  }
  assert.equal(params.length, 44);
  assert.equal(params.filter((p) => p.role === "knob").length, 14);
  assert.equal(params.filter((p) => p.role === "fixed").length, 25);
  const required = params.filter((p) => p.required);
  assert.equal(required.length, 20);
  assert.deepEqual(required.filter((p) => p.role === "fixed").map((p) => p.name), ["CmpMBnd"]);
  assert.deepEqual(REQUIRED_NAMES, required.map((p) => p.name));
});

test("an empty or broken spec is an error, not 'every knob is configured'", () => {
  assert.equal(specProblem(spec), "");
  assert.equal(specProblem({ effects: [] }), "the spec lists no effects");
  assert.equal(specProblem(undefined), "the spec lists no effects");
  assert.match(specProblem({ effects: [{ name: "eq", enable: {}, knobs: [] }] }), /eq has no enable/);
});

test("names come back from Live quoted when they have spaces; the adapter strips the quotes", () => {
  const { live } = adapterFor(SETS.configured());
  const api = new live.LiveAPI(DEV0 + " parameters 1");
  assert.equal(api.get("name")[0], '"Comp Enable"', "Max hands the symbol over quoted");
  assert.equal(dequote(api.get("name")[0]), "Comp Enable");
  assert.equal(dequote("Serum"), "Serum");
});

test("finds Serum right before the device", () => {
  const { live, adapter } = adapterFor(SETS.configured());
  const r = adapter.find();
  assert.equal(r.found, true);
  assert.equal(r.name, "Serum");
  assert.deepEqual(r.missingNames, []);
  assert.deepEqual(r.leaveAtDefault, []);
  assert.equal(adapter.serum.path, DEV0);
  assert.deepEqual(live.console, []);
});

test("finds Serum by name when another device sits between", () => {
  const { live, adapter } = adapterFor(SETS.serumEarlier());
  const r = adapter.find();
  assert.equal(r.found, true);
  assert.equal(r.name, "Serum (lead)");
  assert.equal(adapter.serum.path, DEV0);
  assert.deepEqual(live.console, []);
});

test("Serum -> OTT -> SerumRNN: Serum, not the plugin just before", () => {
  const { live, adapter } = adapterFor(SETS.ottBetween());
  const r = adapter.find();
  assert.equal(r.found, true);
  assert.equal(adapter.serum.path, DEV0);
  assert.equal(r.name, "Serum");
  assert.deepEqual(live.console, []);
});

test("a plugin just before is taken only when it exposes a Serum parameter name", () => {
  const renamed = adapterFor(SETS.renamedSerum());
  const r = renamed.adapter.find();
  assert.equal(r.found, true, "a renamed Serum is recognised by its parameters");
  assert.equal(r.name, "My Lead");
  const other = adapterFor(SETS.otherPluginOnly());
  assert.equal(other.adapter.find().found, false, "Vital is not Serum");
  assert.deepEqual(other.live.console, []);
});

test("finds Serum inside a rack, from a device after the rack or inside one of its chains", () => {
  const after = adapterFor(SETS.serumInRack());
  assert.equal(after.adapter.find().found, true);
  assert.equal(after.adapter.serum.path, "live_set tracks 0 devices 0 chains 0 devices 0");
  const inside = adapterFor(SETS.bothInChain());
  assert.equal(inside.adapter.find().found, true);
  assert.equal(inside.adapter.serum.path, "live_set tracks 0 devices 0 chains 1 devices 0");
  assert.deepEqual(after.live.console.concat(inside.live.console), []);
  assert.deepEqual(splitDevicePath('"live_set tracks 3 devices 12"'),
                   { container: "live_set tracks 3", index: 12 });
});

test("a rack named after Serum is never taken for Serum; the Serum inside it is", () => {
  const { live, adapter } = adapterFor(SETS.serumNamedRack());
  const r = adapter.find();
  assert.equal(r.found, true);
  assert.equal(adapter.serum.path, "live_set tracks 0 devices 0 chains 0 devices 0");
  assert.equal(r.missingNames.length, 0, "the 20 knobs are found, not missing");
  adapter.apply([{ name: "Dist Enable", value: 1 }], "Distortion");
  assert.equal(live.value("live_set tracks 0 devices 0 chains 0 devices 0", "Dist Enable"), 1);
  assert.deepEqual(live.console, []);
  const only = adapterFor(SETS.serumNamedRackOnly());
  assert.equal(only.adapter.find().found, false, "a rack holding another synth is no Serum");
});

test("the fake refuses to set a rack's macro (the device never tries)", () => {
  const { live } = adapterFor(SETS.serumNamedRack());
  const api = new live.LiveAPI("live_set tracks 0 devices 0 parameters 1");
  api.set("value", 64);
  assert.match(live.console[0], /Macro 1 is a rack's parameter/);
  assert.equal(live.value(DEV0, "Macro 1"), 0);
});

test("Serum 2: detected by name and by its proxy slots; unassigned slots are no knobs", () => {
  const { adapter } = adapterFor(SETS.serum2());
  const r = adapter.find();
  assert.equal(r.found, true);
  assert.equal(r.version, 2);
  assert.equal(r.missingNames.length, 20, "every knob is set by hand");
  assert.match(text.serumSummary(r), /\(Serum 2\) found: it shows its effects to Live only as FX Main Param slots/);
  const renamed = SETS.serum2();
  renamed.tracks[0].devices[0].name = "Lead synth";
  renamed.tracks[0].devices[0].class_display_name = "Lead synth";
  renamed.tracks[0].devices[0].parameters.push({ name: "Dist_Drv", value: 0, min: 0, max: 1,
                                                 is_quantized: 0, value_items: [] });
  const byParams = adapterFor(renamed).adapter;
  assert.equal(byParams.locate() && byParams.find().version, 2, "found by a Serum name, known as 2 by its slots");
  const one = adapterFor(SETS.required()).adapter.find();
  assert.equal(one.version, 1);
});

test("Serum 2 with assigned slots: the device sets those, the rest is by hand", () => {
  const { live, adapter } = adapterFor(SETS.serum2Assigned());
  const r = adapter.find();
  assert.equal(r.version, 2);
  assert.ok(!r.missingNames.includes("Dist_Drv") && !r.missingNames.includes("Verb Wet"));
  const out = adapter.apply([{ name: "Dist Enable", value: 1, text: "On", role: "enable", label: "Distortion" },
                             { name: "Dist_Drv", value: 0.8, text: "80 %", role: "knob", label: "Drive" }],
                            "Distortion");
  assert.deepEqual(out.set, ["Dist_Drv"]);
  assert.equal(live.value(DEV0, "Dist_Drv"), 0.8);
  assert.deepEqual(out.missing.map((v) => [v.effectLabel, v.word, v.text]), [["Distortion", "On/off", "On"]]);
  assert.equal(text.handSettings(out.missing), "Distortion: switch it on");
  assert.deepEqual(live.console, []);
});

test("no Serum: found is false, nothing reaches the console, and the message says what to do", () => {
  const { live, adapter } = adapterFor(SETS.noSerum());
  const r = adapter.find();
  assert.equal(r.found, false);
  assert.deepEqual(live.console, []);
  assert.equal(adapter.apply([{ name: "Dist Enable", value: 1 }]).set.length, 0);
  assert.match(text.noSerum(), /put SerumRNN after Serum/);
});

test("our own device (or another SerumRNN) is never taken for Serum", () => {
  const model = {
    tracks: [{ name: "Audio", devices: [thisDevice("SerumRNN (copy)"), thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  };
  const { adapter } = adapterFor(model);
  assert.equal(adapter.find().found, false);
});

test("missing knobs are listed by effect and make the Configure message; defaults are left alone", () => {
  const { adapter } = adapterFor(SETS.partial());
  const r = adapter.find();
  assert.equal(r.found, true);
  assert.deepEqual(r.missingNames, ["EQ Enable", "EQ FrqH", "EQ VolH", "Rev Enable", "VerbHiCt"]);
  assert.deepEqual(r.missing.map((g) => g.label), ["EQ", "Hall Reverb"]);
  assert.equal(r.leaveAtDefault.length, 24);
  assert.equal(text.configure(r.name, r.missing, r.leaveAtDefault),
               "Configure list: click Configure on Serum, touch these 5 knobs in Serum, then " +
               "choose Save as Default Configuration in the plugin's menu. " +
               "EQ: EQ Enable, EQ FrqH, EQ VolH; Hall Reverb: Rev Enable, VerbHiCt. " +
               "Leave the other 24 fixed knobs at Serum's default.");
  assert.match(text.configure("Serum", []), /every knob SerumRNN sets is configured/);
});

test("configuring more knobs is reported to the watcher, and the next find picks them up", () => {
  const { live, adapter } = adapterFor(SETS.partial());
  assert.equal(adapter.find().missingNames.length, 5);
  let calls = 0;
  assert.equal(adapter.watch(() => { calls++; }), true);
  const initial = calls;                 // Live reports the list once when observing starts
  live.configure(DEV0, ["EQ Enable"]);
  assert.equal(calls, initial + 1);
  assert.deepEqual(adapter.find().missingNames, ["EQ FrqH", "EQ VolH", "Rev Enable", "VerbHiCt"]);
  adapter.unwatch();
  live.configure(DEV0, ["EQ FrqH"]);
  assert.equal(calls, initial + 1, "no calls after unwatch");
  assert.deepEqual(live.console, []);
});

test("the fake refuses changes from inside a notification, as Live does", () => {
  const { live, adapter } = adapterFor(SETS.partial());
  adapter.find();
  adapter.watch(() => adapter.apply([{ name: "Dist Enable", value: 1 }], "inside"));
  assert.equal(live.value(DEV0, "Dist Enable"), 0, "not set");
  assert.match(live.console.join("\n"), /changes cannot be triggered by notifications/);
});

test("names match ignoring case, spaces and underscores", () => {
  const names = ALL_NAMES.map((n) => (n === "Dist_Drv" ? "dist drv" : n));
  const model = { tracks: [{ name: "T", devices: [serum(names), thisDevice()] }],
                  thisDevice: "live_set tracks 0 devices 1" };
  const { live, adapter } = adapterFor(model);
  assert.deepEqual(adapter.find().missingNames, []);
  adapter.apply([{ name: "Dist_Drv", value: 0.72 }]);
  assert.equal(live.value(DEV0, "dist drv"), 0.72);
});

test("apply sets values, clamps to 0..1, remembers the old ones; undo restores them", () => {
  const { live, adapter } = adapterFor(SETS.configured());
  adapter.find();
  live.param(DEV0, "Dist_Drv").value = 0.25;
  const r = adapter.apply([{ name: "Dist Enable", value: 1 }, { name: "Dist_Drv", value: 0.72 },
                           { name: "Dist_Wet", value: 1.3 }], "Distortion");
  assert.deepEqual(r.set, ["Dist Enable", "Dist_Drv", "Dist_Wet"]);
  assert.deepEqual(r.missing, []);
  assert.equal(live.value(DEV0, "Dist Enable"), 1);
  assert.equal(live.value(DEV0, "Dist_Drv"), 0.72);
  assert.equal(live.value(DEV0, "Dist_Wet"), 1);          // clamped, not an error
  const u = adapter.undo();
  assert.deepEqual(u, { label: "Distortion", restored: 3 });
  assert.equal(live.value(DEV0, "Dist Enable"), 0);
  assert.equal(live.value(DEV0, "Dist_Drv"), 0.25);
  assert.equal(live.value(DEV0, "Dist_Wet"), 0);
  assert.equal(adapter.undo(), null);
  assert.deepEqual(live.console, []);
});

test("parameters with their own range and quantized ones (Serum as an Audio Unit)", () => {
  const { live, adapter } = adapterFor(SETS.au());
  adapter.find();
  const modes = spec.effects.find((e) => e.name === "distortion").knobs[0].serum_values;
  const r = adapter.apply([{ name: "Dist Enable", value: 1 }, { name: "Dist_Drv", value: 0.72 },
                           { name: "Dist_Mode", value: modes[11] }], "Distortion");
  assert.deepEqual(r.set, ["Dist Enable", "Dist_Drv", "Dist_Mode"]);
  assert.equal(live.value(DEV0, "Dist Enable"), 1, "a quantized switch: step 1 of off/on");
  assert.ok(Math.abs(live.value(DEV0, "Dist_Drv") - 72) < 1e-9, "0..100: 72");
  assert.equal(live.value(DEV0, "Dist_Mode"), 13, "the 12th mode is Serum's slot 13");
  assert.ok(Math.abs(adapter.read("Dist_Drv") - 0.72) < 1e-9);
  assert.equal(adapter.read("Dist_Mode"), 1);
  adapter.undo();
  assert.equal(live.value(DEV0, "Dist_Mode"), 0);
  assert.equal(live.value(DEV0, "Dist_Drv"), 0);
  assert.deepEqual(live.console, [], "every value was in range and on a step");
});

test("knobs already at their value are not set again (each set is an entry in Live's undo)", () => {
  const { live, adapter } = adapterFor(SETS.configured());
  adapter.find();
  live.param(DEV0, "Dist_Wet").value = 1;             // already what the step asks for
  adapter.apply([{ name: "Dist Enable", value: 1 }, { name: "Dist_Wet", value: 1 }], "a");
  assert.deepEqual(live.sets.map((x) => x[2]), [1], "only Dist Enable changed");
  adapter.apply([{ name: "Dist Enable", value: 1 }, { name: "Dist_Wet", value: 1 }], "again");
  assert.equal(live.sets.length, 1, "nothing to change, nothing set");
  adapter.undo();
  adapter.undo();
  assert.equal(live.value(DEV0, "Dist Enable"), 0);
  assert.equal(live.sets.length, 2, "undo changes only what the step changed");
});

test("resetAll undoes every step, newest first, back to the values before step 1", () => {
  const { live, adapter } = adapterFor(SETS.configured());
  adapter.find();
  adapter.apply([{ name: "Dist Enable", value: 1 }, { name: "Dist_Drv", value: 0.5 }], "a");
  adapter.apply([{ name: "Dist_Drv", value: 0.9 }, { name: "Rev Enable", value: 1 }], "b");
  assert.equal(live.value(DEV0, "Dist_Drv"), 0.9);
  assert.equal(adapter.resetAll(), 2);
  assert.equal(live.value(DEV0, "Dist_Drv"), 0);
  assert.equal(live.value(DEV0, "Dist Enable"), 0);
  assert.equal(live.value(DEV0, "Rev Enable"), 0);
  assert.equal(adapter.history.length, 0);
});

test("a knob not exposed is set by hand, unless it is a fixed knob at Serum's default", () => {
  const { live, adapter } = adapterFor(SETS.partial());
  adapter.find();
  const r = adapter.apply([{ name: "EQ Enable", value: 1, text: "On" },
                           { name: "EQ Q H", value: 0.4, text: "Q 1.2" },
                           { name: "EQ VolH", value: 0.9, text: "+9.6 dB" },
                           { name: "EQ FrqL", value: 0.333, text: "200 Hz" }], "EQ");
  assert.deepEqual(r.set, ["EQ Q H"]);
  assert.deepEqual(r.missing.map((v) => v.name), ["EQ Enable", "EQ VolH"]);
  assert.deepEqual(r.leftAtDefault, ["EQ FrqL"]);
  assert.equal(live.value(DEV0, "EQ Q H"), 0.4);
  assert.equal(text.setByHand(r.missing), "Not configured, set by hand: EQ Enable = On, EQ VolH = +9.6 dB");
  assert.deepEqual(live.console, []);
});

test("a fine-tune's entry: lastLabel names it, and undo puts back only its knobs", () => {
  const { live, adapter } = adapterFor(SETS.configured());
  adapter.find();
  assert.equal(adapter.lastLabel(), "");
  adapter.apply([{ name: "Rev Enable", value: 1 }, { name: "Verb Wet", value: 0.5 }], "Hall Reverb");
  const r = adapter.apply([{ name: "Verb Wet", value: 0.38, text: "38 %", label: "Mix", role: "knob",
                             before: 0.5, beforeText: "50 %", effectLabel: "Hall Reverb" }],
                          text.TUNE_LABEL);
  assert.deepEqual(r.set, ["Verb Wet"]);
  assert.equal(adapter.lastLabel(), "Fine-tune");
  assert.equal(live.value(DEV0, "Verb Wet"), 0.38);
  assert.deepEqual(adapter.undo(), { label: "Fine-tune", restored: 1 });
  assert.equal(live.value(DEV0, "Verb Wet"), 0.5);
  assert.equal(live.value(DEV0, "Rev Enable"), 1, "the effect stays on");
  assert.equal(adapter.lastLabel(), "Hall Reverb");
  assert.deepEqual(live.console, []);
});

test("a fine-tune's knob Live does not expose is set by hand, even back to Serum's default", () => {
  const { adapter } = adapterFor(SETS.required());
  adapter.find();
  const decay = { name: "Decay", value: 0.3499999940395355, text: "1.5 s", label: "Decay", role: "knob" };
  assert.deepEqual(adapter.apply([decay], "Hall Reverb").leftAtDefault, ["Decay"], "a step's fixed knob at default");
  const r = adapter.apply([Object.assign({ before: 0.6, beforeText: "3.1 s", effectLabel: "Hall Reverb" }, decay)],
                          text.TUNE_LABEL);
  assert.deepEqual(r.leftAtDefault, []);
  assert.deepEqual(r.missing.map((v) => [v.name, v.effectLabel, v.word, v.beforeText, v.text]),
                   [["Decay", "Hall Reverb", "Decay", "3.1 s", "1.5 s"]]);
  assert.equal(text.handSettings(r.missing), "Hall Reverb: Decay 3.1 s \u2192 1.5 s");
  // a knob the spec does not know keeps the server's effect label
  const other = adapter.apply([{ name: "Mystery", value: 0.2, text: "20 %", label: "Amount", role: "knob",
                                 before: 0.1, beforeText: "10 %", effectLabel: "Chorus" }], text.TUNE_LABEL);
  assert.equal(text.handSettings(other.missing), "Chorus: Amount 10 % \u2192 20 %");
});

test("a LiveAPI that throws (Serum removed mid-call) becomes a status, not an exception", () => {
  const { live, adapter, logs } = adapterFor(SETS.configured());
  adapter.find();
  live.LiveAPI.prototype.get = () => { throw new Error("object deleted"); };
  assert.doesNotThrow(() => adapter.find());
  assert.equal(adapter.find().found, false);
  assert.doesNotThrow(() => adapter.apply([{ name: "Dist Enable", value: 1 }]));
  assert.equal(adapter.read("Dist Enable"), null);
  assert.ok(logs.some((m) => /object deleted/.test(m)));
});
