// The one module that touches Live's object model (LiveAPI): find Serum on this device's
// track, read and set its parameters by Serum's names, remember values for undo, watch
// the plugin's parameter list, and say which of the spec's knobs Live does not expose yet
// ("Configure").
//
// The LiveAPI constructor is injected, so node tests hand in a fake Live set
// (tests/fake_live.js) that is as strict as Live. Nothing here throws: Max prints an
// uncaught error to its console, and a producer should see a status line instead.
// ES5 only: Max's js object runs an old JavaScript.
//
// Facts this relies on (Cycling '74, "The LiveAPI Object" and the Live Object Model):
// get() returns an array; a name with spaces may come back in double quotes (published
// devices strip them, e.g. zsteinkamp/m4l-Knobbler4 utils.dequote); id 0 means nothing is
// there; DeviceParameter has min, max, is_quantized and value_items, and a plugin's
// value is set in [min, max] (not always 0..1: an Audio Unit may report its own range);
// nothing may change the Live set from inside a notification (live.observer reference).

// Every Serum parameter the device may set, from the spec (serumrnn_spec.js):
// [{name, effect, label, word, role, value, atDefault, required}] with role "enable", "knob"
// or "fixed"; `label` is the effect's name and `word` the knob's, as Serum's FX tab shows
// them (for instruction mode). A fixed knob whose paper value is Serum's own default is not required: the
// device leaves it alone when Live does not expose it, and the producer need not
// configure it (they leave it at Serum's default).
function specParams(spec) {
  var out = [];
  var effects = (spec && spec.effects) || [];
  for (var i = 0; i < effects.length; i++) {
    var e = effects[i], j;
    out.push({ name: e.enable.serum_name, effect: e.name, label: e.label, word: "On/off",
               role: "enable", value: e.enable.value, atDefault: false, required: true });
    for (j = 0; j < e.knobs.length; j++) {
      out.push({ name: e.knobs[j].serum_name, effect: e.name, label: e.label,
                 word: e.knobs[j].label, role: "knob", value: null, atDefault: false,
                 required: true });
    }
    for (j = 0; j < (e.fixed || []).length; j++) {
      var f = e.fixed[j];
      out.push({ name: f.serum_name, effect: e.name, label: e.label, word: capital(f.name),
                 role: "fixed", value: f.value, atDefault: !!f.at_default,
                 required: !f.at_default });
    }
  }
  return out;
}

function capital(s) {
  s = String(s || "").replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// Why an empty spec is an error: with no parameters the Configure line would say
// "every knob is configured" while nothing is. Returns "" for a usable spec.
function specProblem(spec) {
  if (!spec || !spec.effects || !spec.effects.length) return "the spec lists no effects";
  for (var i = 0; i < spec.effects.length; i++) {
    var e = spec.effects[i];
    if (!e.enable || !e.enable.serum_name || !e.knobs || !e.knobs.length) {
      return "effect " + (e.name || i) + " has no enable switch or no knobs";
    }
  }
  return "";
}

// Values come over OSC as float32 (0.333 arrives as 0.33300000429...): a spec value and a
// sent one are the same within float32's precision on 0..1.
var SAME_VALUE = 1e-6;

// Live shows a plugin's parameter names as the plugin reports them; match exactly first,
// then ignoring case, spaces and underscores (hosts differ in how they trim names).
function looseName(name) {
  return String(name).toLowerCase().replace(/[\s_]+/g, "");
}

// A symbol as Max hands it over: quoted when it has spaces.
function dequote(value) {
  return String(value === undefined || value === null ? "" : value).replace(/^"(.*)"$/, "$1");
}

// "Serum", "Serum 2", "Serum (lead)"; not this device ("SerumRNN") or another copy of it.
// A name alone is not enough: racks are often named after Serum presets ("Serum Growl
// Bass"), so locate() also asks for a plugin class.
function isSerumName(name) {
  var s = dequote(name);
  return /serum/i.test(s) && !/serumrnn/i.test(s);
}

// Serum 2 shows hosts its effects only through generic proxy slots, "FX Main Param 1" to
// "FX Main Param N" (assigned inside Serum 2), and has no effect switches or menus for the
// host (docs/device-facts.md). A slot still carrying its generic name is not assigned.
var SERUM2_PROXY = /^FX Main Param \d+$/i;

// 2 for Serum 2 (by its name, or by proxy slots among its parameters), 1 for Serum.
function serumVersion(name, displayName, paramNames) {
  if (/serum\s*2/i.test(dequote(name)) || /serum\s*2/i.test(dequote(displayName))) return 2;
  for (var i = 0; i < paramNames.length; i++) {
    if (SERUM2_PROXY.test(dequote(paramNames[i]))) return 2;
  }
  return 1;
}

// "PluginDevice" (VST) and "AuPluginDevice" (Audio Unit) are Live's plugin classes.
function isPluginClass(cls) {
  return /PluginDevice$/.test(dequote(cls));
}

// "live_set tracks 2 devices 1" -> {container: "live_set tracks 2", index: 1}; the
// container may be a rack chain ("... devices 0 chains 0") or another kind of track.
function splitDevicePath(path) {
  var m = /^(.*) devices (\d+)$/.exec(dequote(path));
  return m ? { container: m[1], index: Number(m[2]) } : null;
}

function trackOf(path) {
  var m = /^(live_set (?:tracks|return_tracks) \d+|live_set master_track)/.exec(dequote(path));
  return m ? m[1] : null;
}

// How deep the search goes into racks (a rack in a rack in a rack).
var MAX_RACK_DEPTH = 3;

function LiveAdapter(LiveAPI, spec, options) {
  this.LiveAPI = LiveAPI;
  this.params = specParams(spec);
  this.byName = {};
  for (var i = 0; i < this.params.length; i++) this.byName[this.params[i].name] = this.params[i];
  this.log = (options && options.log) || function () {};
  this.serum = null;      // {path, name, id, index: {serum name -> parameter path}, loose: {...}}
  this.history = [];      // [{label, values: [{name, raw}]}], newest last
  this.cursor = null;
  this.watcher = null;    // a LiveAPI observing the plugin's parameter list
  this.watchedId = null;
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

LiveAdapter.prototype.text = function (path, prop) {
  var v = this.first(path, prop);
  return v === null ? "" : dequote(v);
};

LiveAdapter.prototype.count = function (path, child) {
  var api = this.at(path);
  return api ? Number(api.getcount(child)) || 0 : 0;
};

// Every device in `container` and, inside racks, in their chains: [{path, depth}], in
// Live's order.
LiveAdapter.prototype.devicesIn = function (container, depth, out) {
  var n = this.count(container, "devices");
  for (var i = 0; i < n; i++) {
    var path = container + " devices " + i;
    out.push(path);
    if (depth < MAX_RACK_DEPTH && Number(this.first(path, "can_have_chains")) === 1) {
      var chains = this.count(path, "chains");
      for (var c = 0; c < chains; c++) this.devicesIn(path + " chains " + c, depth + 1, out);
    }
  }
  return out;
};

// Whether the device at `path` exposes at least one of the spec's Serum names.
LiveAdapter.prototype.exposesSerumName = function (path) {
  var n = this.count(path, "parameters");
  for (var i = 0; i < n; i++) {
    var name = this.text(path + " parameters " + i, "name");
    if (this.byName[name]) return true;
    for (var k in this.byName) {
      if (Object.prototype.hasOwnProperty.call(this.byName, k) && looseName(k) === looseName(name)) return true;
    }
  }
  return false;
};

// Where Serum is: first a device named like Serum (its name or its class's name), the
// nearest one before this device, then any on the track (racks included); else the
// plugin just before this device, but only when it exposes a Serum parameter name from
// the spec (so Serum -> OTT -> SerumRNN never takes OTT for Serum, and a renamed Serum
// is still found by its parameters).
LiveAdapter.prototype.locate = function () {
  var me = this.at("this_device");
  if (!me) return null;
  var mine = dequote(me.unquotedpath || me.path);
  var here = splitDevicePath(mine);
  if (!here) return null;
  var order = [], seen = {}, i;
  for (i = here.index - 1; i >= 0; i--) order.push(here.container + " devices " + i);
  var track = trackOf(here.container) || here.container;
  var all = this.devicesIn(track, 0, []);
  if (track !== here.container) all = all.concat(this.devicesIn(here.container, 0, []));
  for (i = 0; i < all.length; i++) order.push(all[i]);
  for (i = 0; i < order.length; i++) {
    var path = order[i];
    if (seen[path] || path === mine || path.indexOf(mine + " ") === 0) continue;
    seen[path] = true;
    var name = this.text(path, "name");
    if ((isSerumName(name) || isSerumName(this.text(path, "class_display_name"))) &&
        isPluginClass(this.text(path, "class_name"))) {
      return { path: path, name: name };
    }
  }
  if (here.index > 0) {
    var prev = here.container + " devices " + (here.index - 1);
    if (isPluginClass(this.text(prev, "class_name")) && this.exposesSerumName(prev)) {
      return { path: prev, name: this.text(prev, "name") };
    }
  }
  return null;
};

// Find Serum and index its exposed parameters. Returns {found, name, missing (grouped by
// effect, required knobs only), missingNames, leaveAtDefault (fixed knobs not exposed
// whose value is Serum's default), error}. Called again whenever the parameter list
// changes (the producer configured more knobs).
LiveAdapter.prototype.find = function () {
  try {
    var where = this.locate();
    if (!where) {
      this.serum = null;
      return { found: false, missing: [], missingNames: [], leaveAtDefault: [] };
    }
    var index = {}, loose = {}, names = [];
    var n = this.count(where.path, "parameters");
    for (var i = 0; i < n; i++) {
      var ppath = where.path + " parameters " + i;
      var api = this.at(ppath);
      if (!api) continue;
      var pname = dequote(api.get("name")[0]);
      names.push(pname);
      // An unassigned Serum 2 slot is no knob; an assigned one that Serum 2 names after
      // its target is indexed by that name like any parameter.
      if (SERUM2_PROXY.test(pname)) continue;
      index[pname] = ppath;
      loose[looseName(pname)] = ppath;
    }
    var version = serumVersion(where.name, this.text(where.path, "class_display_name"), names);
    var dev = this.at(where.path);
    this.serum = { path: where.path, name: where.name, id: dev ? Number(dev.id) : 0,
                   index: index, loose: loose, version: version };
    var missing = this.missing();
    return { found: true, name: where.name, version: version, missing: missing.grouped,
             missingNames: missing.names, leaveAtDefault: missing.atDefault };
  } catch (e) {
    this.serum = null;
    this.log("Live API: " + e);
    return { found: false, missing: [], missingNames: [], leaveAtDefault: [], error: String(e) };
  }
};

LiveAdapter.prototype.paramPath = function (name) {
  if (!this.serum) return null;
  return this.serum.index[name] || this.serum.loose[looseName(name)] || null;
};

// The spec's required parameters Live does not expose on the found Serum, in spec order,
// also grouped by effect for the Configure message; and the not-required ones (at
// Serum's default) that are not exposed either.
LiveAdapter.prototype.missing = function () {
  var names = [], grouped = [], byEffect = {}, atDefault = [];
  for (var i = 0; i < this.params.length; i++) {
    var p = this.params[i];
    if (this.paramPath(p.name)) continue;
    if (!p.required) {
      atDefault.push(p.name);
      continue;
    }
    names.push(p.name);
    if (!byEffect[p.effect]) {
      byEffect[p.effect] = { effect: p.effect, label: p.label, names: [] };
      grouped.push(byEffect[p.effect]);
    }
    byEffect[p.effect].names.push(p.name);
  }
  return { names: names, grouped: grouped, atDefault: atDefault };
};

// What Live says about a parameter: its range and, when quantized, how many steps.
LiveAdapter.prototype.meta = function (api) {
  var lo = Number(api.get("min")[0]), hi = Number(api.get("max")[0]);
  if (!isFinite(lo)) lo = 0;
  if (!isFinite(hi)) hi = 1;
  var quantized = Number(api.get("is_quantized")[0]) === 1;
  var steps = 0;
  if (quantized) {
    var items = api.get("value_items") || [];
    steps = items.length || Math.round(hi - lo) + 1;
  }
  return { min: lo, max: hi, quantized: quantized, steps: steps };
};

// Serum-normalized 0..1 (what the server sends) -> the value Live takes for this parameter.
function toLive(meta, normalized) {
  var v = Math.min(1, Math.max(0, Number(normalized)));
  if (meta.quantized && meta.steps > 1) return meta.min + Math.round(v * (meta.steps - 1));
  return meta.min + v * (meta.max - meta.min);
}

// Live's value as it is (for undo), or null when Live does not expose the parameter.
LiveAdapter.prototype.readRaw = function (name) {
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

// The parameter's value as Serum-normalized 0..1 (tests and the e2e session read Serum
// through this), or null.
LiveAdapter.prototype.read = function (name) {
  var raw = this.readRaw(name);
  if (raw === null) return null;
  var api = this.at(this.paramPath(name));
  var m = this.meta(api);
  if (m.quantized && m.steps > 1) return (raw - m.min) / (m.steps - 1);
  return m.max > m.min ? (raw - m.min) / (m.max - m.min) : 0;
};

// Set one parameter to a raw Live value, clamped to its range; false when Live has no
// such parameter.
LiveAdapter.prototype.writeRaw = function (name, raw) {
  var path = this.paramPath(name);
  var api = path ? this.at(path) : null;
  if (!api) return false;
  var m = this.meta(api);
  var v = Math.min(m.max, Math.max(m.min, Number(raw)));
  if (Math.abs(Number(api.get("value")[0]) - v) > 1e-9) api.set("value", v);
  return true;
};

// Set one parameter from a Serum-normalized value. A knob already there is left alone:
// every set is an entry in Live's undo history, so only real changes are made.
LiveAdapter.prototype.write = function (name, normalized, currentRaw) {
  var path = this.paramPath(name);
  var api = path ? this.at(path) : null;
  if (!api) return false;
  var v = toLive(this.meta(api), normalized);
  if (currentRaw === undefined || currentRaw === null || Math.abs(v - currentRaw) > 1e-9) {
    api.set("value", v);
  }
  return true;
};

// Apply a step's values ([{name, value, ...}], Serum-normalized); Live's values from
// before are remembered for undo. Returns {set: [names], missing: [values the producer
// must set by hand], leftAtDefault: [names not exposed whose value is Serum's default]}.
LiveAdapter.prototype.apply = function (values, label) {
  var set = [], missing = [], before = [], leftAtDefault = [];
  try {
    for (var i = 0; i < values.length; i++) {
      var old = this.readRaw(values[i].name);
      if (old === null || !this.write(values[i].name, values[i].value, old)) {
        var p = this.byName[values[i].name];
        // A fine-tune's value carries the knob's value before: at Serum's default only
        // when that was too.
        var had = values[i].before;
        if (p && !p.required && Math.abs(Number(values[i].value) - p.value) < SAME_VALUE &&
            (had === undefined || Math.abs(Number(had) - p.value) < SAME_VALUE)) {
          leftAtDefault.push(values[i].name);
        } else {
          missing.push(this.inSerumsWords(values[i]));
        }
        continue;
      }
      before.push({ name: values[i].name, raw: old });
      set.push(values[i].name);
    }
  } catch (e) {
    this.log("Live API apply: " + e);
  }
  this.history.push({ label: label || "", values: before });
  return { set: set, missing: missing, leftAtDefault: leftAtDefault };
};

// A value to set by hand, with the effect's and the knob's names as Serum shows them.
LiveAdapter.prototype.inSerumsWords = function (v) {
  var p = this.byName[v.name];
  var out = {};
  for (var k in v) if (Object.prototype.hasOwnProperty.call(v, k)) out[k] = v[k];
  out.effectLabel = p ? p.label : (v.effectLabel || (v.role === "enable" ? v.label : ""));
  out.word = p ? p.word : v.label;
  out.role = v.role || (p ? p.role : "knob");
  return out;
};

// Put back the values from before the newest applied step; null when there is none.
LiveAdapter.prototype.undo = function () {
  var entry = this.history.pop();
  if (!entry) return null;
  var restored = 0;
  try {
    for (var i = entry.values.length - 1; i >= 0; i--) {
      if (this.writeRaw(entry.values[i].name, entry.values[i].raw)) restored++;
    }
  } catch (e) {
    this.log("Live API undo: " + e);
  }
  return { label: entry.label, restored: restored };
};

// The label of the newest remembered step ("" for none), so a take-back of a fine-tune
// undoes only its own entry.
LiveAdapter.prototype.lastLabel = function () {
  return this.history.length ? this.history[this.history.length - 1].label : "";
};

// The server takes back a step (verified loops: its capture showed the sound got worse):
// switch `enable` to `value` (Serum-normalized, 0) first, at once; then, when the newest
// remembered step is that effect's, put its knobs back too and forget it. Returns
// {switched: whether Live took the switch (false: not configured, set by hand), restored}.
LiveAdapter.prototype.takeBack = function (enable, value) {
  var switched = false, restored = 0;
  try {
    var old = this.readRaw(enable);
    switched = old !== null && this.write(enable, value, old);
    var top = this.history.length ? this.history[this.history.length - 1] : null;
    var mine = false;
    for (var i = 0; top && i < top.values.length; i++) {
      if (top.values[i].name === enable) mine = true;
    }
    if (mine) {
      this.history.pop();
      for (var j = top.values.length - 1; j >= 0; j--) {
        if (top.values[j].name !== enable && this.writeRaw(top.values[j].name, top.values[j].raw)) {
          restored++;
        }
      }
    }
  } catch (e) {
    this.log("Live API take back: " + e);
  }
  return { switched: switched, restored: restored };
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

// Watch the found Serum's parameter list: `onChange()` runs when the producer configures
// a knob (or Serum's list changes otherwise). It runs inside Live's notification, where
// nothing may change the Live set, so the caller defers real work (device_flow.js does).
// Call again after find(): a different Serum is watched instead. Returns whether a
// plugin is being watched.
LiveAdapter.prototype.watch = function (onChange) {
  try {
    var id = this.serum ? this.serum.id : 0;
    if (id === this.watchedId) return !!id;
    if (!this.watcher) {
      // Published devices observe the same way (Knobbler4: a LiveAPI with a callback,
      // `property = "parameters"`, `id =` to move it, `property = ""` to stop).
      this.watcher = new this.LiveAPI(function (args) {
        if (args && dequote(args[0]) === "parameters") onChange();
      }, "id " + (id || 0));
    } else {
      this.watcher.property = "";
      this.watcher.id = id || 0;
    }
    this.watchedId = id;
    if (id) this.watcher.property = "parameters";
    return !!id;
  } catch (e) {
    this.log("Live API watch: " + e);
    return false;
  }
};

// The device is going away: stop observing.
LiveAdapter.prototype.unwatch = function () {
  try {
    if (this.watcher) {
      this.watcher.property = "";
      this.watcher.id = 0;
    }
  } catch (e) {
    this.log("Live API unwatch: " + e);
  }
  this.watchedId = null;
};

var api = {
  LiveAdapter: LiveAdapter, specParams: specParams, specProblem: specProblem,
  splitDevicePath: splitDevicePath, looseName: looseName, dequote: dequote, toLive: toLive,
  isSerumName: isSerumName, serumVersion: serumVersion, SERUM2_PROXY: SERUM2_PROXY
};
if (typeof exports !== "undefined") { for (var key in api) exports[key] = api[key]; }
