"""The device's js as one file: the Max glue with every module it loads inlined.

Why: a frozen device then embeds one js file (and node.script's launcher), and nothing
depends on how Max's ``require`` searches a frozen device. Each module keeps its own scope
(it runs as a function of ``exports``, the CommonJS 1.0 form Max's ``require`` gives it);
the glue's top-level functions stay global, as Max calls them by message name. The result
is ES5, like its parts (the tests parse it with acorn at ecmaVersion 5).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

#: How the glue loads a part (serumrnn_device.js: ``part("name")`` wraps ``require``).
PART_CALL = re.compile(r'\bpart\("([A-Za-z0-9_]+)"\)')
#: The one ``require(`` call inside the glue's ``part``.
REQUIRE_CALL = "return require(name);"


def bundle(glue: str, module_dir: Path) -> str:
    """The glue with its parts inlined; KeyError-free: a part missing here is an error."""
    names = list(dict.fromkeys(PART_CALL.findall(glue)))
    if not names:
        raise ValueError('the glue loads no parts with part("...")')
    if glue.count(REQUIRE_CALL) != 1:
        raise ValueError(f"the glue must call {REQUIRE_CALL!r} exactly once")
    out = [
        "// Built by `serumrnn device build`: serumrnn_device.js with its parts inlined. Do not edit.\n",
        "var BUNDLED = {};\n",
    ]
    for name in names:
        path = module_dir / f"{name}.js"
        if not path.is_file():
            raise FileNotFoundError(f"{path} (loaded by the glue as part({name!r}))")
        out.append(f"BUNDLED[{json.dumps(name)}] = function (exports) {{\n{path.read_text()}\n}};\n")
    out.append(
        "function requireBundled(name) {\n"
        '  if (!Object.prototype.hasOwnProperty.call(BUNDLED, name)) throw new Error("no part " + name);\n'
        '  if (typeof BUNDLED[name] === "function") {\n'
        "    var exports = {};\n"
        "    BUNDLED[name](exports);\n"
        "    BUNDLED[name] = exports;\n"
        "  }\n"
        "  return BUNDLED[name];\n"
        "}\n"
    )
    out.append(glue.replace(REQUIRE_CALL, "return requireBundled(name);"))
    return "".join(out)
