// The ESLint profiles (eslint.config.js) do what they say: ES2015+ in a file Max's js object
// runs is an error, the same code in server_launcher.js (Node) is fine, and the device's
// files lint clean.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { ESLint } = require("eslint");

const DEVICE = path.resolve(__dirname, "..");

async function problems(source, file) {
  const eslint = new ESLint({ cwd: DEVICE });
  const [r] = await eslint.lintText(source, { filePath: path.join(DEVICE, file) });
  return r.messages.map((m) => m.message);
}

test("a Max js file: ES2015+ is a syntax error, Max's globals are known", async () => {
  const bad = await problems("let a = 1;\n", "device_flow.js");
  assert.equal(bad.length, 1);
  assert.match(bad[0], /Parsing error/);
  assert.deepEqual(await problems("var t = new Task(function () { post('x'); }, this);\nt.schedule(1);\n",
                                  "serumrnn_device.js"), []);
  assert.match((await problems("var x = undefinedThing;\n", "ui_text.js"))[0], /'undefinedThing' is not defined/);
});

test("server_launcher.js is Node: const and arrows are fine", async () => {
  assert.deepEqual(await problems("const f = (x) => x;\nmodule.exports = f;\n", "server_launcher.js"), []);
});

test("the device's JavaScript lints clean", async () => {
  const eslint = new ESLint({ cwd: DEVICE });
  const results = await eslint.lintFiles(["."]);
  const errors = results.flatMap((r) => r.messages.map((m) => path.basename(r.filePath) + ":" + m.line + " " + m.message));
  assert.deepEqual(errors, []);
  assert.ok(results.length >= 20, "it looked at the files (" + results.length + ")");
});
