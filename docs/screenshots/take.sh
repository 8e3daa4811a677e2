#!/usr/bin/env bash
# Makes the screenshots in this folder with the real app on the demo model: each state is staged
# by `nibble --screenshot FILE --state NAME` (scratch settings and history) under Xvfb with the
# software scene graph. Usage: docs/screenshots/take.sh [BUILD_DIR]   (default: build)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
nibble="${1:-$root/build}/app/gui/nibble"
[ -x "$nibble" ] || { echo "no $nibble: build the app first" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "xvfb-run is missing (Debian package xvfb)" >&2; exit 1; }

shot() {  # shot FILE STATE THEME
  QT_QUICK_BACKEND=software QT_QPA_PLATFORM=xcb \
    xvfb-run -a -s "-screen 0 1280x800x24 -dpi 96" "$nibble" --screenshot "$here/$1" --state "$2" --theme "$3"
  echo "wrote docs/screenshots/$1"
}

shot empty-light.png empty light
shot empty-dark.png empty dark
shot conversation-light.png conversation light
shot conversation-dark.png conversation dark
shot model-card.png model-card light
shot model-card-plan-light.png model-card-plan light
shot model-card-plan-dark.png model-card-plan dark
shot model-card-shared.png model-card-shared light
shot error.png error light
shot server-settings.png server-settings light
shot dashboard-light.png dashboard light
shot dashboard-dark.png dashboard dark
for theme in light dark; do
  for state in source target calibration output running result; do
    shot "quantize-$state-$theme.png" "quantize-$state" "$theme"
  done
done
