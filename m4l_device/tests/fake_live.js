// A fake of Max's LiveAPI that replays a Live set held in plain objects, as strict as
// Live, so the device's Live code runs under node. What it copies from the real thing
// (Cycling '74's "The LiveAPI Object", the Live Object Model, live.observer's reference):
//   - paths with spaces ("live_set tracks 0 devices 1"), `path` quoted, `unquotedpath`,
//     `id` a string, "0" for nothing there;
//   - get() returns an array; a name with spaces comes back in double quotes, as Max
//     hands symbols over (published devices strip them: Knobbler4's utils.dequote);
//   - parameters start with "Device On"; they have min and max (not always 0..1: an
//     Audio Unit reports its own range), is_quantized and value_items;
//   - set("value") outside [min, max], or a fraction on a quantized parameter, is an
//     error, not a clamp;
//   - a plugin's parameter list grows when the producer clicks Configure and touches a
//     knob, and observers of "parameters" are notified;
//   - racks: can_have_chains, chains, devices inside chains, and macro parameters (which
//     the fake refuses to set: stricter than Live, to catch the device touching a rack);
//   - Serum 2: only proxy slots "FX Main Param N" (serum2());
//   - nothing may change the Live set (set, or point an object elsewhere) from inside a
//     notification.
// What would reach Max's console is recorded in `console` so a test can insist that
// nothing did.
"use strict";

const spec = require("../serumrnn_spec.json");
const { specParams } = require("../live_adapter.js");

// Max's form of a symbol in a list: quoted when it has a space.
function maxSymbol(s) {
  const t = String(s);
  return /\s/.test(t) ? '"' + t + '"' : t;
}

function param(name, value, opts) {
  const o = opts || {};
  return Object.assign({ name, value: value === undefined ? 0 : value, min: 0, max: 1,
                         is_quantized: 0, value_items: [] }, o);
}

// A parameter the way an Audio Unit may report it: its own range, or quantized steps.
function auParam(name, value01) {
  if (name === "Dist_Mode") {
    const items = ["Tube", "SoftClip", "HardClip", "Diode 1", "Diode 2", "Lin.Fold", "Sin Fold",
                   "Zero-Square", "Downsample", "X-Shaper", "X-Shaper (Asym)", "Rectify",
                   "Slot 12", "Slot 13"];
    return param(name, Math.round((value01 || 0) * 13), { min: 0, max: 13, is_quantized: 1,
                                                          value_items: items });
  }
  if (/Enable$/.test(name) || name === "CmpMBnd") {
    return param(name, value01 || 0, { is_quantized: 1, value_items: ["off", "on"] });
  }
  return param(name, (value01 || 0) * 100, { min: 0, max: 100 });
}

// A plugin device named like Serum exposing `names` (Serum parameter names) after "Device On".
function serum(names, opts) {
  const o = opts || {};
  const make = o.au ? auParam : (n) => param(n, o.value || 0);
  return {
    name: o.name || "Serum", class_name: o.class_name || (o.au ? "AuPluginDevice" : "PluginDevice"),
    class_display_name: o.class_display_name || "Serum", can_have_chains: 0,
    parameters: [param("Device On", 1)].concat(names.map((n) => make(n))),
  };
}

// Another plugin (OTT, say) with its own parameters.
function plugin(name, paramNames) {
  return { name, class_name: "PluginDevice", class_display_name: name, can_have_chains: 0,
           parameters: [param("Device On", 1)].concat((paramNames || []).map((n) => param(n, 0.5))) };
}

function liveDevice(name, className) {
  return { name, class_name: className, class_display_name: name, can_have_chains: 0,
           parameters: [param("Device On", 1)] };
}

// A rack: its parameters are "Device On" and its eight macros; its chains hold devices.
function rack(name, chains) {
  const macros = [];
  for (let i = 1; i <= 8; i++) macros.push(param("Macro " + i, 0, { min: 0, max: 127 }));
  return { name, class_name: "InstrumentGroupDevice", class_display_name: "Instrument Rack",
           can_have_chains: 1, parameters: [param("Device On", 1)].concat(macros),
           chains: chains.map((devices, i) => ({ name: "Chain " + (i + 1), devices })) };
}

// Serum 2 as hosts see it (public reverse-engineering, docs/device-facts.md): no effect
// switches, menus or knobs by name, only proxy slots "FX Main Param 1".."16". A slot the
// producer assigned inside Serum 2 is modelled with the assigned knob's Serum name.
function serum2(assigned, opts) {
  const o = opts || {};
  const slots = [];
  for (let i = 1; i <= 16; i++) {
    const a = assigned && assigned[i];
    slots.push(param(a || "FX Main Param " + i, 0));
  }
  return { name: o.name || "Serum 2", class_name: "PluginDevice", class_display_name: "Serum 2",
           can_have_chains: 0, parameters: [param("Device On", 1)].concat(slots) };
}

function thisDevice(name) {
  return liveDevice(name || "SerumRNN", "MxDeviceAudioEffect");
}

const PARAMS = specParams(spec);
const ALL_NAMES = PARAMS.map((p) => p.name);
// What a producer configures when following the panel: everything required.
const REQUIRED_NAMES = PARAMS.filter((p) => p.required).map((p) => p.name);

// Live sets the tests replay. Each returns {tracks, thisDevice}.
const SETS = {
  // Serum with every knob the device may set configured, SerumRNN right after it.
  configured: () => ({
    tracks: [{ name: "Lead", devices: [serum(ALL_NAMES), thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // Only what the panel asks for: the fixed knobs at Serum's default are left alone.
  required: () => ({
    tracks: [{ name: "Lead", devices: [serum(REQUIRED_NAMES), thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // Serum with some required knobs not configured (the EQ's and a reverb switch).
  partial: () => {
    const skip = new Set(["EQ VolH", "EQ FrqH", "EQ Enable", "VerbHiCt", "Rev Enable"]);
    return {
      tracks: [{ name: "Lead", devices: [serum(REQUIRED_NAMES.filter((n) => !skip.has(n))),
                                         thisDevice()] }],
      thisDevice: "live_set tracks 0 devices 1",
    };
  },
  // Serum freshly loaded: only "Device On" (Serum has too many parameters for Live to
  // show them before Configure).
  unconfigured: () => ({
    tracks: [{ name: "Lead", devices: [serum([]), thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // Serum as an Audio Unit: ranges of 0..100 and quantized switches and modes.
  au: () => ({
    tracks: [{ name: "Lead", devices: [serum(REQUIRED_NAMES, { au: true }), thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // No Serum on the track: a Live device before ours.
  noSerum: () => ({
    tracks: [{ name: "Drums", devices: [liveDevice("EQ Eight", "Eq8"), thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // Serum further up the chain, a Live effect between it and SerumRNN.
  serumEarlier: () => ({
    tracks: [{ name: "Lead", devices: [serum(ALL_NAMES, { name: "Serum (lead)" }),
                                       liveDevice("Utility", "StereoGain"), thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 2",
  }),
  // Serum -> OTT -> SerumRNN: a non-Serum plugin right before the device.
  ottBetween: () => ({
    tracks: [{ name: "Lead", devices: [serum(REQUIRED_NAMES),
                                       plugin("OTT", ["Depth", "Time", "In Gain", "Out Gain"]),
                                       thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 2",
  }),
  // A renamed Serum whose plugin name the host does not show: found by its parameters.
  renamedSerum: () => ({
    tracks: [{ name: "Lead", devices: [serum(REQUIRED_NAMES, { name: "My Lead",
                                                               class_display_name: "My Lead" }),
                                       thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // A plugin that is not Serum right before the device, and no Serum anywhere.
  otherPluginOnly: () => ({
    tracks: [{ name: "Pad", devices: [plugin("Vital", ["Osc 1 Level", "Filter Cutoff"]),
                                      thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // Serum inside an Instrument Rack, SerumRNN after the rack on the track.
  serumInRack: () => ({
    tracks: [{ name: "Lead", devices: [rack("Lead Rack", [[serum(REQUIRED_NAMES, { name: "Serum 2" })]]),
                                       thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // A rack named after a Serum preset, Serum inside it, SerumRNN after the rack.
  serumNamedRack: () => ({
    tracks: [{ name: "Bass", devices: [rack("Serum Growl Bass", [[serum(REQUIRED_NAMES, { name: "Serum" })]]),
                                       thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // A rack named after a Serum preset holding another synth: no Serum at all.
  serumNamedRackOnly: () => ({
    tracks: [{ name: "Bass", devices: [rack("Serum Growl Bass", [[plugin("Vital", ["Osc 1 Level"])]]),
                                       thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // Serum 2, no slot assigned.
  serum2: () => ({
    tracks: [{ name: "Lead", devices: [serum2({}), thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // Serum 2 with two slots assigned in Serum 2 (Distortion's Drive and the reverb's mix).
  serum2Assigned: () => ({
    tracks: [{ name: "Lead", devices: [serum2({ 1: "Dist_Drv", 2: "Verb Wet" }), thisDevice()] }],
    thisDevice: "live_set tracks 0 devices 1",
  }),
  // Both inside one rack chain.
  bothInChain: () => ({
    tracks: [{ name: "Lead", devices: [rack("Lead Rack", [[liveDevice("Saturator", "Saturator")],
                                                          [serum(REQUIRED_NAMES), thisDevice()]])] }],
    thisDevice: "live_set tracks 0 devices 0 chains 1 devices 1",
  }),
};

class FakeLiveSet {
  constructor(model) {
    this.model = model;
    this.console = [];       // what Max would have printed
    this.sets = [];          // [path, prop, value] of every set() that took effect
    this.ids = new Map();
    this.byId = new Map();
    this.nextId = 1;
    this.root = { tracks: model.tracks };
    this.observers = [];     // LiveAPI objects with a property
    this.notifying = 0;      // >0 while a notification is delivered
    const live = this;
    this.LiveAPI = function LiveAPI(a, b) {
      this.live = live;
      this.callback = typeof a === "function" ? a : null;
      this.observed = "";
      this.moveTo(typeof a === "function" || a === null || a === undefined ? b : a, "new LiveAPI");
    };
    this.LiveAPI.prototype = Object.create(FakeApiPrototype);
  }

  idOf(obj) {
    if (!this.ids.has(obj)) {
      this.ids.set(obj, this.nextId);
      this.byId.set(this.nextId, obj);
      this.nextId++;
    }
    return this.ids.get(obj);
  }

  // [object, canonical path] for a path or "id N"; null when nothing is there.
  resolve(path) {
    let p = String(path === undefined || path === null ? "" : path).replace(/^"|"$/g, "").trim();
    const idm = /^id (\d+)$/.exec(p);
    if (idm) {
      const obj = this.byId.get(Number(idm[1]));
      return obj ? { obj, path: this.pathOf(obj) } : null;
    }
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

  pathOf(target) {
    const walk = (obj, path) => {
      if (obj === target) return path;
      for (const key of ["tracks", "devices", "chains", "parameters"]) {
        const list = obj[key];
        if (!Array.isArray(list)) continue;
        for (let i = 0; i < list.length; i++) {
          const found = walk(list[i], path + " " + key + " " + i);
          if (found) return found;
        }
      }
      return null;
    };
    return walk(this.root, "live_set");
  }

  device(path) {
    return this.resolve(path).obj;
  }

  // The device a parameter belongs to.
  ownerOf(paramObj) {
    const walk = (obj) => {
      if (Array.isArray(obj.parameters) && obj.parameters.includes(paramObj)) return obj;
      for (const key of ["tracks", "devices", "chains"]) {
        for (const c of obj[key] || []) {
          const found = walk(c);
          if (found) return found;
        }
      }
      return null;
    };
    return walk(this.root);
  }

  param(devicePath, name) {
    return this.device(devicePath).parameters.find((x) => x.name === name);
  }

  value(devicePath, name) {
    const p = this.param(devicePath, name);
    return p ? p.value : undefined;
  }

  // Serum-normalized 0..1 of a parameter whatever its range (to compare with the spec).
  normalized(devicePath, name) {
    const p = this.param(devicePath, name);
    if (!p) return undefined;
    if (p.is_quantized && p.value_items.length > 1) return p.value / (p.value_items.length - 1);
    return (p.value - p.min) / (p.max - p.min);
  }

  // The producer clicks Configure and touches knobs: the plugin's list grows.
  configure(devicePath, names) {
    const dev = this.device(devicePath);
    for (const n of names) {
      if (!dev.parameters.some((x) => x.name === n)) dev.parameters.push(param(n, 0));
    }
    this.notify(dev, "parameters");
  }

  // Deliver a notification to every observer of `prop` on `obj`, as Live does.
  notify(obj, prop) {
    for (const api of this.observers.slice()) {
      if (api.obj === obj && api.observed === prop) this.deliver(api);
    }
  }

  deliver(api) {
    if (!api.callback) return;
    this.notifying++;
    try {
      api.callback.call(api, [api.observed].concat(api.get(api.observed)));
    } finally {
      this.notifying--;
    }
  }

  refuseInNotification(what) {
    if (!this.notifying) return false;
    this.console.push(what + ": changes cannot be triggered by notifications");
    return true;
  }
}

const FakeApiPrototype = {
  moveTo(path, what) {
    if (this.live.refuseInNotification(what)) return;
    const r = this.live.resolve(path);
    this.obj = r ? r.obj : null;
    this.unquotedpath = r ? r.path : "";
    this.path = r ? '"' + r.path + '"' : "";
    this._id = r ? String(this.live.idOf(r.obj)) : "0";
  },
  goto(path) {
    this.moveTo(path, "goto");
  },
  get id() { return this._id; },
  set id(v) { this.moveTo("id " + Number(v), "id"); },
  get property() { return this.observed; },
  set property(prop) {
    const live = this.live;
    live.observers = live.observers.filter((x) => x !== this);
    this.observed = String(prop || "");
    if (!this.observed || !this.obj) return;
    live.observers.push(this);
    live.deliver(this);     // setting the property reports its current value once
  },
  get(prop) {
    if (!this.obj) {
      this.live.console.push("get " + prop + ": no valid object");
      return [];
    }
    const v = this.obj[prop];
    if (prop === "value_items") return (v || []).map(maxSymbol);
    if (Array.isArray(v)) return v.flatMap((o) => ["id", this.live.idOf(o)]);
    if (v === undefined) {
      this.live.console.push("get: " + prop + " is not a property of " + this.unquotedpath);
      return [];
    }
    return [typeof v === "string" ? maxSymbol(v) : v];
  },
  getcount(prop) {
    if (!this.obj) {
      this.live.console.push("getcount " + prop + ": no valid object");
      return 0;
    }
    return Array.isArray(this.obj[prop]) ? this.obj[prop].length : 0;
  },
  set(prop, value) {
    if (this.live.refuseInNotification("set " + prop)) return;
    if (!this.obj || !(prop in this.obj)) {
      this.live.console.push("set " + prop + ": no valid object or property");
      return;
    }
    if (prop === "value") {
      const o = this.obj;
      const owner = this.live.ownerOf(o);
      if (owner && owner.can_have_chains) {
        // Live would take it; SerumRNN must never turn a rack's macros (they drive
        // whatever the rack's author mapped), so the fake refuses it to catch a slip.
        this.live.console.push("set value: " + o.name + " is a rack's parameter");
        return;
      }
      if (typeof value !== "number" || !isFinite(value) || value < o.min || value > o.max) {
        this.live.console.push("set value: " + value + " out of range [" + o.min + ", " + o.max + "]");
        return;
      }
      if (o.is_quantized && Math.round(value) !== value) {
        this.live.console.push("set value: " + value + " is not a step of a quantized parameter");
        return;
      }
    }
    this.obj[prop] = value;
    this.live.sets.push([this.unquotedpath, prop, value]);
    this.live.notify(this.obj, prop);
  },
};

module.exports = { FakeLiveSet, SETS, ALL_NAMES, REQUIRED_NAMES, PARAMS, serum, serum2, plugin, rack,
                   liveDevice, param, thisDevice, maxSymbol };
