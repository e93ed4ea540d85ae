// The Live adapter against fake Live sets: finding Serum, the Configure message, setting
// values, undo, and never a Live API error in Max's console.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { LiveAdapter, specParams, splitDevicePath } = require("../live_adapter.js");
const { FakeLiveSet, SETS, ALL_NAMES, serum, thisDevice } = require("./fake_live.js");
const text = require("../ui_text.js");
const spec = require("../serumrnn_spec.json");

function adapterFor(model) {
  const live = new FakeLiveSet(model);
  const logs = [];
  const adapter = new LiveAdapter(live.LiveAPI, spec, { log: (m) => logs.push(m) });
  return { live, adapter, logs };
}

test("the spec names every enable, sampled and fixed knob once", () => {
  const params = specParams(spec);
  const names = params.map((p) => p.name);
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(params.filter((p) => p.role === "enable").map((p) => p.name),
                   ["Comp Enable", "Dist Enable", "EQ Enable", "Phs Enable", "Rev Enable"]);
  for (const n of ["Dist_Mode", "Dist_Drv", "EQ FrqH", "Verb Wet", "Cmp_Thr", "CmpMBnd"]) {
    assert.ok(names.includes(n), n);
  }
  assert.equal(params.length, ALL_NAMES.length);
});

test("finds Serum right before the device", () => {
  const { live, adapter } = adapterFor(SETS.configured());
  const r = adapter.find();
  assert.equal(r.found, true);
  assert.equal(r.name, "Serum");
  assert.deepEqual(r.missingNames, []);
  assert.equal(adapter.serum.path, "live_set tracks 0 devices 0");
  assert.deepEqual(live.console, []);
});

test("finds Serum by name when another device sits between", () => {
  const { live, adapter } = adapterFor(SETS.serumEarlier());
  const r = adapter.find();
  assert.equal(r.found, true);
  assert.equal(r.name, "Serum (lead)");
  assert.equal(adapter.serum.path, "live_set tracks 0 devices 0");
  assert.deepEqual(live.console, []);
});

test("finds Serum inside a rack chain", () => {
  const model = {
    tracks: [{ name: "Lead", devices: [{
      name: "Instrument Rack", class_name: "InstrumentGroupDevice",
      class_display_name: "Instrument Rack", parameters: [],
      chains: [{ name: "Chain", devices: [serum(ALL_NAMES, { name: "Serum 2" }), thisDevice()] }],
    }] }],
    thisDevice: "live_set tracks 0 devices 0 chains 0 devices 1",
  };
  const { adapter } = adapterFor(model);
  const r = adapter.find();
  assert.equal(r.found, true);
  assert.equal(adapter.serum.path, "live_set tracks 0 devices 0 chains 0 devices 0");
  assert.deepEqual(splitDevicePath('"live_set tracks 3 devices 12"'),
                   { container: "live_set tracks 3", index: 12 });
});

test("no Serum: found is false, nothing reaches the console, and the message says what to do", () => {
  const { live, adapter } = adapterFor(SETS.noSerum());
  const r = adapter.find();
  assert.equal(r.found, false);
  assert.deepEqual(live.console, []);
  assert.equal(adapter.apply([{ name: "Dist Enable", value: 1 }]).set.length, 0);
  assert.match(text.noSerum(), /put SerumRNN right after Serum/);
});

test("our own device (or another SerumRNN) is never taken for Serum", () => {
  const model = {
    tracks: [{ name: "Audio", devices: [
      Object.assign(thisDevice(), { name: "SerumRNN (copy)" }), thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  };
  const { adapter } = adapterFor(model);
  assert.equal(adapter.find().found, false);
});

test("missing knobs are listed by effect and make the Configure message", () => {
  const { adapter } = adapterFor(SETS.partial());
  const r = adapter.find();
  assert.equal(r.found, true);
  assert.deepEqual(r.missingNames, ["EQ Enable", "EQ FrqH", "EQ VolH", "VerbSize", "Decay"]);
  assert.deepEqual(r.missing.map((g) => g.label), ["EQ", "Hall Reverb"]);
  const msg = text.configure(r.name, r.missing);
  assert.equal(msg, "Click Configure on Serum, then touch these knobs in Serum. " +
               "EQ: EQ Enable, EQ FrqH, EQ VolH; Hall Reverb: VerbSize, Decay");
  assert.match(text.configure("Serum", []), /every knob SerumRNN sets is configured/);
});

test("configuring more knobs later is picked up by the next find", () => {
  const { live, adapter } = adapterFor(SETS.partial());
  assert.equal(adapter.find().missingNames.length, 5);
  const dev = live.device("live_set tracks 0 devices 0");
  dev.parameters.push({ name: "EQ Enable", value: 0, min: 0, max: 1 });
  assert.deepEqual(adapter.find().missingNames, ["EQ FrqH", "EQ VolH", "VerbSize", "Decay"]);
});

test("names match ignoring case, spaces and underscores", () => {
  const names = ALL_NAMES.map((n) => (n === "Dist_Drv" ? "dist drv" : n));
  const model = { tracks: [{ name: "T", devices: [serum(names), thisDevice()] }],
                  thisDevice: "live_set tracks 0 devices 1" };
  const { live, adapter } = adapterFor(model);
  assert.deepEqual(adapter.find().missingNames, []);
  adapter.apply([{ name: "Dist_Drv", value: 0.72 }]);
  assert.equal(live.value("live_set tracks 0 devices 0", "dist drv"), 0.72);
});

test("apply sets values, clamps to the range, remembers the old ones; undo restores them", () => {
  const { live, adapter } = adapterFor(SETS.configured());
  adapter.find();
  const dev = "live_set tracks 0 devices 0";
  live.device(dev).parameters.find((p) => p.name === "Dist_Drv").value = 0.25;
  const r = adapter.apply([{ name: "Dist Enable", value: 1 }, { name: "Dist_Drv", value: 0.72 },
                           { name: "Dist_Wet", value: 1.3 }], "Distortion");
  assert.deepEqual(r.set, ["Dist Enable", "Dist_Drv", "Dist_Wet"]);
  assert.deepEqual(r.missing, []);
  assert.equal(live.value(dev, "Dist Enable"), 1);
  assert.equal(live.value(dev, "Dist_Drv"), 0.72);
  assert.equal(live.value(dev, "Dist_Wet"), 1);          // clamped to max, not an error
  const u = adapter.undo();
  assert.deepEqual(u, { label: "Distortion", restored: 3 });
  assert.equal(live.value(dev, "Dist Enable"), 0);
  assert.equal(live.value(dev, "Dist_Drv"), 0.25);
  assert.equal(live.value(dev, "Dist_Wet"), 0);
  assert.equal(adapter.undo(), null);
  assert.deepEqual(live.console, []);
});

test("resetAll undoes every step, newest first, back to the values before step 1", () => {
  const { live, adapter } = adapterFor(SETS.configured());
  adapter.find();
  const dev = "live_set tracks 0 devices 0";
  adapter.apply([{ name: "Dist Enable", value: 1 }, { name: "Dist_Drv", value: 0.5 }], "a");
  adapter.apply([{ name: "Dist_Drv", value: 0.9 }, { name: "Rev Enable", value: 1 }], "b");
  assert.equal(live.value(dev, "Dist_Drv"), 0.9);
  assert.equal(adapter.resetAll(), 2);
  assert.equal(live.value(dev, "Dist_Drv"), 0);
  assert.equal(live.value(dev, "Dist Enable"), 0);
  assert.equal(live.value(dev, "Rev Enable"), 0);
  assert.equal(adapter.history.length, 0);
});

test("a parameter Live does not expose is reported, the rest are still set", () => {
  const { live, adapter } = adapterFor(SETS.partial());
  adapter.find();
  const r = adapter.apply([{ name: "EQ Enable", value: 1, text: "On" },
                           { name: "EQ Q H", value: 0.4, text: "Q 1.2" },
                           { name: "EQ VolH", value: 0.9, text: "+9.6 dB" }], "EQ");
  assert.deepEqual(r.set, ["EQ Q H"]);
  assert.deepEqual(r.missing.map((v) => v.name), ["EQ Enable", "EQ VolH"]);
  assert.equal(live.value("live_set tracks 0 devices 0", "EQ Q H"), 0.4);
  assert.equal(text.setByHand(r.missing), "Not configured, set by hand: EQ Enable = On, EQ VolH = +9.6 dB");
  assert.deepEqual(live.console, []);
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
