// The one module that touches Live's object model (LiveAPI): find Serum on this device's
// track, read and set its parameters by Serum's names, remember values for undo, and say
// which of the spec's knobs Live does not expose yet ("Configure").
//
// The LiveAPI constructor is injected, so node tests hand in a fake Live set. Nothing here
// throws: Max prints an uncaught error to its console, and a producer should see a status
// line instead. ES5 only: Max's js object runs an old JavaScript.

// Every Serum parameter the device may set, from the spec JSON (serumrnn_spec.json):
// [{name, effect, label, role}] with role "enable", "knob" or "fixed".
function specParams(spec) {
  var out = [];
  var effects = (spec && spec.effects) || [];
  for (var i = 0; i < effects.length; i++) {
    var e = effects[i], j;
    out.push({ name: e.enable.serum_name, effect: e.name, label: e.label, role: "enable" });
    for (j = 0; j < e.knobs.length; j++) {
      out.push({ name: e.knobs[j].serum_name, effect: e.name, label: e.label, role: "knob" });
    }
    for (j = 0; j < (e.fixed || []).length; j++) {
      out.push({ name: e.fixed[j].serum_name, effect: e.name, label: e.label, role: "fixed" });
    }
  }
  return out;
}

// Live shows a plugin's parameter names as the plugin reports them; match exactly first,
// then ignoring case, spaces and underscores (hosts differ in how they trim names).
function looseName(name) {
  return String(name).toLowerCase().replace(/[\s_]+/g, "");
}

// "Serum", "Serum 2", "Serum (lead)"; not this device ("SerumRNN") or another copy of it.
function isSerumName(name) {
  var s = String(name || "");
  return /serum/i.test(s) && !/serumrnn/i.test(s);
}

function unquote(path) {
  return String(path).replace(/^"|"$/g, "");
}

// "live_set tracks 2 devices 1" -> {container: "live_set tracks 2", index: 1}; the
// container may be a rack chain ("... devices 0 chains 0") or another kind of track.
function splitDevicePath(path) {
  var m = /^(.*) devices (\d+)$/.exec(unquote(path));
  return m ? { container: m[1], index: Number(m[2]) } : null;
}

function trackOf(path) {
  var m = /^(live_set (?:tracks|return_tracks) \d+|live_set master_track)/.exec(unquote(path));
  return m ? m[1] : null;
}

function LiveAdapter(LiveAPI, spec, options) {
  this.LiveAPI = LiveAPI;
  this.params = specParams(spec);
  this.log = (options && options.log) || function () {};
  this.serum = null;      // {path, name, index: {serum name -> parameter path}, loose: {...}}
  this.history = [];      // [{label, values: [{name, value}]}], newest last
  this.cursor = null;
}

// A LiveAPI object at `path`, or null when Live has nothing there (id 0).
LiveAdapter.prototype.at = function (path) {
  if (!this.cursor) this.cursor = new this.LiveAPI(path);
  else this.cursor.goto(path);
  return Number(this.cursor.id) === 0 ? null : this.cursor;
};

LiveAdapter.prototype.first = function (path, prop) {
  var api = this.at(path);
  if (!api) return null;
  var v = api.get(prop);
  return v && v.length ? v[0] : null;
};

LiveAdapter.prototype.count = function (path, child) {
  var api = this.at(path);
  return api ? Number(api.getcount(child)) || 0 : 0;
};

// Where this device sits: the device before it if that is a plugin (or named like Serum),
// else the first device on the track whose name contains "Serum".
LiveAdapter.prototype.locate = function () {
  var me = this.at("this_device");
  if (!me) return null;
  var here = splitDevicePath(me.unquotedpath || me.path);
  if (!here) return null;
  if (here.index > 0) {
    var prev = here.container + " devices " + (here.index - 1);
    var cls = String(this.first(prev, "class_name") || "");
    var prevName = this.first(prev, "name");
    if (/PluginDevice$/.test(cls) || isSerumName(prevName) ||
        isSerumName(this.first(prev, "class_display_name"))) {
      return { path: prev, name: String(prevName) };
    }
  }
  var places = [here.container];
  var track = trackOf(here.container);
  if (track && track !== here.container) places.push(track);
  for (var p = 0; p < places.length; p++) {
    var n = this.count(places[p], "devices");
    for (var i = 0; i < n; i++) {
      var path = places[p] + " devices " + i;
      if (path === here.container + " devices " + here.index) continue;   // this device
      var name = this.first(path, "name");
      if (isSerumName(name) || isSerumName(this.first(path, "class_display_name"))) {
        return { path: path, name: String(name) };
      }
    }
  }
  return null;
};

// Find Serum and index its exposed parameters. Returns {found, name, missing (grouped by
// effect), missingNames, error}. Call it again after the producer configures more knobs.
LiveAdapter.prototype.find = function () {
  try {
    var where = this.locate();
    if (!where) {
      this.serum = null;
      return { found: false, missing: [], missingNames: [] };
    }
    var index = {}, loose = {};
    var n = this.count(where.path, "parameters");
    for (var i = 0; i < n; i++) {
      var ppath = where.path + " parameters " + i;
      var pname = this.first(ppath, "name");
      if (pname === null) continue;
      index[String(pname)] = ppath;
      loose[looseName(pname)] = ppath;
    }
    this.serum = { path: where.path, name: where.name, index: index, loose: loose };
    var missing = this.missing();
    return { found: true, name: where.name, missing: missing.grouped,
             missingNames: missing.names };
  } catch (e) {
    this.serum = null;
    this.log("Live API: " + e);
    return { found: false, missing: [], missingNames: [], error: String(e) };
  }
};

LiveAdapter.prototype.paramPath = function (name) {
  if (!this.serum) return null;
  return this.serum.index[name] || this.serum.loose[looseName(name)] || null;
};

// The spec's parameters Live does not expose on the found Serum, in spec order, also
// grouped by effect for the Configure message.
LiveAdapter.prototype.missing = function () {
  var names = [], grouped = [], byEffect = {};
  for (var i = 0; i < this.params.length; i++) {
    var p = this.params[i];
    if (this.paramPath(p.name)) continue;
    names.push(p.name);
    if (!byEffect[p.effect]) {
      byEffect[p.effect] = { effect: p.effect, label: p.label, names: [] };
      grouped.push(byEffect[p.effect]);
    }
    byEffect[p.effect].names.push(p.name);
  }
  return { names: names, grouped: grouped };
};

LiveAdapter.prototype.read = function (name) {
  try {
    var path = this.paramPath(name);
    if (!path) return null;
    var v = this.first(path, "value");
    return v === null ? null : Number(v);
  } catch (e) {
    this.log("Live API read " + name + ": " + e);
    return null;
  }
};

// Set one parameter inside its range; false when Live has no such parameter.
LiveAdapter.prototype.write = function (name, value) {
  var path = this.paramPath(name);
  var api = path ? this.at(path) : null;
  if (!api) return false;
  var lo = Number(api.get("min")[0]), hi = Number(api.get("max")[0]);
  var v = Number(value);
  if (isFinite(lo) && v < lo) v = lo;
  if (isFinite(hi) && v > hi) v = hi;
  api.set("value", v);
  return true;
};

// Apply a step's values ([{name, value, ...}]); the values from before are remembered
// for undo. Returns {set: [names], missing: [values Live does not expose]}.
LiveAdapter.prototype.apply = function (values, label) {
  var set = [], missing = [], before = [];
  try {
    for (var i = 0; i < values.length; i++) {
      var old = this.read(values[i].name);
      if (old === null || !this.write(values[i].name, values[i].value)) {
        missing.push(values[i]);
        continue;
      }
      before.push({ name: values[i].name, value: old });
      set.push(values[i].name);
    }
  } catch (e) {
    this.log("Live API apply: " + e);
  }
  this.history.push({ label: label || "", values: before });
  return { set: set, missing: missing };
};

// Put back the values from before the newest applied step; null when there is none.
LiveAdapter.prototype.undo = function () {
  var entry = this.history.pop();
  if (!entry) return null;
  var restored = 0;
  try {
    for (var i = entry.values.length - 1; i >= 0; i--) {
      if (this.write(entry.values[i].name, entry.values[i].value)) restored++;
    }
  } catch (e) {
    this.log("Live API undo: " + e);
  }
  return { label: entry.label, restored: restored };
};

// Undo every remembered step: Serum as it was before the first one. Returns how many.
LiveAdapter.prototype.resetAll = function () {
  var n = 0;
  while (this.history.length) {
    this.undo();
    n++;
  }
  return n;
};

// Forget the undo history (a new target starts from the sound as it is now).
LiveAdapter.prototype.clearHistory = function () {
  this.history = [];
};

var api = {
  LiveAdapter: LiveAdapter, specParams: specParams, splitDevicePath: splitDevicePath,
  looseName: looseName
};
if (typeof exports !== "undefined") { for (var key in api) exports[key] = api[key]; }
