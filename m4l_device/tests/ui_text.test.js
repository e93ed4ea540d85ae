// What the producer reads: instructions, confidence, done, and every error code.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const T = require("../ui_text.js");

test("the instruction is the server's sentence, or built from the knobs", () => {
  const reply = { effect: { label: "Distortion" },
                  knobs: [{ label: "Mode", text: "Tube" }, { label: "Drive", text: "72 %" }],
                  end: { instruction: "" } };
  assert.equal(T.instruction(reply), "Turn on Distortion: Mode Tube, Drive 72 %");
  reply.end.instruction = "Turn on Distortion: Mode Tube, Drive 72 %";
  assert.equal(T.instruction(reply), reply.end.instruction);
  assert.equal(T.instruction({ effect: null }), "");
});

test("confidence and judged steps read as percentages and distances", () => {
  assert.equal(T.confidence(0.43, true), "Expected to remove 43 % of the difference");
  assert.equal(T.confidence(1, true), "Expected to remove 100 % of the difference");
  assert.equal(T.confidence(0.41, false), "Selector 41 % sure");
  assert.equal(T.confidence(undefined, true), "");
  assert.equal(T.judged({ step: 1, improved: true, before: 0.0651, after: 0.0412 }),
               "Step 1 brought the sound closer (distance 0.065 \u2192 0.041)");
  assert.match(T.judged({ step: 2, improved: false, before: 0.04, after: 0.05 }),
               /^Step 2 moved the sound away/);
  assert.equal(T.judged(null), "");
});

test("done says why and how many undos lead back to the best step", () => {
  assert.equal(T.done({ done: true, reason: "worse", bestStep: 1 }, 2),
               "Done: further steps made the sound worse. Best after step 1: press Undo once.");
  assert.equal(T.done({ done: true, reason: "all_effects", bestStep: 3 }, 5, 5),
               "Done: all 5 effects are on. Best after step 3: press Undo 2 times.");
  // the count is the spec's: a spec with six effects says six
  assert.equal(T.done({ done: true, reason: "all_effects", bestStep: 6 }, 6, 6),
               "Done: all 6 effects are on.");
  assert.match(T.done({ done: true, reason: "worse", bestStep: 0 }, 1), /press Reset/);
  // the verified loops: the best step is the current one, nothing to roll back
  assert.equal(T.done({ done: true, reason: "already_matches", bestStep: 0 }, 0),
               "Done: the sound already matches the target, no step needed.");
  assert.equal(T.done({ done: true, reason: "reached", bestStep: 2 }, 2),
               "Done: the sound now matches the target.");
  assert.equal(T.done({ done: true, reason: "no_closer", bestStep: 1 }, 1),
               "Done: no remaining effect brings it closer.");
  for (const reason of ["already_matches", "reached", "no_closer", "all_effects", "worse"]) {
    assert.equal(T.done({ done: true, reason, bestStep: 1 }, 1, 5), T.doneReason(reason, 5));
    assert.doesNotMatch(T.doneReason(reason, 5), /\{|undefined/);
  }
  assert.equal(T.done({ done: false }, 1), "");
});

test("server status lines: the device starts the server itself, so no terminal step", () => {
  assert.equal(T.serverReady(["basic_shapes"]), "Server ready (basic_shapes)");
  assert.equal(T.serverDown(9870), "Server not answering on port 9870: starting it");
  assert.equal(T.serverStopped(), "Server stopped: starting it again");
  for (const line of [T.serverDown(9870), T.serverStopped()]) assert.doesNotMatch(line, /terminal/);
});

test("instruction mode speaks Serum's words, grouped by effect", () => {
  const v = [
    { effectLabel: "Distortion", role: "enable", text: "On", word: "On/off" },
    { effectLabel: "Distortion", role: "knob", text: "HardClip", word: "Mode" },
    { effectLabel: "Hall Reverb", role: "enable", text: "Off", word: "On/off" },
  ];
  assert.equal(T.handSettings(v), "Distortion: switch it on, Mode HardClip; Hall Reverb: switch it off");
  assert.equal(T.byHandInstruction(3, v.slice(0, 1)), "Step 3, in Serum's FX tab: Distortion: switch it on");
  assert.match(T.serumSummary({ name: "Serum 2", version: 2, missing: [{ names: ["a"] }] }),
               /^Serum 2 \(Serum 2\) found: it shows its effects to Live only as FX Main Param slots/);
});

test("file errors say which file; protocol errors say what to do", () => {
  assert.equal(T.error("missing", "/x/want.wav does not exist", "target"),
               "Target sound: /x/want.wav does not exist");
  assert.equal(T.error("noise_only", "want.wav is noise", "target"), "Target sound: want.wav is noise");
  assert.match(T.error("silent", "capture.wav is silent", "step"), /^The capture had no sound/);
  assert.equal(T.error("corrupt", "capture.wav is truncated", "step"),
               "Captured sound: capture.wav is truncated");
  assert.equal(T.error("no_target", ""), "Drop a target sound first");
  assert.match(T.error("session_done", "x"), /press Undo or Reset/);
  assert.equal(T.error("nothing_to_undo", ""), "Nothing to undo");
  assert.match(T.error("missing_group", "no models for advanced_shapes"), /no models for this group/);
  assert.match(T.error("busy", ""), /busy/);
  for (const code of ["not_regular", "bad_path", "bad_rate"]) {
    assert.equal(T.isFileError(code), true, code + " re-arms the capture");
    assert.equal(T.error(code, "capture.wav: " + code, "step"), "Captured sound: capture.wav: " + code);
  }
  assert.equal(T.error("too_many_sessions", "x"),
               "The server has too many open sessions: close another SerumRNN or restart the server");
  assert.equal(T.error("too_many_messages", "x"),
               "The server got too many messages at once: press Next again");
  assert.equal(T.versionMismatch("1", "2"), "Server speaks protocol 1, this device 2: update " +
               "the device and the server to the same SerumRNN release");
  assert.equal(T.error("weird_code", "text"), "weird_code: text");
  assert.ok(T.isFileError("silent") && T.isFileError("relative_path") && !T.isFileError("busy"));
});

test("a fine-tune reads as the server's sentence, or from -> to per knob; Undo names it", () => {
  const reply = { tune: { step: 3, improvement: 0.25, knobs: 1 },
                  tuneKnobs: [{ label: "Mix", text: "38 %", beforeText: "42 %", effectLabel: "Hall Reverb" }],
                  end: { instruction: "" } };
  assert.equal(T.tuneInstruction(reply), "Fine-tune: Hall Reverb Mix 42 % \u2192 38 %");
  reply.end.instruction = "Fine-tune: Reverb Mix 42 % \u2192 38 %";
  assert.equal(T.tuneInstruction(reply), reply.end.instruction);
  assert.equal(T.tuneInstruction({ tune: null }), "");
  const hand = [{ effectLabel: "Hall Reverb", word: "Mix", text: "38 %", beforeText: "42 %", role: "knob" }];
  assert.equal(T.byHandInstruction(3, hand, "fine-tune"),
               "Step 3, fine-tune, in Serum's FX tab: Hall Reverb: Mix 42 % \u2192 38 %");
  assert.equal(T.tuneBackByHand(hand), "Set the fine-tune back, in Serum's FX tab: Hall Reverb: Mix 42 % \u2192 38 %");
  assert.equal(T.tookBack(T.TUNE_LABEL), "Took back the fine-tune");
  assert.equal(T.tookBack("Distortion"), "Took back Distortion");
  assert.equal(T.tookBack(""), "Took back the last step");
});
