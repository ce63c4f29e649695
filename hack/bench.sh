#!/usr/bin/env bash
# The pod lifecycle benchmark side by side: the same client-go loop
# (BenchmarkPodLifecycle: one pod at a time, create → Running, then delete
# → gone) against a peapod daemon and, where its binaries are built (the
# kubelet e2e builds them into /var/cache/peapod-test/refk8s), against a
# real one-node Kubernetes (../shared/tools/refk8s: kubelet + containerd),
# then a table. BENCH_N pods each (30); PEAPOD_BENCH_CONTAINERS=2 measures
# two-container pods with limits. Run as root, with nothing else busy.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
export PATH=$PATH:/usr/local/go/bin
N=${BENCH_N:-30}
REFK8S=${REFK8S:-$PWD/../shared/tools/refk8s}
export REFK8S_ROOT=${REFK8S_ROOT:-/var/cache/peapod-test/refk8s}
export APISERVER_PORT=${REFK8S_APISERVER_PORT:-17443}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/e2e.test" ./test/e2e/

# metrics prints "name=value" for each metric of the benchmark's line.
metrics() {
	(cd test/e2e && "$bin/e2e.test" -test.run '^$' -test.bench 'BenchmarkPodLifecycle$' -test.benchtime "${N}x") |
		awk '/^BenchmarkPodLifecycle/ { for (i = 3; i < NF; i += 2) printf "%s=%s\n", $(i + 1), $i }'
}
get() { echo "$1" | sed -n "s/^$2=//p"; }
# rss sums the resident memory (MiB) of the processes with these names.
rss() {
	local kb=0 pid
	for name in "$@"; do
		for pid in $(pgrep -f "(^|/)$name( |\$)"); do
			kb=$((kb + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
		done
	done
	echo $((kb / 1024))
}

echo "==> peapod ($N pods)" >&2
peapod=$(metrics)
ref=
ref_rss=-
if [ -x "$REFK8S_ROOT/bin/kubelet" ] && [ -x "$REFK8S/up.sh" ]; then
	echo "==> a real Kubernetes node (refk8s: kubelet + containerd, $N pods)" >&2
	trap '"$REFK8S/down.sh" >/dev/null 2>&1 || true; rm -rf "$bin"' EXIT
	"$REFK8S/up.sh" >/dev/null
	. "$REFK8S/env.sh"
	ref=$(PEAPOD_BENCH_KUBECONFIG=$KCFG/admin.kubeconfig metrics)
	ref_rss=$(rss etcd kube-apiserver kube-controller-manager kube-scheduler kubelet containerd)
else
	echo "==> no refk8s binaries in $REFK8S_ROOT/bin (hack/kubelet-e2e.sh builds them): peapod only" >&2
fi

row() { printf '| %s | %s | %s |\n' "$1" "${2:--}" "${3:--}"; }
echo "| pod lifecycle, $N pods | peapod | Kubernetes v1.34 (kubelet + containerd) |"
echo "|---|---|---|"
row "create → Running p50 (ms)" "$(get "$peapod" create-running-p50-ms)" "$(get "$ref" create-running-p50-ms)"
row "create → Running p99 (ms)" "$(get "$peapod" create-running-p99-ms)" "$(get "$ref" create-running-p99-ms)"
row "delete → gone p50 (ms)" "$(get "$peapod" delete-gone-p50-ms)" "$(get "$ref" delete-gone-p50-ms)"
row "delete → gone p99 (ms)" "$(get "$peapod" delete-gone-p99-ms)" "$(get "$ref" delete-gone-p99-ms)"
row "node RSS after the run (MiB)" "$(get "$peapod" daemon-rss-MiB)" "$ref_rss"
