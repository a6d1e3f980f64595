#!/usr/bin/env bash
# Screenshot of the MLflow UI's runs view of a sweep (the session > trial > branch tree).
#
#   bench/ui_screenshot.sh WORKDIR [OUT.png] [PORT]
#
# WORKDIR is a sweep's workdir (its sqlite store). Starts `scalinglab ui` on PORT, waits for it,
# opens the URL it prints (#/experiments/<id>/runs) in headless Chromium (Debian: apt-get install -y
# chromium), writes OUT.png, stops the UI. Last line: `ui_screenshot: <path>`.
set -euo pipefail
workdir=${1:?usage: bench/ui_screenshot.sh WORKDIR [OUT.png] [PORT]}
out=${2:-ui.png}
port=${3:-5077}
log=$(mktemp)
scalinglab ui --workdir "$workdir" --port "$port" >"$log" 2>&1 &
ui=$!
trap 'kill "$ui" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  sleep 1
done
url=$(grep -o 'http://127.0.0.1:[0-9]*/#/experiments/[0-9]*/runs' "$log" | head -1)
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1600,1000 \
  --virtual-time-budget=15000 --screenshot="$out" "$url" >/dev/null 2>&1
echo "ui_screenshot: $out ($url)"
