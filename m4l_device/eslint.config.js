// ESLint for the device's JavaScript (`npm run lint`; `make lint` runs it too).
// Three profiles, because three engines run these files:
//   - the js object's files (everything the patcher's js box loads): ES5 scripts, as Max's
//     js object runs them, with Max's globals and CommonJS 1.0 `exports`/`require`;
//   - server_launcher.js: run by node.script (Node for Max), a current Node;
//   - the tests and this file: plain Node.
"use strict";

const js = require("@eslint/js");

// Globals of Max's js object (Cycling '74, "JavaScript in Max": the universally available
// methods and objects) that the device's files use.
const MAX_GLOBALS = {
  post: "readonly", error: "readonly", outlet: "readonly", messagename: "readonly",
  jsarguments: "readonly", inlet: "readonly", inlets: "writable", outlets: "writable",
  autowatch: "writable", setinletassist: "readonly", setoutletassist: "readonly",
  arrayfromargs: "readonly", max: "readonly", Task: "readonly", Buffer: "readonly",
  LiveAPI: "readonly", exports: "writable", require: "readonly",
};

const NODE_GLOBALS = {
  require: "readonly", module: "writable", exports: "writable", process: "readonly",
  console: "readonly", __dirname: "readonly", __filename: "readonly", Buffer: "readonly",
  setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly",
  clearInterval: "readonly",
};

module.exports = [
  { ignores: ["node_modules/**", "serumrnn_spec.js"] },
  {
    files: ["*.js"],
    ignores: ["server_launcher.js", "eslint.config.js"],
    ...js.configs.recommended,
    languageOptions: { ecmaVersion: 5, sourceType: "script", globals: MAX_GLOBALS },
    rules: {
      ...js.configs.recommended.rules,
      // Max calls the top-level functions (bang, next, anything...) by message name; ES5
      // has no catch without a binding.
      "no-unused-vars": ["error", { vars: "local", args: "none", caughtErrors: "none" }],
      // Each required module has its own scope in Max (CommonJS), so ui_text's `error`
      // does not hide Max's global `error`.
      "no-redeclare": ["error", { builtinGlobals: false }],
    },
  },
  {
    files: ["server_launcher.js"],
    ...js.configs.recommended,
    languageOptions: { ecmaVersion: 2020, sourceType: "commonjs", globals: NODE_GLOBALS },
    rules: { ...js.configs.recommended.rules, "no-unused-vars": ["error", { caughtErrors: "none" }] },
  },
  {
    files: ["tests/**/*.js", "eslint.config.js"],
    ...js.configs.recommended,
    languageOptions: { ecmaVersion: 2022, sourceType: "commonjs", globals: NODE_GLOBALS },
    rules: { ...js.configs.recommended.rules,
             "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }] },
  },
];
