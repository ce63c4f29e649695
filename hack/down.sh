#!/usr/bin/env bash
# Stops the peapod started by up.sh. Like a kubelet, peapod leaves running
# pods running across restarts; with --reset it then removes every pod
# sandbox and container from the node (`peapod reset`), leaving nothing
# behind. API objects stay in /var/lib/peapod either way.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f /run/peapod.pid ] && kill -0 "$(cat /run/peapod.pid)" 2>/dev/null; then
	kill "$(cat /run/peapod.pid)"
	while kill -0 "$(cat /run/peapod.pid)" 2>/dev/null; do sleep 0.1; done
	echo "peapod stopped"
else
	echo "peapod is not running"
fi
rm -f /run/peapod.pid
if [ "${1:-}" = --reset ]; then
	bin/peapod reset --data-dir /var/lib/peapod
fi
