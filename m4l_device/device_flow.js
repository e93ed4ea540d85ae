// The device's state machine: session, target, capture -> step -> apply -> capture again,
// undo, reset, done, and the server's health. Pure: everything it does to the world goes
// through injected ports, so node tests drive it with a fake clock, a fake Live set and a
// real or scripted server.
//
// ports: send(list)            a request for udpsend: [address, args...]
//        show(field, text)     a display line: status | serum | instruction | confidence |
//                              detail | configure
//        record()              a note started: capture it; call captured(path) once the WAV is written
//        arm(on)               open or close the patcher's onset gate (optional)
//        after(ms, fn) -> h    run fn later (Max: Task);  cancel(h)
//        random()              0..1 (Math.random): request ids and the reply port
//        listen(port)          make udpreceive listen on `port` (Max: "port N")
//        replyPort             a fixed reply port instead (tests, e2e); then listen is unused
//        adapter               a LiveAdapter (or null: no Live)
//        modelNote             the MIDI note the models know (48)
//        effectCount           how many effects the spec has (serumrnn_spec.js), for "all N
//                              effects are on"
//        os                    Max's max.os ("macintosh" | "windows"), for dropped paths
//        launch(words...)      a message for node.script (server_launcher.js): "start <port>",
//                              "stop" (optional: no launcher in some tests)
//        serverPort(port)      make udpsend send to `port` (Max: udpsend's "port N")
//        damaged(why)          the panel's sentence for a damaged device (serumrnn_device.js)
// deps:  protocol (osc_protocol.js), text (ui_text.js): passed in because Max's require
//        and node's resolve file names differently.
//
// Messages from the server are dispatched by kind (ON_MESSAGE below for those the server
// sends on its own; request handlers for replies; StepAssembler for step replies), so a
// new reply message is one entry in osc_protocol.js's REPLIES and one handler here.
//
// ES5 only: Max's js object runs an old JavaScript.

var PING_EVERY_MS = 10000;      // while the server answers
var PING_RETRY_MS = 3000;       // while it does not

var PARAMS_SETTLE_MS = 50;       // the parameter list changes in bursts while configuring
var LOADING_RETRY_MS = 1000;     // a group still loading: ask for the session again then
// node.script starts its Node process with the device; a launcher silent this long did not
// start (server_launcher.js missing, or Node for Max unavailable).
var LAUNCHER_SILENT_MS = 15000;

// Ports the panel's Port box may choose (below 1024 needs root on macOS and Linux).
var MIN_PORT = 1024;
var MAX_PORT = 65535;

function DeviceFlow(ports, deps) {
  this.ports = ports;
  this.P = deps.protocol;
  this.T = deps.text;
  this.random = ports.random || Math.random;
  this.ids = new this.P.IdCounter(this.P.randomIdStart(this.random));
  this.assembler = new this.P.StepAssembler();
  this.queue = [];
  this.inflight = null;
  this.pingTimer = null;
  this.paramsTimer = null;
  this.server = "unknown";        // unknown | up | down | mismatch (protocol version)
  this.replyPort = ports.replyPort || 0;
  this.heard = false;             // anything arrived on replyPort since we listen there
  this.bootVolume = "";           // macOS: the boot volume's name, for dropped paths
  this.modelNote = ports.modelNote || 48;
  this.effectCount = ports.effectCount;
  this.groups = [];
  this.group = "basic";
  this.session = null;
  this.sessionGroup = null;
  this.targetPath = null;
  this.targetSet = false;
  this.capturePath = null;
  this.captureFresh = false;      // a capture of the sound as it is now, not yet sent
  this.armed = false;             // the next note played is captured
  this.capturing = false;
  this.pendingNext = false;       // Next was pressed before a capture existed
  this.applied = 0;               // steps of this session now applied on Serum
  this.done = false;
  this.serum = null;              // the adapter's last find()
  this.closed = false;
  this.serverPort = this.P.SERVER_PORT;
  this.launcher = { state: "", text: "" };  // what server_launcher.js last said
  this.awaitingHand = false;      // instruction mode: waiting for the producer's Done
  this.handSteps = [];            // per applied step: {enable, byHand, tune}, oldest first
                                  // (a fine-tune: enable "", tune its knobs' set-back values)
  this.loadingTimer = null;
  this.launcherTimer = null;
}

DeviceFlow.prototype.show = function (field, text) {
  this.ports.show(field, text || "");
};

// -- life cycle -------------------------------------------------------------------------

DeviceFlow.prototype.start = function () {
  if (!this.ports.replyPort) this.listenOn(this.P.pickReplyPort(this.random));
  this.launch("start", this.serverPort);
  if (this.ports.launch) {
    var self = this;
    this.launcherTimer = this.ports.after(LAUNCHER_SILENT_MS, function () {
      self.launcherTimer = null;
      if (self.launcher.state || !self.ports.damaged) return;
      // Kept as the launcher's last words, so the status line keeps saying it while the
      // server does not answer.
      self.launcher = { state: "silent",
                        text: self.ports.damaged("its server launcher (server_launcher.js in node.script) did not start") };
      if (self.server !== "up" && self.server !== "mismatch") self.show("status", self.launcher.text);
    });
  }
  this.checkSerum();
  this.show("instruction", "Drop a target sound, then press Next");
  this.pingNow();
};

// Listen for replies on `port` (udpreceive's "port N"). Replies to a session go to the
// port it was made with, so a session made before is forgotten.
DeviceFlow.prototype.listenOn = function (port) {
  this.replyPort = port;
  this.heard = false;
  if (this.ports.listen) this.ports.listen(port);
};

// Device removed or Live closing: end the session, stop timers and observers.
DeviceFlow.prototype.close = function () {
  if (this.session) this.ports.send(this.P.end(this.ids.take(), this.session));
  this.launch("stop");
  this.session = null;
  this.closed = true;
  if (this.pingTimer) this.ports.cancel(this.pingTimer);
  if (this.paramsTimer) this.ports.cancel(this.paramsTimer);
  if (this.loadingTimer) this.ports.cancel(this.loadingTimer);
  if (this.launcherTimer) this.ports.cancel(this.launcherTimer);
  this.loadingTimer = null;
  this.launcherTimer = null;
  if (this.inflight && this.inflight.timer) this.ports.cancel(this.inflight.timer);
  if (this.ports.adapter) this.ports.adapter.unwatch();
  this.pingTimer = null;
  this.paramsTimer = null;
  this.inflight = null;
  this.queue = [];
};

DeviceFlow.prototype.launch = function () {
  if (this.ports.launch) this.ports.launch.apply(null, Array.prototype.slice.call(arguments));
};

// What server_launcher.js says: shown on the status line while the server does not
// answer (its start-up lines, a crash, "not installed"); "hello" means node.script
// (re)started and needs to know the port.
DeviceFlow.prototype.launcherSays = function (state, text) {
  state = String(state);
  if (state === "hello") {
    this.launch("start", this.serverPort);
    return;
  }
  this.launcher = { state: state, text: String(text || "") };
  if (this.server !== "up" && this.server !== "mismatch" && this.launcher.text) {
    this.show("status", this.launcher.text);
  }
};

// The panel's Port box: talk to a server on another port (and start one there).
DeviceFlow.prototype.setServerPort = function (port) {
  var p = Math.round(Number(port));
  if (!(p >= MIN_PORT && p <= MAX_PORT)) {
    this.show("status", this.T.badPort(port));
    return;
  }
  if (p === this.serverPort) return;
  if (this.session) {
    var old = this.session;
    this.ports.send(this.P.end(this.ids.take(), old));
  }
  this.serverPort = p;
  this.forgetSession();
  this.server = "unknown";
  this.launcher = { state: "", text: "" };
  if (this.ports.serverPort) this.ports.serverPort(p);
  this.launch("start", p);
  this.pingNow();
};

// The status line while the server does not answer: the launcher's last words, else ours.
DeviceFlow.prototype.downText = function () {
  return this.launcher.text || this.T.serverDown(this.serverPort);
};

// Find Serum again and show what to configure; watch its parameter list, so the line
// updates as the producer configures knobs.
DeviceFlow.prototype.checkSerum = function () {
  var adapter = this.ports.adapter;
  var found = adapter ? adapter.find() : { found: false, missing: [], leaveAtDefault: [] };
  this.serum = found;
  this.show("serum", found.found ? this.T.serumSummary(found) : this.T.noSerum());
  this.show("configure", found.found && found.version !== 2
    ? this.T.configure(found.name, found.missing, found.leaveAtDefault) : "");
  if (adapter) {
    var self = this;
    adapter.watch(function () { self.parametersChanged(); });
  }
  return found;
};

// Live's notification that the plugin's parameters changed. Nothing may change the Live
// set inside a notification, so the work runs a moment later (and once per burst).
DeviceFlow.prototype.parametersChanged = function () {
  if (this.closed) return;
  var self = this;
  if (this.paramsTimer) this.ports.cancel(this.paramsTimer);
  this.paramsTimer = this.ports.after(PARAMS_SETTLE_MS, function () {
    self.paramsTimer = null;
    if (!self.closed) self.checkSerum();
  });
};

// The home folder in Max's style ("Macintosh HD:/Users/me/"): its volume is the boot
// volume, which dropped macOS paths are converted against.
DeviceFlow.prototype.setHome = function (maxPath) {
  this.bootVolume = this.P.volumeOf(maxPath);
};

DeviceFlow.prototype.prompt = function (why) {
  return this.T.playPrompt(this.modelNote, why);
};

// -- requests: one at a time, retried with the same id ----------------------------------

// build(id) -> the request list, or null to drop it (what it needed is gone).
DeviceFlow.prototype.request = function (name, build, handlers) {
  this.queue.push({ name: name, build: build, h: handlers || {} });
  this.pump();
};

DeviceFlow.prototype.pump = function () {
  while (!this.inflight && this.queue.length && !this.closed) {
    var r = this.queue.shift();
    var id = this.ids.take();
    var list = r.build(id);
    if (!list) continue;
    this.inflight = { id: id, name: r.name, list: list, tries: 0, h: r.h };
    this.transmit();
  }
};

DeviceFlow.prototype.transmit = function () {
  var f = this.inflight;
  f.tries++;
  this.ports.send(f.list);
  this.wait(f, f.working ? this.P.WORKING_POLL_MS : this.P.TIMEOUT_MS[f.name] || 2000);
};

DeviceFlow.prototype.wait = function (f, ms) {
  var self = this;
  if (f.timer) this.ports.cancel(f.timer);
  f.waitMs = ms;
  f.timer = this.ports.after(ms, function () { self.timedOut(f); });
};

DeviceFlow.prototype.timedOut = function (f) {
  if (this.inflight !== f) return;
  f.timer = null;
  f.waitedMs = (f.waitedMs || 0) + f.waitMs;
  if (f.tries < this.P.MAX_TRIES) {
    this.transmit();
    return;
  }
  this.inflight = null;
  var dropped = [f].concat(this.queue);
  this.queue = [];
  for (var i = 0; i < dropped.length; i++) {
    if (dropped[i].h.lost) dropped[i].h.lost.call(this);
  }
  this.serverDown();
};

// The server answered a resend with working: the request arrived and is queued or running.
// Say so, ask again in WORKING_POLL_MS (every send counts afresh: the request is alive), and
// after MAX_WORKING_MS give up on this request but not on the server. The session is
// forgotten then: the server may still finish the step, and its chain would no longer be
// Serum's.
DeviceFlow.prototype.onWorking = function (msg) {
  var f = this.inflight;
  if (!f || msg.requestId !== f.id) return;
  var seconds = Math.round((f.waitedMs || 0) / 1000);
  if ((f.waitedMs || 0) >= this.P.MAX_WORKING_MS) {
    this.finish();
    if (f.h.lost) f.h.lost.call(this);
    this.forgetSession();
    this.show("detail", this.T.stuck(f.name, seconds));
    this.pump();
    return;
  }
  f.working = true;
  f.tries = 0;
  this.show("detail", this.T.working(f.name, seconds));
  this.wait(f, this.P.WORKING_POLL_MS);
};

DeviceFlow.prototype.finish = function () {
  var f = this.inflight;
  if (f && f.timer) this.ports.cancel(f.timer);
  this.inflight = null;
  return f;
};

// -- the server's health ----------------------------------------------------------------

DeviceFlow.prototype.pingNow = function () {
  if (this.closed) return;
  if (this.pingTimer) this.ports.cancel(this.pingTimer);
  this.pingTimer = null;
  var busy = this.inflight ? [this.inflight] : [];
  var all = busy.concat(this.queue);
  for (var i = 0; i < all.length; i++) if (all[i].name === "ping") return;
  var self = this;
  this.request("ping", function (id) { return self.P.ping(id, self.replyPort); }, {
    reply: function (msg) {
      if (this.versionOk(msg.protocol)) this.serverUp(msg.groups);
      this.schedulePing(PING_EVERY_MS);
    }
  });
};

DeviceFlow.prototype.schedulePing = function (ms) {
  var self = this;
  if (this.closed) return;
  if (this.pingTimer) this.ports.cancel(this.pingTimer);
  this.pingTimer = this.ports.after(ms, function () {
    self.pingTimer = null;
    self.pingNow();
  });
};

// A server of another protocol version would misread requests or be misread: say so and
// send nothing but pings until it matches.
DeviceFlow.prototype.versionOk = function (protocol) {
  if (String(protocol) === this.P.PROTOCOL_VERSION) return true;
  this.server = "mismatch";
  this.show("status", this.T.versionMismatch(protocol, this.P.PROTOCOL_VERSION));
  return false;
};

DeviceFlow.prototype.serverUp = function (groups) {
  var wasDown = this.server !== "up";
  this.server = "up";
  this.groups = groups || [];
  this.show("status", this.T.serverReady(this.groups));
  if (wasDown && this.targetPath && !this.targetSet) this.ensureSession();
};

DeviceFlow.prototype.serverDown = function () {
  this.server = "down";
  this.show("status", this.downText());
  // Nothing ever arrived on this port: it may be taken by another program, so listen on
  // another one (a session made for the old port is forgotten).
  if (!this.heard && !this.ports.replyPort) {
    this.forgetSession();
    this.listenOn(this.P.pickReplyPort(this.random, this.replyPort));
  }
  this.schedulePing(PING_RETRY_MS);
};

// The server forgot our session (restart): the next request makes a new one.
DeviceFlow.prototype.forgetSession = function () {
  this.session = null;
  this.sessionGroup = null;
  this.targetSet = false;
  this.applied = 0;
  this.done = false;
};

// -- sessions and targets ---------------------------------------------------------------

// Queue what the next request needs: a session for the chosen group, and the target.
DeviceFlow.prototype.ensureSession = function () {
  var self = this;
  if (!this.session || this.sessionGroup !== this.group) {
    var group = this.group;
    this.forgetSession();
    this.request("new", function (id) {
      return self.P.newSession(id, group, [], self.replyPort);
    }, {
      reply: function (msg) {
        this.session = msg.session;
        this.sessionGroup = group;
        this.applied = 0;
        this.done = false;
      },
      error: function (msg) {
        var hadStep = this.queued("step");
        this.queue = [];   // what waited for the session cannot run
        this.show("detail", this.T.error(msg.code, msg.message, "new"));
        if (msg.code === "loading") this.retryWhenLoaded(hadStep);
      }
    });
  }
  if (this.targetPath && !this.targetSet && !this.queued("target")) {
    this.request("target", function (id) {
      return self.session && self.targetPath ? self.P.target(id, self.session, self.targetPath)
                                             : null;
    }, {
      reply: function (msg) {
        this.targetSet = true;
        this.applied = 0;
        this.done = false;
        this.show("detail", "Target set" + (msg.note ? ": " + msg.note : "") + ". " +
                  (this.captureFresh ? "Press Next" : this.prompt("then press Next")));
      },
      error: function (msg) {
        var gone = msg.code === "missing" ? this.targetPath : null;
        this.targetPath = null;
        this.queue = [];
        this.show("detail", gone ? this.T.targetGone(gone)
                                 : this.T.error(msg.code, msg.message, "target"));
      }
    });
  }
};

// The server answers `new` with "loading" while the group's models load (it never makes
// a request wait): ask again a moment later with a new request id, and send the step that
// was waiting, if any.
DeviceFlow.prototype.retryWhenLoaded = function (hadStep) {
  var self = this;
  if (hadStep) this.captureFresh = true;
  if (this.loadingTimer) this.ports.cancel(this.loadingTimer);
  this.loadingTimer = this.ports.after(LOADING_RETRY_MS, function () {
    self.loadingTimer = null;
    if (self.closed) return;
    if (hadStep && self.captureFresh) self.sendStep(false);
    else self.ensureSession();
  });
};

DeviceFlow.prototype.queued = function (name) {
  if (this.inflight && this.inflight.name === name) return true;
  for (var i = 0; i < this.queue.length; i++) if (this.queue[i].name === name) return true;
  return false;
};

DeviceFlow.prototype.setGroup = function (group) {
  group = String(group);
  if (!group || group === this.group) return;
  this.group = group;
  if (this.session) {
    var old = this.session, self = this;
    this.request("end", function (id) { return self.P.end(id, old); });
  }
  this.forgetSession();
  if (this.targetPath) this.ensureSession();
};

DeviceFlow.prototype.dropTarget = function (path) {
  var p = this.P.nativePath(path, this.bootVolume, this.ports.os);
  if (!this.P.isAbsolute(p)) {
    this.show("detail", this.T.error("relative_path", p + " is not an absolute path", "target"));
    return;
  }
  this.targetPath = p;
  this.targetSet = false;
  this.handSteps = [];
  this.awaitingHand = false;
  if (this.ports.adapter) this.ports.adapter.clearHistory();
  this.show("instruction", "");
  this.show("confidence", "");
  this.ensureSession();
};

// -- capture ----------------------------------------------------------------------------

DeviceFlow.prototype.capture = function () {
  this.arm(this.prompt("SerumRNN records the next one"));
};

// The next note played is captured. The patcher's onset gate follows `armed` in the
// signal path (ports.arm), so the capture starts at the note's first sample.
DeviceFlow.prototype.arm = function (prompt) {
  this.armed = true;
  this.captureFresh = false;
  if (this.ports.arm) this.ports.arm(true);
  this.show("detail", prompt);
};

// Nothing to capture now (the session is done): close the gate and say why.
DeviceFlow.prototype.disarm = function (why) {
  if (this.armed && this.ports.arm) this.ports.arm(false);
  this.armed = false;
  this.show("detail", why);
};

// A note started (the patcher's onset detector, gated by `armed`).
DeviceFlow.prototype.onset = function () {
  if (!this.armed || this.capturing) return;
  this.armed = false;
  this.capturing = true;
  if (this.ports.arm) this.ports.arm(false);
  this.show("detail", "Capturing...");
  this.ports.record();
};

DeviceFlow.prototype.captured = function (path) {
  this.capturing = false;
  this.capturePath = this.P.nativePath(path, this.bootVolume, this.ports.os);
  this.captureFresh = true;
  if (this.pendingNext) {
    this.pendingNext = false;
    this.next();
  } else {
    this.show("detail", "Captured: press Next");
  }
};

DeviceFlow.prototype.captureFailed = function (why) {
  this.capturing = false;
  this.show("detail", "Capture failed: " + why);
};

// -- next step --------------------------------------------------------------------------

DeviceFlow.prototype.next = function () {
  if (this.queued("step")) return;
  if (this.server === "down") {
    this.show("detail", this.downText());
    this.pingNow();
    return;
  }
  if (this.server === "mismatch") {
    this.show("detail", "Update SerumRNN: the device and the server differ");
    this.pingNow();
    return;
  }
  // No Serum plugin found: every setting is made by hand (instruction mode), so go on.
  this.checkSerum();
  this.awaitingHand = false;
  if (!this.targetPath) {
    this.show("detail", this.T.error("no_target", ""));
    return;
  }
  if (this.done) {
    this.show("detail", this.T.error("session_done", ""));
    return;
  }
  if (!this.captureFresh) {
    this.pendingNext = true;
    this.arm(this.prompt(this.applied ? "so SerumRNN hears the new sound"
                                      : "so SerumRNN hears the current sound"));
    return;
  }
  this.sendStep(false);
};

DeviceFlow.prototype.sendStep = function (isRetry) {
  var self = this, path = this.capturePath;
  this.ensureSession();
  this.captureFresh = false;
  this.show("detail", "Asking the server...");
  this.request("step", function (id) {
    return self.session ? self.P.step(id, self.session, path) : null;
  }, {
    error: function (msg) { this.stepError(msg, path, isRetry); },
    lost: function () { this.captureFresh = true; }
  });
};

DeviceFlow.prototype.stepError = function (msg, path, isRetry) {
  var code = msg.code;
  this.show("detail", this.T.error(code, msg.message, "step"));
  if (code === "session_done") {
    this.done = true;
    return;
  }
  if (this.T.isFileError(code)) {   // the capture itself: record again
    this.arm(this.T.error(code, msg.message, "step"));
    return;
  }
  this.captureFresh = true;   // the capture is still good
  if (!isRetry && (code === "unknown_session" || code === "no_target")) {
    if (code === "unknown_session") this.forgetSession();
    else this.targetSet = false;
    this.capturePath = path;
    this.sendStep(true);
  }
};

DeviceFlow.prototype.onStepReply = function (reply) {
  var adapter = this.ports.adapter;
  var end = reply.end;
  var notes = [], byHand = [];
  // Verified loops: the capture showed the applied step made the sound worse. Serum's
  // switch goes off at once, before the next candidate in this reply is applied.
  var back = reply.takeback;
  var tuneBack = this.P.isTune(back);
  if (tuneBack) {
    // A fine-tune made it worse: its knobs go back (the adapter's entry for it holds their
    // old values); nothing is switched off. What Live could not set, the producer sets back.
    if (adapter && adapter.lastLabel() === this.T.TUNE_LABEL) adapter.undo();
    if (this.applied > 0) this.applied--;
    notes.push(back.text);
    var tuned = this.forgetHandStep("");
    if (tuned && tuned.byHand) byHand = byHand.concat(tuned.tune);
  } else if (back) {
    var taken = adapter ? adapter.takeBack(back.enable, back.value) : { switched: false };
    if (this.applied > 0) this.applied--;
    notes.push(back.text);
    this.forgetHandStep(back.enable);
    if (!taken.switched) byHand.push(this.offByHand(back.enable));
  }
  // Serum holds as many steps as the server's chain before this reply's new one (an effect
  // or a fine-tune).
  var before = end.step - (reply.effect || reply.tune ? 1 : 0);
  while (this.applied > before && this.applied > 0) {
    if (adapter) adapter.undo();
    this.applied--;
  }
  if (!back) notes.push(this.T.judged(reply.judged));
  if (reply.effect) {
    var values = this.P.stepValues(reply);
    var result = adapter ? adapter.apply(values, reply.effect.label) : { missing: values };
    this.applied = end.step;
    // The verified loops keep only judged steps, so the best step is the one just offered;
    // the paper's loop's best step is an earlier one (its new step is not judged yet).
    this.verified = end.bestStep === end.step;
    notes.push(this.T.confidence(reply.effect.confidence, this.verified));
    byHand = byHand.concat(result.missing);
    this.handSteps.push({ enable: reply.effect.enable, byHand: result.missing.length > 0 });
    // Instruction mode: what Live cannot set, the producer sets; the title says what.
    this.show("instruction", byHand.length ? this.T.byHandInstruction(end.step, byHand)
      : this.T.stepTitle(end.step, "") + ". " + this.T.instruction(reply));
  } else if (reply.tune) {
    // A fine-tune: knobs of effects already on move, no effect is switched on.
    var tune = this.P.tuneValues(reply);
    var tr = adapter ? adapter.apply(tune, this.T.TUNE_LABEL) : { missing: tune };
    this.applied = end.step;
    this.verified = true;
    notes.push(this.T.confidence(reply.tune.improvement, true));
    byHand = byHand.concat(tr.missing);
    this.handSteps.push({ enable: "", tune: setBack(tr.missing), byHand: tr.missing.length > 0 });
    this.show("instruction", byHand.length ? this.T.byHandInstruction(end.step, byHand, "fine-tune")
      : this.T.stepTitle(end.step, "") + ". " + this.T.tuneInstruction(reply));
  } else if (byHand.length && tuneBack) {
    this.show("instruction", this.T.tuneBackByHand(byHand));
  } else if (byHand.length) {
    this.show("instruction", this.T.byHandInstruction(end.step, byHand));
  } else {
    this.show("instruction", "");
  }
  this.show("confidence", sentences(notes));
  this.done = !!end.done;
  this.awaitingHand = byHand.length > 0;
  if (this.done) {
    this.show("detail", (this.awaitingHand ? "Set this in Serum. " : "") +
      this.T.done(end, this.applied, this.effectCount));
  } else if (this.awaitingHand) {
    // Listening now would capture Serum before the producer turned its knobs: wait for Done.
    this.show("detail", this.T.pressDone(this.modelNote));
  } else {
    this.arm(this.prompt("so SerumRNN hears the new sound, then press Next"));
  }
};

// A switch to turn off by hand, in Serum's words.
DeviceFlow.prototype.offByHand = function (enable) {
  var a = this.ports.adapter;
  var v = { name: enable, value: 0, text: "Off", role: "enable", label: "" };
  return a ? a.inSerumsWords(v) : v;
};

// Forget the newest applied step of this switch ("" a fine-tune) and return it, or null.
DeviceFlow.prototype.forgetHandStep = function (enable) {
  for (var i = this.handSteps.length - 1; i >= 0; i--) {
    if (this.handSteps[i].enable === enable) return this.handSteps.splice(i, 1)[0];
  }
  return null;
};

// A fine-tune's values set by hand, turned round: each knob from its new value back to the
// one it had ("Mix 38 % -> 42 %").
function setBack(values) {
  var out = [];
  for (var i = 0; i < values.length; i++) {
    var v = values[i], b = {};
    for (var k in v) if (Object.prototype.hasOwnProperty.call(v, k)) b[k] = v[k];
    b.value = v.before;
    b.text = v.beforeText;
    b.before = v.value;
    b.beforeText = v.text;
    out.push(b);
  }
  return out;
}

// Undo or Reset took back steps the producer made by hand: they switch those effects off
// (and set a fine-tune's knobs back) themselves, then press Done (nothing is captured
// before that).
DeviceFlow.prototype.handBack = function (steps, word) {
  var off = [];
  for (var i = 0; i < steps.length; i++) {
    if (!steps[i].byHand) continue;
    if (steps[i].tune) off = off.concat(steps[i].tune);
    else off.push(this.offByHand(steps[i].enable));
  }
  if (!off.length) return false;
  this.awaitingHand = true;
  this.show("instruction", word + ", in Serum's FX tab: " + this.T.handSettings(off));
  this.show("detail", this.T.pressDone(this.modelNote));
  return true;
};

// Done (instruction mode): the producer has made the shown setting; capture it and send it,
// so the server judges the step and offers the next. Outside instruction mode it is Next.
DeviceFlow.prototype.doneByHand = function () {
  this.next();
};

// Display notes as one line of sentences ("A. B."), empty ones left out.
function sentences(notes) {
  var out = [];
  for (var i = 0; i < notes.length; i++) {
    var n = String(notes[i] || "").replace(/\.\s*$/, "");
    if (n) out.push(n + ".");
  }
  return out.join(" ");
}

// -- undo and reset ---------------------------------------------------------------------

// Serum is restored at once from the adapter's memory (also with the server down); the
// server is told so its chain matches. Undo of a fine-tune puts its knobs back and leaves
// the session done (the server offers none after an undone one); the next Undo takes back the
// step before it (an earlier fine-tune round, or the last effect).
DeviceFlow.prototype.undo = function () {
  var adapter = this.ports.adapter;
  var local = adapter ? adapter.undo() : null;
  if (!local && !(this.session && this.applied > 0)) {
    this.show("detail", this.T.error("nothing_to_undo", ""));
    return;
  }
  var last = this.handSteps.length ? [this.handSteps.pop()] : [];
  var tune = local ? local.label === this.T.TUNE_LABEL : !!(last.length && last[0].tune);
  this.show("detail", this.T.tookBack(local ? local.label : ""));
  this.done = tune;
  if (this.session && this.applied > 0) {
    var sid = this.session, self = this;
    this.applied--;
    this.request("undo", function (id) {
      return self.session === sid ? self.P.undo(id, sid) : null;
    }, {
      reply: function (msg) { this.applied = msg.steps; },
      error: function (msg) {
        if (msg.code === "unknown_session") this.forgetSession();
      }
    });
  }
  this.show("instruction", "");
  this.show("confidence", "");
  if (this.handBack(last, "Undo by hand")) {
    if (tune) this.show("detail", "Set this in Serum. " + this.T.tuneUndone());
    return;
  }
  if (tune) this.disarm(this.T.tuneUndone());
  else this.arm(this.prompt("so SerumRNN hears the sound, then press Next"));
};

DeviceFlow.prototype.reset = function () {
  var n = this.ports.adapter ? this.ports.adapter.resetAll() : 0;
  this.done = false;
  if (this.session) {
    var sid = this.session, self = this;
    this.applied = 0;
    this.request("reset", function (id) {
      return self.session === sid ? self.P.reset(id, sid) : null;
    }, {
      error: function (msg) {
        if (msg.code === "unknown_session") this.forgetSession();
      }
    });
  }
  this.show("instruction", "");
  this.show("confidence", "");
  this.show("detail", n ? "Serum is back to the sound before step 1" : "Nothing to reset");
  var steps = this.handSteps;
  this.handSteps = [];
  if (this.handBack(steps, "Reset by hand")) return;
  this.arm("Back to the start. " + this.prompt("then press Next"));
};

// -- replies ----------------------------------------------------------------------------

// Messages the server sends on its own (request id -1), by kind -> handler name.
var ON_MESSAGE = { ready: "onReady", stopped: "onStopped" };

// One message from udpreceive: its address and its arguments.
DeviceFlow.prototype.receive = function (address, args) {
  var msg = this.P.parseMessage(address, args);
  if (!msg || this.closed) return;
  this.heard = true;
  if (msg.kind === "malformed") return;   // not ours to act on; the request will retry
  if (Object.prototype.hasOwnProperty.call(ON_MESSAGE, msg.kind)) {
    this[ON_MESSAGE[msg.kind]](msg);
    return;
  }
  if (msg.kind === "working") {
    this.onWorking(msg);
    return;
  }
  if (!this.P.isFinal(msg) || msg.kind === "end") {
    this.stepPart(msg);
    return;
  }
  var f = this.inflight;
  if (!f || msg.requestId !== f.id) return;   // a late copy of an answered request
  this.finish();
  // any answer shows the server is up (a pong first has its version checked)
  if (this.server !== "up" && this.server !== "mismatch" && msg.kind !== "error" &&
      msg.kind !== "pong") {
    this.serverUp(this.groups);
  }
  if (msg.kind === "error") {
    if (f.h.error) f.h.error.call(this, msg);
    else this.show("detail", this.T.error(msg.code, msg.message, f.name));
  } else if (f.h.reply) {
    f.h.reply.call(this, msg);
  }
  this.pump();
};

DeviceFlow.prototype.onReady = function (msg) {
  if (this.session) this.forgetSession();   // a new server knows no session
  if (this.versionOk(msg.protocol)) this.serverUp(msg.groups);
};

DeviceFlow.prototype.onStopped = function () {
  this.forgetSession();
  this.server = "down";
  this.show("status", this.T.serverStopped());
  this.schedulePing(PING_RETRY_MS);
};

DeviceFlow.prototype.stepPart = function (msg) {
  var reply = this.assembler.add(msg);
  if (!reply) return;
  var f = this.inflight;
  var mine = f && f.name === "step" && msg.requestId === f.id;
  var fromMidi = msg.requestId === this.P.NO_REQUEST && msg.session === this.session &&
    !this.queued("step");
  if (!mine && !fromMidi) {
    this.assembler.forget(msg.requestId);
    return;
  }
  if (!reply.complete) {
    // A datagram went missing: ask again with the same id; the server replays its cache.
    if (mine && f.tries < this.P.MAX_TRIES) {
      if (f.timer) this.ports.cancel(f.timer);
      this.transmit();
      return;
    }
    this.assembler.forget(msg.requestId);
    if (mine) {
      this.finish();
      this.captureFresh = true;
      this.show("detail", this.T.incomplete());
      this.pump();
    }
    return;
  }
  this.assembler.forget(msg.requestId);
  if (mine) this.finish();
  if (this.server !== "up" && this.server !== "mismatch") this.serverUp(this.groups);
  this.onStepReply(reply);
  if (mine) this.pump();
};

DeviceFlow.prototype.state = function () {
  return {
    server: this.server, group: this.group, session: this.session,
    targetPath: this.targetPath, targetSet: this.targetSet, capturePath: this.capturePath,
    captureFresh: this.captureFresh, armed: this.armed, capturing: this.capturing,
    replyPort: this.replyPort, serverPort: this.serverPort, awaitingHand: this.awaitingHand,
    applied: this.applied, done: this.done, queue: this.queue.length,
    inflight: this.inflight ? this.inflight.name : null
  };
};

// -- where captures go ------------------------------------------------------------------

// The capture WAV: one file per device instance, overwritten by each capture, in the
// system's temp folder, as an absolute native path the server can open. `os` is Max's
// max.os ("macintosh" | "windows"); `devicePath` is where the device file sits (Max
// style), used on Windows to find the user's folder; `tag` tells instances apart.
function captureFile(os, devicePath, tag) {
  var name = "serumrnn-capture-" + tag + ".wav";
  if (os !== "windows") return "/tmp/" + name;
  var p = String(devicePath || "").replace(/\\/g, "/");
  var m = /^([A-Za-z]:\/Users\/[^/]+)\//.exec(p);
  if (m) return m[1] + "/AppData/Local/Temp/" + name;
  var dir = p.replace(/\/[^/]*$/, "");
  return (dir || "C:/Users/Public") + "/" + name;
}

var api = { DeviceFlow: DeviceFlow, PING_EVERY_MS: PING_EVERY_MS, PING_RETRY_MS: PING_RETRY_MS,
            PARAMS_SETTLE_MS: PARAMS_SETTLE_MS, LOADING_RETRY_MS: LOADING_RETRY_MS, LAUNCHER_SILENT_MS: LAUNCHER_SILENT_MS, ON_MESSAGE: ON_MESSAGE, captureFile: captureFile };
if (typeof exports !== "undefined") { for (var key in api) exports[key] = api[key]; }
