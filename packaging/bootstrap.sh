#!/usr/bin/env bash
# The README's two commands:
#   packaging/bootstrap.sh run  [MODEL_DIR]  install what is missing, build, start the app
#   packaging/bootstrap.sh test [--quick]    install what is missing, build, run every test suite
# Debian 12 packages only; as root it installs them, otherwise it prints the one apt-get line to run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${NIBBLE_BUILD_DIR:-$root/build}"
jobs="${NIBBLE_JOBS:-$(nproc)}"

say() { printf 'nibble: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

build_packages=(
  build-essential cmake ninja-build pkg-config git
  nlohmann-json3-dev libpcre2-dev libsqlite3-dev libutf8proc-dev zlib1g-dev libgtest-dev libgmock-dev
  libcpp-httplib-dev
  qt6-base-dev qt6-declarative-dev qt6-charts-dev qt6-tools-dev libgl-dev
)
runtime_packages=(
  qml6-module-qtquick qml6-module-qtquick-controls qml6-module-qtquick-layouts
  qml6-module-qtquick-window qml6-module-qtquick-templates qml6-module-qtqml-workerscript
  qml6-module-qtquick-dialogs qml6-module-qttest qml6-module-qtcharts qt6-wayland
)
test_packages=(
  xvfb xauth desktop-file-utils appstream dpkg-dev file clang libclang-rt-14-dev llvm
)
# The API server's client test runs the `openai` npm package: Debian's node and npm unless a node
# with npm is already installed (e.g. from another source).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  test_packages+=(nodejs npm)
fi

missing_packages() {
  local wanted=("$@") missing=() p
  local installed
  installed="$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${wanted[@]}" 2>/dev/null | awk '$2 ~ /^ii/ {print $1}' || true)"
  for p in "${wanted[@]}"; do
    grep -qx "$p" <<<"$installed" || missing+=("$p")
  done
  printf '%s\n' "${missing[@]+"${missing[@]}"}"
}

ensure_packages() {
  command -v dpkg-query >/dev/null || die "this script needs a Debian-based system (dpkg-query not found)"
  local missing
  mapfile -t missing < <(missing_packages "$@" | sed '/^$/d')
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages; run: sudo apt-get install -y ${missing[*]}"
  fi
  say "installing ${#missing[@]} Debian package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/nibble-apt.log 2>&1; then
    apt-get update -qq >>/tmp/nibble-apt.log 2>&1 || die "apt-get update failed (see /tmp/nibble-apt.log)"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/nibble-apt.log 2>&1 \
      || die "apt-get install failed (see /tmp/nibble-apt.log)"
  fi
}

configure_and_build() {
  local dir="$1"; shift
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S "$root" -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 || {
      grep -E 'Nibble:|CMake Error|Could not find|not found' "$dir.configure.log" | head -5 >&2
      die "configuring failed (full log: $dir.configure.log)"
    }
  fi
  cmake --build "$dir" -j "$jobs" || die "the build failed (see the compiler output above)"
}

cmd_run() {
  ensure_packages "${build_packages[@]}" "${runtime_packages[@]}"
  mkdir -p "$build"
  configure_and_build "$build"
  if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
    die "no display found (DISPLAY/WAYLAND_DISPLAY unset): run this from a desktop session, or under xvfb-run"
  fi
  exec "$build/app/gui/nibble" "$@"
}

cmd_test() {
  local quick=0
  for a in "$@"; do
    case "$a" in
      --quick) quick=1 ;;
      *) die "unknown test option '$a' (known: --quick)" ;;
    esac
  done
  ensure_packages "${build_packages[@]}" "${runtime_packages[@]}" "${test_packages[@]}"
  mkdir -p "$build"
  configure_and_build "$build"
  export QT_QPA_PLATFORM=offscreen QT_QUICK_BACKEND=software
  local status=0
  say "stage 1/3: the test suite ($build)"
  (cd "$build" && ctest -j "$jobs" --output-on-failure --timeout 900) || status=1
  if [ "$quick" -eq 0 ] && [ -x "$here/test-extra.sh" ]; then
    "$here/test-extra.sh" "$root" || status=1
  fi
  [ "$status" -eq 0 ] && say "all test suites passed" || say "some tests failed (see above)"
  return "$status"
}

case "${1:-}" in
  run) shift; cmd_run "$@" ;;
  test) shift; cmd_test "$@" ;;
  *) echo "usage: $0 run [MODEL_DIR] | test [--quick]" >&2; exit 2 ;;
esac
