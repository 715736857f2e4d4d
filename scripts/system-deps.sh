#!/usr/bin/env bash
# System libraries for the napari GUI tests on Debian/Ubuntu: a virtual X server (Xvfb),
# Mesa's software OpenGL and the xcb libraries Qt 6 needs. Needs root (or sudo).
set -euo pipefail
packages=(xvfb xauth libgl1-mesa-dri libegl1 libglib2.0-0 libfontconfig1 libxkbcommon-x11-0
  libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 libdbus-1-3)
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "system-deps: run as root (or with sudo) to install: ${packages[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "system-deps: installed ${#packages[@]} packages"
