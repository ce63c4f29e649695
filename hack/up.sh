#!/usr/bin/env bash
# Sets up and starts peapod on this machine (as root): installs the Debian
# packages it needs, builds it, imports an offline busybox image as
# docker.io/library/busybox:latest, and starts `peapod serve` in the
# background (log: /var/log/peapod.log). Extra arguments go to `peapod
# serve`; PEAPOD_FOREGROUND=1 runs it in the foreground instead.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
./hack/deps.sh
export PATH=$PATH:/usr/local/go/bin
data=/var/lib/peapod
go build -o bin/peapod ./cmd/peapod
go build -o bin/peapod-busybox-image ./cmd/peapod-busybox-image
mkdir -p "$data"
if ! bin/peapod image list --data-dir "$data" 2>/dev/null | grep -q '^docker.io/library/busybox:latest '; then
	bin/peapod-busybox-image -o "$data/busybox.tar"
	bin/peapod image import --data-dir "$data" "$data/busybox.tar"
fi
if [ -f /run/peapod.pid ] && kill -0 "$(cat /run/peapod.pid)" 2>/dev/null; then
	echo "peapod is already running (pid $(cat /run/peapod.pid)); stop it with ./hack/down.sh" >&2
	exit 1
fi
if [ "${PEAPOD_FOREGROUND:-}" = 1 ]; then
	exec bin/peapod serve --data-dir "$data" "$@"
fi
setsid nohup bin/peapod serve --data-dir "$data" "$@" >/var/log/peapod.log 2>&1 </dev/null &
echo $! >/run/peapod.pid
for _ in $(seq 100); do
	if [ -f "$data/admin.kubeconfig" ] && kubectl --kubeconfig "$data/admin.kubeconfig" get --raw /readyz >/dev/null 2>&1; then
		echo "peapod is running (pid $(cat /run/peapod.pid), log /var/log/peapod.log). Point kubectl at it with:"
		echo "  export KUBECONFIG=$data/admin.kubeconfig"
		exit 0
	fi
	if ! kill -0 "$(cat /run/peapod.pid)" 2>/dev/null; then
		echo "peapod exited; see /var/log/peapod.log:" >&2
		tail -20 /var/log/peapod.log >&2
		exit 1
	fi
	sleep 0.2
done
echo "peapod did not become ready; see /var/log/peapod.log" >&2
exit 1
