// A small simulator of the Max patcher the device is built from: the objects
// SerumRNN.maxpat uses, with what each really sends, so a test can click a button,
// drop a file, play a note into the audio input and see what reaches the js object,
// udpsend, udpreceive, the buffers and the display. It reads the patcher JSON itself,
// so it tests the committed wiring, not a copy of it.
//
// Message semantics, from Cycling '74's reference pages:
//   live.text (button mode): a click sends bang out the left outlet ("(mouse) In button
//     mode, ... a bang message out the left outlet"). Live setting the parameter sends its
//     new value out the left outlet. Live's MIDI mapping (Ableton: "Toggle and Momentary
//     MIDI functions"; a note mapped to a switch toggles it, a CC sets it): a note press
//     toggles 0 <-> 1, a momentary CC sets 1 on press and 0 on release; only a change is
//     reported. "assign v" shows v and sends it out; the simulator keeps v as the
//     parameter's value, so the next mapped note toggles from it (Max 5's live.text page
//     says assign stores, the current one says it does not: device-facts.md).
//   live.numbox: its value out the left outlet when Live or the user sets it.
//   node.script: messages in go to a test-supplied host (opts.node), which may send
//     messages out of its left outlet with sim.emit; none supplied: they are recorded.
//   live.menu: index out the left outlet, the item's text out the middle one.
//   live.drop: the full path (Max style) out the left outlet.
//   live.thisdevice: bang out the left outlet once the device (and the Live API) is ready.
//   route: the first item of any message (bang included) is matched against the
//     arguments; the rest goes out that outlet, a bang when nothing is left; no match
//     goes out the rightmost outlet.
//   sel: a bang out the matching outlet; anything else out the rightmost one.
//   message box: any input sends its text ($1.. replaced by the input's items).
//   prepend, t (trigger, right to left), conformpath (a function the test supplies),
//   udpreceive ("port N" moves it), udpsend, buffer~ ("name"/"set"), record~ ("set",
//   1/0, @loop), sig~, snapshot~ (bang reports the signal now), comments.
//   One outlet connected to several inlets fires the rightmost inlet's box first
//   (Max's right-to-left order by position).
// Signals run sample by sample in 64-sample vectors: plugin~, plugout~, +~, *~, abs~,
// slide~, >~, change~, sig~, sah~, record~ (loop mode, sync outlet 0..1), edge~ (its
// bangs leave at the end of the vector, as the scheduler delivers them).
"use strict";

const fs = require("node:fs");

const VECTOR = 64;

function isNumber(x) {
  return typeof x === "number" && isFinite(x);
}

// A Max message: a selector and its arguments. Numbers are "int"/"float" messages, a
// list that starts with a number is a "list".
function msg(items) {
  const a = Array.isArray(items) ? items.slice() : [items];
  if (a.length === 0) return { sel: "bang", args: [] };
  if (a.length === 1 && a[0] === "bang") return { sel: "bang", args: [] };
  if (isNumber(a[0])) {
    if (a.length === 1) return { sel: Number.isInteger(a[0]) ? "int" : "float", args: a };
    return { sel: "list", args: a };
  }
  return { sel: String(a[0]), args: a.slice(1) };
}

// The items of a message as a list ("bang" stays a word, numbers stay numbers).
function items(m) {
  if (m.sel === "int" || m.sel === "float" || m.sel === "list") return m.args.slice();
  return [m.sel].concat(m.args);
}

function parseArg(word) {
  return /^-?\d+$/.test(word) ? parseInt(word, 10)
    : /^-?(\d+\.\d*|\.\d+|\d+)(e-?\d+)?$/.test(word) ? parseFloat(word) : word;
}

function sameItem(a, b) {
  if (isNumber(a) && isNumber(b)) return a === b;
  return String(a) === String(b);
}

class PatcherSim {
  // patcher: the .maxpat JSON (or its path). opts.js(box, sim) -> {receive(msg)} for
  // each js box; opts.conformpath(text, args, path) -> the converted path.
  constructor(patcher, opts) {
    const o = opts || {};
    const p = typeof patcher === "string" ? JSON.parse(fs.readFileSync(patcher, "utf8")) : patcher;
    this.sr = o.sr || 44100;
    this.opts = o;
    this.boxes = new Map();
    this.byName = new Map();
    for (const b of p.patcher.boxes) {
      const box = Object.assign({}, b.box);
      box.words = box.maxclass === "newobj" ? String(box.text || "").split(/\s+/) : [];
      box.cls = box.maxclass === "newobj" ? box.words[0] : box.maxclass;
      box.args = box.words.slice(1).filter((w, i, all) => !w.startsWith("@") &&
                                           !(i > 0 && all[i - 1].startsWith("@"))).map(parseArg);
      box.attrs = {};
      box.words.forEach((w, i) => { if (w.startsWith("@")) box.attrs[w.slice(1)] = parseArg(box.words[i + 1]); });
      box.state = {};
      this.boxes.set(box.id, box);
      if (box.varname) this.byName.set(box.varname, box);
    }
    this.out = new Map();     // "id:outlet" -> [[dstId, inlet]], right-to-left
    this.inSignals = new Map(); // "id:inlet" -> [[srcId, outlet]]
    for (const l of p.patcher.lines) {
      const [src, so] = l.patchline.source;
      const [dst, di] = l.patchline.destination;
      const key = src + ":" + so;
      if (!this.out.has(key)) this.out.set(key, []);
      this.out.get(key).push([dst, di]);
      const ik = dst + ":" + di;
      if (!this.inSignals.has(ik)) this.inSignals.set(ik, []);
      this.inSignals.get(ik).push([src, so]);
    }
    for (const list of this.out.values()) {
      list.sort((a, b) => this.boxes.get(b[0]).patching_rect[0] - this.boxes.get(a[0]).patching_rect[0]);
    }
    this.now = 0;               // ms, advanced by the audio vectors
    this.tasks = [];            // [{at, fn, seq}]
    this.seq = 0;
    this.sent = [];             // what udpsend sent: message item lists
    this.log = [];              // [boxId, message items] for every message delivered
    this.buffers = new Map();   // buffer~ box id -> {name, data: Float32Array}
    this.written = [];          // [buffer name, path, samples] for writewave
    this.signalOrder = this.sortSignals();
    this.sig = new Map();       // "id:outlet" -> current sample
    for (const box of this.boxes.values()) {
      if (box.cls === "buffer~") {
        const ms = Number(box.args[1]) || 0;
        box.state.name = String(box.args[0]);
        box.state.data = new Float32Array(Math.round(ms * this.sr / 1000));
        this.buffers.set(box.id, box.state);
      }
      if (box.cls === "udpreceive") box.state.port = Number(box.args[0]) || 0;
      if (box.cls === "sig~") box.state.value = Number(box.args[0]) || 0;
      if (box.cls === "js") box.state.js = o.js ? o.js(box, this) : null;
    }
  }

  box(nameOrId) {
    const b = this.byName.get(nameOrId) || this.boxes.get(nameOrId);
    if (!b) throw new Error("no box " + nameOrId);
    return b;
  }

  find(cls, firstArg) {
    const out = [];
    for (const b of this.boxes.values()) {
      if (b.cls === cls && (firstArg === undefined || sameItem(b.args[0], firstArg))) out.push(b);
    }
    return out;
  }

  // -- the user and Live ---------------------------------------------------------------

  click(name) {
    const b = this.box(name);
    if (b.cls !== "live.text" && b.cls !== "live.button") throw new Error(name + " is not a button");
    if ((b.mode || 0) !== 0) throw new Error(name + " is a toggle, not a button");
    this.emit(b.id, 0, msg("bang"));
  }

  // Live sets the parameter (automation, MIDI): the new value out, if it changed.
  setParameter(name, value) {
    const b = this.box(name);
    const v = Number(value);
    if ((b.state.value || 0) === v) return;
    b.state.value = v;
    this.emit(b.id, 0, msg(v));
  }

  // A pad mapped by MIDI note: Live toggles the parameter on each press.
  notePress(name) {
    this.setParameter(name, (this.box(name).state.value || 0) ? 0 : 1);
  }

  // A pad mapped by a momentary CC: 1 on press, 0 on release.
  ccPress(name) {
    this.setParameter(name, 1);
    this.setParameter(name, 0);
  }

  menu(name, index) {
    const b = this.box(name);
    const items = b.saved_attribute_attributes.valueof.parameter_enum;
    this.emit(b.id, 1, msg([items[index]]));
    this.emit(b.id, 0, msg(index));
  }

  drop(name, maxPath) {
    this.emit(this.box(name).id, 0, msg([maxPath]));
  }

  load() {
    for (const b of this.find("live.thisdevice")) this.emit(b.id, 0, msg("bang"));
  }

  // A datagram reaching udpreceive on `port` (dropped when it listens elsewhere).
  udp(port, list) {
    let delivered = false;
    for (const b of this.find("udpreceive")) {
      if (b.state.port === port) {
        this.emit(b.id, 0, msg(list));
        delivered = true;
      }
    }
    return delivered;
  }

  listening() {
    return this.find("udpreceive").map((b) => b.state.port);
  }

  // -- messages ------------------------------------------------------------------------

  emit(id, outlet, m) {
    for (const [dst, inlet] of this.out.get(id + ":" + outlet) || []) this.deliver(dst, inlet, m);
  }

  deliver(id, inlet, m) {
    const b = this.boxes.get(id);
    this.log.push([id, items(m)]);
    const handler = HANDLERS[b.cls];
    if (!handler) {
      if (b.cls === "comment" || b.maxclass === "comment") return this.comment(b, inlet, m);
      throw new Error("the simulator does not know " + b.cls + " (" + id + ")");
    }
    handler.call(this, b, inlet, m);
  }

  comment(b, inlet, m) {
    if (m.sel === "set") b.state.text = m.args.join(" ");
  }

  text(name) {
    const b = this.box(name);
    return b.state.text === undefined ? (b.text || "") : b.state.text;
  }

  // -- time and signals ----------------------------------------------------------------

  after(ms, fn) {
    const t = { at: this.now + ms, fn, seq: this.seq++ };
    this.tasks.push(t);
    return t;
  }

  cancel(t) {
    this.tasks = this.tasks.filter((x) => x !== t);
  }

  runTasks() {
    for (;;) {
      const due = this.tasks.filter((t) => t.at <= this.now).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) return;
      this.tasks = this.tasks.filter((t) => t !== due);
      due.fn();
    }
  }

  // Signal boxes in an order where every box comes after the boxes feeding it.
  sortSignals() {
    const sig = [...this.boxes.values()].filter((b) => SIGNAL[b.cls]);
    const ids = new Set(sig.map((b) => b.id));
    const order = [], done = new Set(), busy = new Set();
    const visit = (b) => {
      if (done.has(b.id)) return;
      if (busy.has(b.id)) throw new Error("a signal loop at " + b.id);
      busy.add(b.id);
      for (let i = 0; i < (b.numinlets || 0); i++) {
        for (const [src] of this.inSignals.get(b.id + ":" + i) || []) {
          if (ids.has(src)) visit(this.boxes.get(src));
        }
      }
      busy.delete(b.id);
      done.add(b.id);
      order.push(b);
    };
    sig.forEach(visit);
    return order;
  }

  // The sum of the signals connected to an inlet, or null when none is.
  signalIn(b, inlet) {
    const from = this.inSignals.get(b.id + ":" + inlet) || [];
    let any = false, sum = 0;
    for (const [src, so] of from) {
      const key = src + ":" + so;
      if (this.sig.has(key)) {
        any = true;
        sum += this.sig.get(key);
      }
    }
    return any ? sum : null;
  }

  // Play stereo audio into plugin~ (arrays of samples), vector by vector; tasks and the
  // scheduler's messages run between vectors. Returns what plugout~ put out (left).
  play(left, right) {
    const n = left.length;
    const out = [];
    for (let start = 0; start < n; start += VECTOR) {
      const pending = [];
      for (let i = start; i < Math.min(n, start + VECTOR); i++) {
        this.input = [left[i], right ? right[i] : left[i]];
        for (const b of this.signalOrder) SIGNAL[b.cls].call(this, b, pending);
        const po = this.find("plugout~")[0];
        if (po) out.push(this.signalIn(po, 0));
      }
      this.now += VECTOR * 1000 / this.sr;
      for (const [id, outlet] of pending) this.emit(id, outlet, msg("bang"));
      this.runTasks();
    }
    return out;
  }

  silence(ms) {
    const n = Math.round(ms * this.sr / 1000);
    return this.play(new Array(n).fill(0));
  }

  // -- buffers, seen by the js object's Buffer --------------------------------------------

  bufferNamed(name) {
    for (const b of this.buffers.values()) if (b.name === name) return b;
    return null;
  }
}

const HANDLERS = {
  "live.text"(b, inlet, m) {
    if (m.sel === "assign") {
      b.state.value = Number(m.args[0]);
      this.emit(b.id, 0, msg(b.state.value));
      return;
    }
    throw new Error("the simulator's live.text takes only assign (got " + m.sel + ")");
  },
  "live.numbox"(b, inlet, m) {
    if (m.sel === "int" || m.sel === "float") {
      b.state.value = Number(m.args[0]);
      this.emit(b.id, 0, msg(b.state.value));
    }
  },
  "node.script"(b, inlet, m) {
    if (!b.state.received) b.state.received = [];
    b.state.received.push(items(m));
    if (this.opts.node) this.opts.node(b, this, m);
  },
  "live.button"(b, inlet, m) { this.emit(b.id, 0, msg("bang")); },
  message(b, inlet, m) {
    if (inlet !== 0) return;
    const input = items(m);
    const words = String(b.text || "").split(/\s+/).filter((w) => w.length)
      .map((w) => /^\$\d$/.test(w) ? input[Number(w[1]) - 1] : parseArg(w));
    this.emit(b.id, 0, msg(words));
  },
  route(b, inlet, m) {
    const it = items(m);
    for (let i = 0; i < b.args.length; i++) {
      if (sameItem(it[0], b.args[i])) {
        this.emit(b.id, i, msg(it.slice(1)));
        return;
      }
    }
    this.emit(b.id, b.args.length, m);
  },
  sel(b, inlet, m) {
    const it = items(m);
    for (let i = 0; i < b.args.length; i++) {
      if (m.sel !== "bang" && it.length === 1 && sameItem(it[0], b.args[i])) {
        this.emit(b.id, i, msg("bang"));
        return;
      }
    }
    this.emit(b.id, b.args.length, m);
  },
  prepend(b, inlet, m) {
    if (inlet !== 0) return;
    this.emit(b.id, 0, msg(b.args.concat(m.sel === "bang" ? [] : items(m))));
  },
  t(b, inlet, m) {
    for (let i = b.args.length - 1; i >= 0; i--) {
      const kind = String(b.args[i]);
      if (kind === "b") this.emit(b.id, i, msg("bang"));
      else if (kind === "l" || kind === "a") this.emit(b.id, i, m);
      else if (kind === "i") this.emit(b.id, i, msg(Math.trunc(Number(items(m)[0]) || 0)));
      else if (kind === "f") this.emit(b.id, i, msg(Number(items(m)[0]) || 0));
      else if (kind === "s") this.emit(b.id, i, msg([String(items(m)[0])]));
      else this.emit(b.id, i, msg(b.args[i]));
    }
  },
  conformpath(b, inlet, m) {
    const f = this.opts.conformpath || ((args, p) => p);
    this.emit(b.id, 0, msg([f(b.args, items(m).join(" "))]));
  },
  js(b, inlet, m) {
    if (b.state.js) b.state.js.receive(m, inlet);
  },
  udpsend(b, inlet, m) {
    if (m.sel === "port") b.state.port = Number(m.args[0]);
    else if (m.sel === "host") b.state.host = String(m.args[0]);
    else this.sent.push(items(m));
  },
  udpreceive(b, inlet, m) {
    if (m.sel === "port") b.state.port = Number(m.args[0]);
  },
  "buffer~"(b, inlet, m) {
    if (m.sel === "name" || m.sel === "set") b.state.name = String(m.args[0]);
    if (m.sel === "writewave") this.written.push([b.state.name, String(m.args[0]), Array.from(b.state.data)]);
  },
  "record~"(b, inlet, m) {
    if (inlet !== 0) return;
    if (m.sel === "set") b.state.buffer = String(m.args[0]);
    else if (m.sel === "loop") b.attrs.loop = Number(m.args[0]);
    else if (m.sel === "int" || m.sel === "float") {
      b.state.on = Number(m.args[0]) !== 0;
      if (b.state.on) b.state.pos = 0;
    }
  },
  "sig~"(b, inlet, m) {
    if (m.sel === "int" || m.sel === "float") b.state.value = Number(m.args[0]);
  },
  "snapshot~"(b, inlet, m) {
    if (inlet === 0 && m.sel === "bang") this.emit(b.id, 0, msg(Number(b.state.last || 0)));
  },
  "live.thisdevice"() {},
  "live.menu"(b, inlet, m) {},
  "live.drop"(b, inlet, m) {},
};

// Per-sample signal objects: read inputs with signalIn, write this.sig for each outlet.
const SIGNAL = {
  "plugin~"(b) {
    this.sig.set(b.id + ":0", this.input[0]);
    this.sig.set(b.id + ":1", this.input[1]);
  },
  "plugout~"() {},
  "+~"(b) {
    const r = this.signalIn(b, 1);
    this.sig.set(b.id + ":0", (this.signalIn(b, 0) || 0) + (r === null ? Number(b.args[0]) || 0 : r));
  },
  "*~"(b) {
    const r = this.signalIn(b, 1);
    this.sig.set(b.id + ":0", (this.signalIn(b, 0) || 0) * (r === null ? Number(b.args[0]) || 0 : r));
  },
  "abs~"(b) { this.sig.set(b.id + ":0", Math.abs(this.signalIn(b, 0) || 0)); },
  "slide~"(b) {
    const x = this.signalIn(b, 0) || 0;
    const y = b.state.y || 0;
    const k = x > y ? Math.max(1, Number(b.args[0]) || 1) : Math.max(1, Number(b.args[1]) || 1);
    b.state.y = y + (x - y) / k;
    this.sig.set(b.id + ":0", b.state.y);
  },
  ">~"(b) {
    const r = this.signalIn(b, 1);
    this.sig.set(b.id + ":0", (this.signalIn(b, 0) || 0) > (r === null ? Number(b.args[0]) || 0 : r) ? 1 : 0);
  },
  "change~"(b) {
    const x = this.signalIn(b, 0) || 0;
    const prev = b.state.prev === undefined ? x : b.state.prev;
    this.sig.set(b.id + ":0", x > prev ? 1 : x < prev ? -1 : 0);
    b.state.prev = x;
  },
  "sig~"(b) { this.sig.set(b.id + ":0", b.state.value || 0); },
  "sah~"(b) {
    const c = this.signalIn(b, 1) || 0;
    const th = Number(b.args[0]) || 0;
    const prev = b.state.c === undefined ? 0 : b.state.c;
    if (prev <= th && c > th) b.state.held = this.signalIn(b, 0) || 0;
    b.state.c = c;
    this.sig.set(b.id + ":0", b.state.held || 0);
  },
  "snapshot~"(b) { b.state.last = this.signalIn(b, 0) || 0; },
  "edge~"(b, pending) {
    const x = this.signalIn(b, 0) || 0;
    const prev = b.state.prev || 0;
    if (prev === 0 && x !== 0) pending.push([b.id, 0]);
    if (prev !== 0 && x === 0) pending.push([b.id, 1]);
    b.state.prev = x;
  },
  "record~"(b) {
    const buf = this.bufferNamed(b.state.buffer || String(b.args[0]));
    const x = this.signalIn(b, 0) || 0;
    const n = buf ? buf.data.length : 0;
    if (b.state.on && n) {
      buf.data[b.state.pos] = x;
      this.sig.set(b.id + ":0", b.state.pos / n);   // sync: 0..1 through the buffer
      b.state.pos++;
      if (b.state.pos >= n) {
        if (b.attrs.loop) b.state.pos = 0;
        else b.state.on = false;
      }
    } else {
      this.sig.set(b.id + ":0", n && b.state.pos ? b.state.pos / n : 0);
    }
  },
};

module.exports = { PatcherSim, msg, items, VECTOR };
