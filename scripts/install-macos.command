#!/bin/bash
# Double-click in Finder to install SerumRNN on macOS (docs/install.md). Opens Terminal,
# runs scripts/install.sh next to this file, and keeps the window open to show the result.
cd "$(dirname "$0")" || exit 1
if ./install.sh; then
	echo
	echo "Done. You can close this window."
else
	echo
	echo "The install did not finish: the lines above say why. Close this window when you have read them."
fi
read -r -p "Press Return to close. " _
