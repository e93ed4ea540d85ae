// Where a capture comes from in the recorder's ring buffer. The patcher records Serum's
// output without pause into a ring (record~ in loop mode) and a sample-and-hold (sah~)
// keeps the ring position of the first sample of the note, gated in the signal path,
// so the capture starts exactly at the note whatever the js object's timing (Max runs
// js in the low-priority thread). Afterwards the js copies one second from that
// position into the capture buffer and writes it as a WAV. Pure arithmetic, so node
// tests check the wrap-around; the Max glue (serumrnn_device.js) does the copying.
//
// ES5 only: Max's js object runs an old JavaScript.

// The ring is this long: a capture is copied about 1.2 s after its note started, and
// the ring must not have come round to the note again by then.
var RING_MS = 4000;
// What the models hear: one second of the note.
var CAPTURE_MS = 1000;
// The copy waits until the note's second is in the ring (and a little more, for the
// audio driver's buffer).
var COPY_AFTER_MS = 1200;

// The ring frame where the note started, from record~'s sync output held by sah~
// (0..1 through the ring).
function onsetFrame(syncPhase, ringFrames) {
  var p = Number(syncPhase);
  if (!isFinite(p) || p < 0) p = 0;
  var f = Math.floor(p * ringFrames);
  return f >= ringFrames ? ringFrames - 1 : f;
}

// The pieces to copy: [[ringFrom, count, captureFrom], ...], one or two (wrap-around).
function segments(start, count, ringFrames) {
  if (count > ringFrames) throw new Error("a capture longer than the ring");
  var first = Math.min(count, ringFrames - start);
  var out = [[start, first, 0]];
  if (first < count) out.push([0, count - first, first]);
  return out;
}

// Copy with peek(channel, frame, count) and poke(channel, frame, values), the Buffer
// object's methods (Cycling '74, "The Buffer Object"; channels count from 1).
function copyCapture(ring, capture, syncPhase) {
  var ringFrames = ring.framecount();
  var count = capture.framecount();
  var parts = segments(onsetFrame(syncPhase, ringFrames), count, ringFrames);
  for (var i = 0; i < parts.length; i++) {
    capture.poke(1, parts[i][2], ring.peek(1, parts[i][0], parts[i][1]));
  }
  return parts;
}

var api = { RING_MS: RING_MS, CAPTURE_MS: CAPTURE_MS, COPY_AFTER_MS: COPY_AFTER_MS,
            onsetFrame: onsetFrame, segments: segments, copyCapture: copyCapture };
if (typeof exports !== "undefined") { for (var key in api) exports[key] = api[key]; }
