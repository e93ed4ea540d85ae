// Max's js object runs an old JavaScript (ES5). Every file Max runs is parsed with acorn
// at ecmaVersion 5, so a `let`, an arrow or a template string fails here instead of in
// Live. The files are found from the patcher itself: its js boxes and what they require().
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const DEVICE = path.resolve(__dirname, "..");
const PATCHER = path.join(DEVICE, "SerumRNN.maxpat");

let acorn;
try {
  acorn = require("acorn");
} catch (e) {
  throw new Error("acorn is missing: run `npm ci` in m4l_device/ (make test does)", { cause: e });
}

function parse5(source, file) {
  return acorn.parse(source, { ecmaVersion: 5, sourceType: "script", locations: true,
                               sourceFile: file });
}

function walk(node, visit) {
  if (!node || typeof node.type !== "string") return;
  visit(node);
  for (const key of Object.keys(node)) {
    const v = node[key];
    if (Array.isArray(v)) v.forEach((c) => walk(c, visit));
    else if (v && typeof v === "object" && typeof v.type === "string") walk(v, visit);
  }
}

function requiresOf(ast) {
  const out = [];
  walk(ast, (n) => {
    // require("x"), or the glue's part("x") (require with a "damaged" message)
    if (n.type === "CallExpression" && n.callee.type === "Identifier" &&
        (n.callee.name === "require" || n.callee.name === "part") &&
        n.arguments[0] && n.arguments[0].type === "Literal") {
      out.push(n.arguments[0].value);
    }
  });
  return out;
}

function jsBoxes(patcher) {
  const out = [];
  (function scan(p) {
    for (const b of p.boxes) {
      const box = b.box;
      if (box.maxclass === "newobj" && /^js\s/.test(box.text || "")) out.push(box.text.split(/\s+/)[1]);
      if (box.patcher) scan(box.patcher);
    }
  })(patcher.patcher);
  return out;
}

// Files run by node.script (Node for Max: a current Node, not Max's js engine).
function nodeScriptBoxes(patcher) {
  const out = [];
  for (const b of patcher.patcher.boxes) {
    const box = b.box;
    if (box.maxclass === "newobj" && /^node\.script\s/.test(box.text || "")) out.push(box.text.split(/\s+/)[1]);
  }
  return out;
}

// Every file Max runs: the js boxes' files and, recursively, what they require().
function maxRunFiles() {
  const patcher = JSON.parse(fs.readFileSync(PATCHER, "utf8"));
  const todo = jsBoxes(patcher);
  const seen = new Map();
  while (todo.length) {
    let name = todo.shift();
    if (!/\.js$/.test(name)) name += ".js";
    if (seen.has(name)) continue;
    const file = path.join(DEVICE, name);
    const source = fs.readFileSync(file, "utf8");
    const ast = parse5(source, name);
    seen.set(name, ast);
    todo.push(...requiresOf(ast));
  }
  return seen;
}

const MAX_GLUE = "serumrnn_device.js";
const NODE_ONLY = ["console", "process", "setTimeout", "setInterval", "Promise",
                   "Symbol", "Map", "Set", "WeakMap", "globalThis", "__dirname"];
const MAX_GLOBALS = ["post", "outlet", "Task", "LiveAPI", "messagename", "jsarguments",
                     "inlet", "inlets", "outlets", "Dict", "File", "Folder", "max", "patcher",
                     "autowatch", "error", "Buffer", "arrayfromargs"];

test("the patcher's js boxes and their modules all parse as ES5", () => {
  const files = maxRunFiles();
  assert.ok(files.has(MAX_GLUE), "the patcher runs " + MAX_GLUE);
  for (const name of ["osc_protocol.js", "ui_text.js", "live_adapter.js", "device_flow.js",
                      "capture.js", "serumrnn_spec.js"]) {
    assert.ok(files.has(name), MAX_GLUE + " requires " + name);
  }
});

test("every JavaScript file beside the patcher is ES5 (not only those found)", () => {
  const node = nodeScriptBoxes(JSON.parse(fs.readFileSync(PATCHER, "utf8")));
  const tooling = ["eslint.config.js"];   // read by ESLint under node, never by Max
  const names = fs.readdirSync(DEVICE).filter((f) => f.endsWith(".js") && !node.includes(f) &&
                                              !tooling.includes(f));
  assert.ok(names.length >= 5);
  for (const name of names) {
    assert.doesNotThrow(() => parse5(fs.readFileSync(path.join(DEVICE, name), "utf8"), name), name);
  }
});

test("node.script runs server_launcher.js, a Node script (not for Max's js object)", () => {
  const node = nodeScriptBoxes(JSON.parse(fs.readFileSync(PATCHER, "utf8")));
  assert.deepEqual(node, ["server_launcher.js"]);
  const src = fs.readFileSync(path.join(DEVICE, node[0]), "utf8");
  assert.doesNotThrow(() => acorn.parse(src, { ecmaVersion: 2020, sourceType: "script" }));
  assert.throws(() => parse5(src, node[0]), SyntaxError, "it is not ES5, so Max's js could not run it");
});

test("the check catches ES2015+ syntax", () => {
  const bad = ["let a = 1;", "const b = 2;", "var f = (x) => x;", "class A {}",
               "var s = `t${1}`;", "for (var x of [1]) {}", "function g(a = 1) {}",
               "var o = {...{}};", "var [p, q] = [1, 2];", "var o = {m() {}};",
               "import x from 'y';", "async function h() {}"];
  for (const src of bad) assert.throws(() => parse5(src, "snippet"), SyntaxError, src);
  assert.doesNotThrow(() => parse5("var ok = function (a) { return [a, {b: 1}]; };", "ok"));
});

test("no Max-run file relies on node-only globals", () => {
  for (const [name, ast] of maxRunFiles()) {
    walk(ast, (n) => {
      if (n.type === "Identifier" && NODE_ONLY.includes(n.name)) {
        assert.fail(name + ":" + n.loc.start.line + " uses " + n.name + ", which Max's js lacks");
      }
    });
  }
});

test("only the Max glue touches Max and Live globals; the other modules are pure", () => {
  for (const [name, ast] of maxRunFiles()) {
    if (name === MAX_GLUE) continue;
    const declared = new Set();
    walk(ast, (n) => {
      if (n.type === "VariableDeclarator") declared.add(n.id.name);
      if (n.type === "FunctionDeclaration") declared.add(n.id.name);
      if (/^Function/.test(n.type)) n.params.forEach((p) => declared.add(p.name));
    });
    walk(ast, (n) => {
      // `x.LiveAPI` (injected) is fine; a free `LiveAPI` or `outlet` is not.
      if (n.type === "MemberExpression" && !n.computed) n.property.member = true;
      if (n.type === "Property" && !n.computed) n.key.member = true;
      if (n.type === "Identifier" && !n.member && MAX_GLOBALS.includes(n.name) &&
          !declared.has(n.name)) {
        assert.fail(name + ":" + n.loc.start.line + " uses the Max global " + n.name);
      }
    });
  }
});

test("require() names in Max-run files resolve to files beside the patcher", () => {
  for (const [name, ast] of maxRunFiles()) {
    for (const r of requiresOf(ast)) {
      assert.ok(!/[/\\]/.test(r), name + " requires " + r + ": Max looks modules up by name");
      assert.ok(fs.existsSync(path.join(DEVICE, r.endsWith(".js") ? r : r + ".js")), r);
    }
  }
});
