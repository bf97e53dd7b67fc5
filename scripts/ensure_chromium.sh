#!/usr/bin/env bash
# Usage: scripts/ensure_chromium.sh
#
# Makes sure a headless-capable Chromium is on PATH for the browser tests
# (tests/python/browser.py). When `chromium` is already there it does nothing; otherwise it
# installs Debian's `chromium` package with apt-get (running `apt-get update` first when the
# package lists do not know the package yet). Needs root, as on the project's machines and CI.
# Prints the path of the browser on success.
#
# Exit status: 0 when chromium is on PATH afterwards, 1 otherwise.
set -euo pipefail

readonly PROG="ensure_chromium.sh"

if command -v chromium >/dev/null 2>&1; then
    command -v chromium
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "$PROG: chromium is not on PATH and apt-get is not available: install Chromium" >&2
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
    else
        echo "$PROG: installing chromium needs root (or sudo)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# apt-cache finds nothing (or an outdated candidate) before the first `apt-get update`.
if ! apt-cache show chromium >/dev/null 2>&1; then
    "${SUDO[@]}" apt-get update -qq
fi
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >&2; then
    # A stale package list can point at versions the mirror no longer serves: refresh, retry.
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >&2
fi

if ! command -v chromium >/dev/null 2>&1; then
    echo "$PROG: apt-get installed chromium but it is not on PATH" >&2
    exit 1
fi
command -v chromium
