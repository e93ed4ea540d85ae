// A fake of Max's LiveAPI that replays a Live set held in plain objects, so the device's
// Live code runs under node. It follows what LiveAPI does in Max: paths with spaces
// ("live_set tracks 0 devices 1"), `path` quoted, id 0 for nothing there, get() returning
// arrays, parameters starting with "Device On". What would reach Max's console (a call on
// a dead object, a value out of range) is recorded in `console` so a test can insist that
// nothing did.
"use strict";

const spec = require("../serumrnn_spec.json");
const { specParams } = require("../live_adapter.js");

function param(name, value) {
  return { name, value: value === undefined ? 0 : value, min: 0, max: 1 };
}

// A plugin device named like Serum exposing `names` (Serum parameter names) after "Device On".
function serum(names, opts) {
  const o = opts || {};
  return {
    name: o.name || "Serum", class_name: o.class_name || "PluginDevice",
    class_display_name: o.class_display_name || "Serum",
    parameters: [param("Device On", 1)].concat(names.map((n) => param(n, o.value || 0))),
  };
}

function thisDevice() {
  return { name: "SerumRNN", class_name: "MxDeviceAudioEffect",
           class_display_name: "Max Audio Effect", parameters: [param("Device On", 1)] };
}

const ALL_NAMES = specParams(spec).map((p) => p.name);

// Live sets the tests replay. Each returns {tracks, thisDevice}.
const SETS = {
  // Serum with every knob the device sets configured, SerumRNN right after it.
  configured: () => ({
    tracks: [{ name: "Lead", devices: [serum(ALL_NAMES), thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // Serum with some knobs not configured (the EQ's and the reverb's fixed knobs).
  partial: () => {
    const skip = new Set(["EQ VolH", "EQ FrqH", "EQ Enable", "VerbSize", "Decay"]);
    return {
      tracks: [{ name: "Lead", devices: [serum(ALL_NAMES.filter((n) => !skip.has(n))),
                                         thisDevice()] }],
      thisDevice: "live_set tracks 0 devices 1",
    };
  },
  // No Serum on the track: a Live device before ours.
  noSerum: () => ({
    tracks: [{ name: "Drums", devices: [
      { name: "EQ Eight", class_name: "Eq8", class_display_name: "EQ Eight",
        parameters: [param("Device On", 1), param("1 Frequency A", 0.3)] },
      thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // Serum further up the chain, a Live effect between it and SerumRNN.
  serumEarlier: () => ({
    tracks: [{ name: "Lead", devices: [
      serum(ALL_NAMES, { name: "Serum (lead)" }),
      { name: "Utility", class_name: "StereoGain", class_display_name: "Utility",
        parameters: [param("Device On", 1)] },
      thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 2",
  }),
};

class FakeLiveSet {
  constructor(model) {
    this.model = model;
    this.console = [];       // what Max would have printed
    this.sets = [];          // [path, prop, value] of every set() that took effect
    this.ids = new Map();
    this.nextId = 1;
    this.root = { tracks: model.tracks };
    const live = this;
    this.LiveAPI = function LiveAPI(a, b) {
      this.live = live;
      this.goto(typeof a === "function" || a === null || a === undefined ? b : a);
    };
    this.LiveAPI.prototype = Object.create(FakeApiPrototype);
  }

  idOf(obj) {
    if (!this.ids.has(obj)) this.ids.set(obj, this.nextId++);
    return this.ids.get(obj);
  }

  resolve(path) {
    let p = String(path || "").replace(/^"|"$/g, "").trim();
    if (p === "this_device") p = this.model.thisDevice;
    const t = p.split(/\s+/);
    if (t[0] !== "live_set") return null;
    let obj = this.root;
    for (let i = 1; i < t.length; i += 2) {
      const list = obj[t[i]];
      const n = Number(t[i + 1]);
      if (!Array.isArray(list) || !Number.isInteger(n) || !list[n]) return null;
      obj = list[n];
    }
    return { obj, path: p };
  }

  device(path) {
    return this.resolve(path).obj;
  }

  value(devicePath, name) {
    const p = this.device(devicePath).parameters.find((x) => x.name === name);
    return p ? p.value : undefined;
  }
}

const FakeApiPrototype = {
  goto(path) {
    const r = this.live.resolve(path);
    this.obj = r ? r.obj : null;
    this.unquotedpath = r ? r.path : "";
    this.path = r ? '"' + r.path + '"' : "";
    this.id = r ? String(this.live.idOf(r.obj)) : "0";
  },
  get(prop) {
    if (!this.obj) {
      this.live.console.push("get " + prop + ": no valid object");
      return [];
    }
    const v = this.obj[prop];
    if (Array.isArray(v)) return v.flatMap((o) => ["id", this.live.idOf(o)]);
    if (v === undefined) {
      this.live.console.push("get: " + prop + " is not a property of " + this.unquotedpath);
      return [];
    }
    return [v];
  },
  getcount(prop) {
    if (!this.obj) {
      this.live.console.push("getcount " + prop + ": no valid object");
      return 0;
    }
    return Array.isArray(this.obj[prop]) ? this.obj[prop].length : 0;
  },
  set(prop, value) {
    if (!this.obj || !(prop in this.obj)) {
      this.live.console.push("set " + prop + ": no valid object or property");
      return;
    }
    if (prop === "value" && (value < this.obj.min || value > this.obj.max)) {
      this.live.console.push("set value: " + value + " out of range");
      return;
    }
    this.obj[prop] = value;
    this.live.sets.push([this.unquotedpath, prop, value]);
  },
};

module.exports = { FakeLiveSet, SETS, ALL_NAMES, serum, param, thisDevice };
