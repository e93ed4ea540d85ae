#!/usr/bin/env bash
# The producer install on macOS and Linux (docs/install.md): one command, no administrator
# rights. Makes a private Python environment in a per-user folder, installs SerumRNN from
# this checkout into it, copies the models, and writes the launcher the Max for Live device
# starts the server with. Running it again updates the install in place.
#
# Settings (all optional): SERUMRNN_PYTHON, the Python to use (3.11 to 3.13); SERUMRNN_HOME,
# the folder (default: macOS ~/Library/Application Support/SerumRNN, Linux
# ~/.local/share/SerumRNN); SERUMRNN_PIP_ARGS, extra pip arguments (word-split);
# SERUMRNN_PROFILE, a plugin profile the device's server renders on (read by user_install).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'SerumRNN install: %s\n' "$*"; }
fail() {
	printf 'SerumRNN install FAILED: %s\n' "$*" >&2
	exit 1
}

supported() { # prints the Python's version and succeeds when it is 3.11, 3.12 or 3.13
	"$1" -c 'import sys; print("%d.%d" % sys.version_info[:2]); sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12), (3, 13)))' 2>/dev/null
}

find_python() {
	local c
	if [ -n "${SERUMRNN_PYTHON:-}" ]; then
		printf '%s\n' "$SERUMRNN_PYTHON"
		return
	fi
	# Newest first; python.org's macOS installer puts its Pythons under /Library/Frameworks.
	for c in python3.13 python3.12 python3.11 \
		/Library/Frameworks/Python.framework/Versions/3.13/bin/python3 \
		/Library/Frameworks/Python.framework/Versions/3.12/bin/python3 \
		/Library/Frameworks/Python.framework/Versions/3.11/bin/python3 \
		/opt/homebrew/bin/python3 /usr/local/bin/python3 python3; do
		if command -v "$c" >/dev/null 2>&1 && supported "$c" >/dev/null; then
			command -v "$c"
			return
		fi
	done
	return 1
}

case "$(uname -s)" in
Darwin) default_home="$HOME/Library/Application Support/SerumRNN" ;;
*) default_home="${XDG_DATA_HOME:-$HOME/.local/share}/SerumRNN" ;;
esac
home="${SERUMRNN_HOME:-$default_home}"

if [ -n "${SERUMRNN_PYTHON:-}" ] && ! supported "$SERUMRNN_PYTHON" >/dev/null; then
	fail "SERUMRNN_PYTHON=$SERUMRNN_PYTHON is not Python 3.11, 3.12 or 3.13"
fi
python="$(find_python)" || fail "SerumRNN needs Python 3.11, 3.12 or 3.13, and none was found. Install Python 3.13 from https://www.python.org/downloads/ (macOS: the \"macOS 64-bit universal2 installer\"), then run this installer again."
say "using Python $(supported "$python") at $python"
say "installing into $home (several hundred MB, no TensorFlow; a few minutes on a fast connection)"

mkdir -p "$home"
venv="$home/venv"
# A venv made by another Python version (an older install) is made again.
if [ -x "$venv/bin/python" ] && [ "$(supported "$venv/bin/python" || true)" != "$(supported "$python")" ]; then
	say "replacing the environment made with another Python version"
	rm -rf "$venv"
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || fail "could not make a Python environment in $venv"

# shellcheck disable=SC2086  # SERUMRNN_PIP_ARGS is a list of words on purpose
"$venv/bin/python" -m pip install --disable-pip-version-check ${SERUMRNN_PIP_ARGS:-} "${repo}[producer]" ||
	fail "pip could not install SerumRNN (see the lines above; is the computer online?)"

"$venv/bin/python" -m serumrnn.server.user_install --source "$repo" --home "$home" ||
	fail "the server did not pass its post-install check (see the lines above)"
