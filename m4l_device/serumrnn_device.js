// The Max side of the SerumRNN device: the js object's inlet and outlets, LiveAPI, Task,
// Buffer and the recorder, wired to the pure modules beside this file. What to do, and
// when, is decided in device_flow.js; this file only translates.
//
// Inlet messages: init (from live.thisdevice), next, done, capture, undo, reset, onset,
//   onsetat <phase>, home <path>, group <name>, target <path>, serverport <N> (the Port
//   box), server <state> <text> (from node.script: server_launcher.js), and every
//   /serumrnn/... message from udpreceive.
// Outlets: 0 requests for udpsend; 1 display lines "<field> <text>"; 2 device control,
//   routed in the patcher: "port N" (udpreceive), "arm 0|1" (the onset gate), "snap"
//   (read the held onset position), "ring <name>" / "cap <name>" (buffer~ names),
//   "rec <name>" (record~'s buffer, then start), "home" (ask for the home folder),
//   "launch start <N>" / "launch stop" (node.script), "sendport N" (udpsend's port).
//
// ES5 only: Max's js object runs an old JavaScript.

autowatch = 0;
inlets = 1;
outlets = 3;
setinletassist(0, "buttons, menu, drop, onsets, udpreceive");
setoutletassist(0, "to udpsend");
setoutletassist(1, "display lines: status serum instruction confidence detail configure");
setoutletassist(2, "device control: port, arm, snap, ring, cap, rec, home, launch, sendport");

// Each part of the device, loaded by name. A part that cannot be loaded (a device copied
// without its files) makes the panel say "damaged: ..." instead of staying on its start-up
// text (Max prints an uncaught error only to its console).
var damaged = "";
function part(name) {
  try {
    return require(name);
  } catch (e) {
    if (!damaged) damaged = name + ".js is missing or broken (" + e + ")";
    return null;
  }
}

// The one sentence for a damaged device (ui_text.js may be the missing part).
function damagedLine(why) {
  return "SerumRNN is damaged: " + why + ". Reinstall the device";
}

var protocol = part("osc_protocol");
var text = part("ui_text");
var liveAdapter = part("live_adapter");
var deviceFlow = part("device_flow");
var recorder = part("capture");
// The effect spec as a module (written by `serumrnn device build` from serumrnn_spec.json),
// so it travels like the other modules and freezing takes it in.
var specModule = part("serumrnn_spec");

var OUT_OSC = 0;
var OUT_DISPLAY = 1;
var OUT_CONTROL = 2;
var WRITTEN_AFTER_MS = 200;     // writewave has closed the file by then

var flow = null;
var early = [];                 // messages that arrive before live.thisdevice says go
var tasks = [];                 // every pending Task, cancelled when the device goes away
var tag = Math.floor(Math.random() * 0xffffff).toString(16);
// Buffer names unique to this instance (the patcher's ---names are replaced by a number
// Max chooses, which the js cannot know, so the js names the buffers itself).
var RING = "serumrnn-" + tag + "-ring";
var CAP = "serumrnn-" + tag + "-cap";
var pendingCapture = null;      // the capture path waiting for the onset position

function after(ms, fn) {
  var task = new Task(function () {
    tasks = remove(tasks, task);
    fn();
  }, this);
  tasks.push(task);
  task.schedule(ms);
  return task;
}

function cancel(task) {
  if (!task) return;
  task.cancel();
  tasks = remove(tasks, task);
}

function remove(list, item) {
  var out = [];
  for (var i = 0; i < list.length; i++) if (list[i] !== item) out.push(list[i]);
  return out;
}

function show(field, value) {
  outlet(OUT_DISPLAY, field, value);
}

function capturePath() {
  return deviceFlow.captureFile(max.os, this.patcher ? this.patcher.filepath : "", tag);
}

// A note started: once its second is in the ring, read where it began (snap ->
// snapshot~ -> "onsetat <phase>"), copy it and write the WAV.
function record() {
  pendingCapture = capturePath();
  after(recorder.COPY_AFTER_MS, function () { outlet(OUT_CONTROL, "snap"); });
}

function onsetat(phase) {
  var path = pendingCapture;
  pendingCapture = null;
  if (!path || !flow) return;
  var ring = null, cap = null;
  try {
    ring = new Buffer(RING);
    cap = new Buffer(CAP);
    recorder.copyCapture(ring, cap, phase);
    cap.send("writewave", path);
  } catch (e) {
    flow.captureFailed(String(e));
    return;
  } finally {
    // The js garbage collector does not see a Buffer's native peer: free it now, or every
    // capture keeps one (Cycling '74, "The Buffer Object": freepeer).
    if (ring) ring.freepeer();
    if (cap) cap.freepeer();
  }
  after(WRITTEN_AFTER_MS, function () {
    if (flow) flow.captured(path);
  });
}

function init() {
  if (flow) return;
  var problem = damaged || liveAdapter.specProblem(specModule.spec);
  if (problem) {
    post("SerumRNN: " + problem + "\n");
    show("status", damagedLine(problem));
    show("serum", "");
    return;
  }
  var spec = specModule.spec;
  outlet(OUT_CONTROL, "ring", RING);
  outlet(OUT_CONTROL, "cap", CAP);
  outlet(OUT_CONTROL, "rec", RING);
  outlet(OUT_CONTROL, "arm", 0);
  var adapter = new liveAdapter.LiveAdapter(LiveAPI, spec, {
    log: function (m) { post("SerumRNN: " + m + "\n"); }
  });
  flow = new deviceFlow.DeviceFlow({
    send: function (list) { outlet(OUT_OSC, list); },
    show: show,
    record: record,
    arm: function (on) { outlet(OUT_CONTROL, "arm", on ? 1 : 0); },
    after: after,
    cancel: cancel,
    random: Math.random,
    listen: function (port) { outlet(OUT_CONTROL, "port", port); },
    launch: function (what, port) {
      if (port === undefined) outlet(OUT_CONTROL, "launch", what);
      else outlet(OUT_CONTROL, "launch", what, port);
    },
    serverPort: function (port) { outlet(OUT_CONTROL, "sendport", port); },
    adapter: adapter,
    modelNote: specModule.model_note,
    effectCount: spec.effects.length,
    os: max.os,
    damaged: damagedLine
  }, { protocol: protocol, text: text });
  outlet(OUT_CONTROL, "home");
  flow.start();
  var queued = early;
  early = [];
  for (var i = 0; i < queued.length; i++) dispatch(queued[i][0], queued[i][1]);
}

function dispatch(name, args) {
  if (!flow) {
    early.push([name, args]);
    return;
  }
  if (name === "next") flow.next();
  else if (name === "done") flow.doneByHand();
  else if (name === "serverport") flow.setServerPort(args[0]);
  else if (name === "server") flow.launcherSays(args[0], args.slice(1).join(" "));
  else if (name === "capture") flow.capture();
  else if (name === "undo") flow.undo();
  else if (name === "reset") flow.reset();
  else if (name === "onset") flow.onset();
  else if (name === "home") flow.setHome(args.join(" "));
  else if (name === "group") flow.setGroup(args.join(" "));
  else if (name === "target") flow.dropTarget(args.join(" "));
}

function bang() { init(); }
function next() { dispatch("next", []); }
function done() { dispatch("done", []); }
function serverport() { dispatch("serverport", arrayfromargs(arguments)); }
function server() { dispatch("server", arrayfromargs(arguments)); }
function capture() { dispatch("capture", []); }
function undo() { dispatch("undo", []); }
function reset() { dispatch("reset", []); }
function onset() { dispatch("onset", []); }
function home() { dispatch("home", arrayfromargs(arguments)); }
function group() { dispatch("group", arrayfromargs(arguments)); }
function target() { dispatch("target", arrayfromargs(arguments)); }

// udpreceive hands over each OSC message as "<address> <args...>".
function anything() {
  var args = arrayfromargs(arguments);
  if (messagename.indexOf(protocol.PREFIX + "/") === 0) {
    if (flow) flow.receive(messagename, args);
    return;
  }
  post("SerumRNN: unknown message " + messagename + "\n");
}

// The device is removed or the Live set closes: end the session, cancel every Task.
function notifydeleted() {
  if (flow) flow.close();
  for (var i = 0; i < tasks.length; i++) tasks[i].cancel();
  tasks = [];
  pendingCapture = null;
  flow = null;
}
