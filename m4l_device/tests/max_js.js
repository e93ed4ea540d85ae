// Runs a Max js file (serumrnn_device.js) the way Max's js object does, inside the
// patcher simulator: its own global scope with Max's globals (outlet, post, Task,
// Buffer, LiveAPI, max, messagename, arrayfromargs, jsarguments), require() that looks
// a module up by name beside the patcher and gives it nothing but `exports` (Cycling
// '74's "JS Require Guide": CommonJS 1.0 style, no module.id and friends), and Max's
// dispatch of an incoming message: bang -> bang(), a number -> msg_int/msg_float, a
// list -> list(), a word naming a function -> that function, anything else ->
// anything() with `messagename` set.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { msg, items } = require("./patcher_sim.js");

const DEVICE = path.resolve(__dirname, "..");

// The source of a js file as Max finds it: beside the patcher, or (a frozen device, opened
// from a folder holding nothing else) only among the files frozen into it (`files`: a Map
// of file name -> source).
function findSource(dir, name, files) {
  const base = name.endsWith(".js") ? name : name + ".js";
  if (files) return files.has(base) ? files.get(base) : null;
  const file = path.join(dir, base);
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
}

function maxRequire(dir, cache, modules, files) {
  return function require(name) {
    if (modules && Object.prototype.hasOwnProperty.call(modules, name)) return modules[name];
    const file = path.join(dir, name.endsWith(".js") ? name : name + ".js");
    if (cache.has(file)) return cache.get(file);
    const source = findSource(dir, name, files);
    if (source === null) throw new Error("js: can't find " + name + " in the search path");
    const exports = {};
    cache.set(file, exports);
    const ctx = vm.createContext({ exports, require: maxRequire(dir, cache, modules, files), Math, JSON,
                                   Date, String, Number, Array, Object, Error, isFinite, parseInt,
                                   parseFloat, RegExp });
    vm.runInContext(source, ctx, { filename: file });
    return exports;
  };
}

// opts: LiveAPI (a fake's constructor), os ("macintosh" | "windows"), filepath (the
// device's own path, Max style), random (for Math.random), modules (name -> exports, in
// place of a file), files (a frozen device's files: name -> source, the only ones found),
// delay(msg) -> ms (Max runs js in the low-priority queue: a message
// may reach it late).
function jsHost(box, sim, opts) {
  const o = opts || {};
  const file = path.join(DEVICE, box.args[0]);
  const console = [];
  const tasks = [];
  const mathWithRandom = Object.create(Math);
  if (o.random) mathWithRandom.random = o.random;

  function Task(fn, self) {
    this.fn = fn;
    this.self = self;
    this.handle = null;
  }
  Task.prototype.schedule = function (ms) {
    if (this.handle) sim.cancel(this.handle);
    const t = this;
    this.handle = sim.after(ms || 0, () => { t.handle = null; t.fn.call(t.self); });
    tasks.push(this);
  };
  Task.prototype.cancel = function () {
    if (this.handle) sim.cancel(this.handle);
    this.handle = null;
  };

  const buffers = { made: 0, freed: 0 };
  function Buffer(name) {
    this.name = String(name);
    this.freed = false;
    buffers.made++;
  }
  // "Frees the buffer~ data from the native c peer ... Once called, the buffer~ object is
  // not available for any other use" (Cycling '74, "The Buffer Object").
  Buffer.prototype.freepeer = function () {
    if (this.freed) throw new Error("freepeer twice");
    this.freed = true;
    buffers.freed++;
  };
  Buffer.prototype.state = function () {
    if (this.freed) throw new Error("Buffer " + this.name + " used after freepeer");
    const b = sim.bufferNamed(this.name);
    if (!b) throw new Error("buffer~ " + this.name + " does not exist");
    return b;
  };
  Buffer.prototype.framecount = function () { return this.state().data.length; };
  Buffer.prototype.peek = function (channel, frame, count) {
    if (channel !== 1) throw new Error("peek: channel " + channel + " of a mono buffer");
    return Array.from(this.state().data.subarray(frame, frame + count));
  };
  Buffer.prototype.poke = function (channel, frame, values) {
    if (channel !== 1) throw new Error("poke: channel " + channel + " of a mono buffer");
    const v = Array.isArray(values) ? values : [values];
    if (frame < 0 || frame + v.length > this.state().data.length) throw new Error("poke past the end");
    this.state().data.set(v, frame);
  };
  Buffer.prototype.send = function () {
    const words = Array.prototype.slice.call(arguments);
    for (const [id, b] of sim.buffers) {
      if (b.name === this.name) sim.deliver(id, 0, msg(words));
    }
  };

  const g = {
    Math: mathWithRandom, JSON, Date, String, Number, Array, Object, Error, RegExp, isFinite,
    parseInt, parseFloat,
    post: (...a) => console.push(a.join(" ")),
    error: (...a) => console.push("error: " + a.join(" ")),
    outlet: (n, ...args) => {
      const list = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
      sim.emit(box.id, n, msg(list));
    },
    setinletassist() {}, setoutletassist() {},
    arrayfromargs: (a) => Array.prototype.slice.call(a),
    jsarguments: [box.args[0]].concat(box.args.slice(1)),
    Task, Buffer,
    LiveAPI: o.LiveAPI,
    max: { os: o.os || "macintosh" },
    messagename: "",
    patcher: { filepath: o.filepath || "Macintosh HD:/Users/me/Music/Ableton/User Library/SerumRNN.amxd" },
  };
  g.require = maxRequire(DEVICE, new Map(), o.modules, o.files);
  const ctx = vm.createContext(g);
  const source = findSource(DEVICE, box.args[0], o.files);
  if (source === null) throw new Error("js: can't find file " + box.args[0]);
  vm.runInContext(source, ctx, { filename: file });

  const host = {
    ctx, console, tasks, buffers,
    receive(m) {
      const ms = o.delay ? o.delay(m) : 0;
      if (ms > 0) {
        sim.after(ms, () => host.dispatch(m));
        return;
      }
      host.dispatch(m);
    },
    dispatch(m) {
      const fn = (name) => typeof ctx[name] === "function" ? ctx[name] : null;
      if (m.sel === "bang") {
        if (fn("bang")) return ctx.bang();
      } else if (m.sel === "int" && fn("msg_int")) {
        return ctx.msg_int(m.args[0]);
      } else if (m.sel === "float" && fn("msg_float")) {
        return ctx.msg_float(m.args[0]);
      } else if (m.sel === "list" && fn("list")) {
        return ctx.list(...m.args);
      } else if (!["int", "float", "list"].includes(m.sel) && fn(m.sel) &&
                 !["anything", "bang", "list", "msg_int", "msg_float"].includes(m.sel)) {
        ctx.messagename = m.sel;
        return ctx[m.sel](...m.args);
      }
      if (fn("anything")) {
        ctx.messagename = m.sel;
        return ctx.anything(...m.args);
      }
      console.push("js: no function " + items(m)[0]);
    },
  };
  return host;
}

module.exports = { jsHost, maxRequire, DEVICE };
