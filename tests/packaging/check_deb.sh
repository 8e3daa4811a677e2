#!/usr/bin/env bash
# Builds the .deb with CPack into a temporary folder, unpacks it and checks that the binaries, the
# demo model, the icon, the .desktop file and the metainfo are installed where desktops look, and
# that the packaged CLI runs. Usage: check_deb.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) \
  || { cat "$work/cpack.log"; exit 1; }
deb="$(ls "$work"/out/*.deb)"
# Captured first: with pipefail, `dpkg-deb | grep -q` fails whenever grep exits before dpkg-deb
# has written everything (SIGPIPE), which depends on scheduling.
info="$(dpkg-deb -I "$deb")"
grep -q '^ Depends:.*qml6-module-qtquick-controls' <<<"$info" || { echo "Depends lacks the QML modules:"; echo "$info"; exit 1; }
dpkg-deb -x "$deb" "$work/root"
for f in usr/bin/nibble usr/bin/nibble-cli \
         usr/share/applications/io.github.nibble.Nibble.desktop \
         usr/share/metainfo/io.github.nibble.Nibble.metainfo.xml \
         usr/share/icons/hicolor/scalable/apps/io.github.nibble.Nibble.svg \
         usr/share/nibble/models/dictlm-16m/config.json \
         usr/share/nibble/models/dictlm-16m/model.safetensors; do
  [ -e "$work/root/$f" ] || { echo "missing in package: /$f"; exit 1; }
done
version="$("$work/root/usr/bin/nibble-cli" --version)" || { echo "packaged nibble-cli does not run"; exit 1; }
grep -q '^nibble-cli ' <<<"$version" || { echo "packaged nibble-cli --version printed: $version"; exit 1; }
echo "package OK: $(basename "$deb")"
