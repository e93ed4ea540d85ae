// The Max side of the SerumRNN device: the js object's inlet and outlets, LiveAPI, Task,
// Dict and the recorder, wired to the pure modules beside this file. What to do, and
// when, is decided in device_flow.js; this file only translates.
//
// Inlet messages: init (from live.thisdevice), next, capture, undo, reset, onset,
//   group <name>, target <path>, and every /serumrnn/... message from udpreceive.
// Outlets: 0 requests for udpsend; 1 display lines "<field> <text>"; 2 recorder
//   commands "start" and "write <path>".
//
// ES5 only: Max's js object runs an old JavaScript.

autowatch = 0;
inlets = 1;
outlets = 3;
setinletassist(0, "buttons, menu, drop, onsets, udpreceive");
setoutletassist(0, "to udpsend");
setoutletassist(1, "display lines: status serum instruction confidence detail");
setoutletassist(2, "recorder: start, write <path>");

var protocol = require("osc_protocol");
var text = require("ui_text");
var liveAdapter = require("live_adapter");
var deviceFlow = require("device_flow");

var OUT_OSC = 0;
var OUT_DISPLAY = 1;
var OUT_RECORDER = 2;
var REPLY_PORT = 9871;          // the patcher's [udpreceive 9871]
var RECORD_MS = 1000;           // one note: the models hear one second
var WRITE_AFTER_MS = 1080;      // record~ has filled ---capture by then
var WRITTEN_AFTER_MS = 200;     // writewave has closed the file by then

var flow = null;
var early = [];                 // messages that arrive before live.thisdevice says go
var captureTag = Math.floor(Math.random() * 0xffffff).toString(16);

function after(ms, fn) {
  var task = new Task(function () { fn(); }, this);
  task.schedule(ms);
  return task;
}

function cancel(task) {
  if (task) task.cancel();
}

function loadSpec() {
  try {
    var d = new Dict();
    d.import_json("serumrnn_spec.json");
    return JSON.parse(d.stringify());
  } catch (e) {
    post("SerumRNN: cannot read serumrnn_spec.json beside the device: " + e + "\n");
    return { effects: [] };
  }
}

function capturePath() {
  return deviceFlow.captureFile(max.os, this.patcher ? this.patcher.filepath : "", captureTag);
}

function record() {
  var path = capturePath();
  outlet(OUT_RECORDER, "start");
  after(WRITE_AFTER_MS, function () {
    outlet(OUT_RECORDER, "write", path);
    after(WRITTEN_AFTER_MS, function () {
      if (flow) flow.captured(path);
    });
  });
}

function init() {
  if (flow) return;
  var spec = loadSpec();
  var adapter = new liveAdapter.LiveAdapter(LiveAPI, spec, {
    log: function (m) { post("SerumRNN: " + m + "\n"); }
  });
  flow = new deviceFlow.DeviceFlow({
    send: function (list) { outlet(OUT_OSC, list); },
    show: function (field, value) { outlet(OUT_DISPLAY, field, value); },
    record: record,
    after: after,
    cancel: cancel,
    now: function () { return new Date().getTime(); },
    adapter: adapter,
    replyPort: REPLY_PORT
  }, { protocol: protocol, text: text });
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
  else if (name === "capture") flow.capture();
  else if (name === "undo") flow.undo();
  else if (name === "reset") flow.reset();
  else if (name === "onset") flow.onset();
  else if (name === "group") flow.setGroup(args.join(" "));
  else if (name === "target") flow.dropTarget(args.join(" "));
}

function bang() { init(); }
function next() { dispatch("next", []); }
function capture() { dispatch("capture", []); }
function undo() { dispatch("undo", []); }
function reset() { dispatch("reset", []); }
function onset() { dispatch("onset", []); }
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

// The device is removed or the Live set closes: end the session.
function notifydeleted() {
  if (flow) flow.close();
}
