#!/usr/bin/env bash
# The pod lifecycle benchmark side by side: the same client-go loop
# (BenchmarkPodLifecycle: one pod at a time, create → Running, then delete
# → gone) against a peapod daemon and, where its binaries are built (the
# kubelet e2e builds them into /var/cache/peapod-test/refk8s), against a
# real one-node Kubernetes (../shared/tools/refk8s: kubelet + containerd),
# and, where podman is installed, through `podman kube play`, then a
# table. BENCH_N pods each (30); PEAPOD_BENCH_CONTAINERS=2 measures
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

# podman_metrics runs the same pods through `podman kube play` (create →
# Running: the command returns once the pod's containers are started,
# which is checked after it) and `podman pod rm -f` (delete → gone), one
# at a time, and prints the same metric names. podman has no daemon, so
# no RSS. Its container limits (nofile, nproc) are set to 4096, below the
# hard limits a host without CAP_SYS_RESOURCE holds (podman's defaults
# above them make runc refuse the infra container); it uses runc, as
# peapod does (crun 1.8 refuses a hybrid cgroup v1 host).
podman_metrics() {
	local conf=$bin/containers.conf yaml=$bin/pod.yaml i t0 t1 t2 state create=() del=() limits=
	local lim=$(( $(ulimit -Hn) < 4096 ? $(ulimit -Hn) : 4096 ))
	printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
		"$lim" "$lim" "$lim" "$lim" >"$conf"
	export CONTAINERS_CONF=$conf
	go run ./cmd/peapod-busybox-image -o "$bin/busybox.tar" >/dev/null
	podman load -q -i "$bin/busybox.tar" >/dev/null
	[ "${PEAPOD_BENCH_CONTAINERS:-1}" -gt 1 ] &&
		limits='    resources: {limits: {cpu: 100m, memory: 32Mi}, requests: {cpu: 100m, memory: 32Mi}}'
	for i in $(seq 0 "$N"); do
		{
			printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: bench-%s}\nspec:\n  terminationGracePeriodSeconds: 5\n  containers:\n' "$i"
			for c in $(seq 1 "${PEAPOD_BENCH_CONTAINERS:-1}"); do
				printf '  - name: app%s\n    image: docker.io/library/busybox:latest\n    imagePullPolicy: Never\n' "$c"
				printf '    command: [sh, -c, "trap '"'"'exit 0'"'"' TERM; sleep 3600 & wait"]\n'
				[ -z "$limits" ] || echo "$limits"
			done
		} >"$yaml"
		t0=$(date +%s%N)
		podman kube play -q "$yaml" >/dev/null
		t1=$(date +%s%N)
		state=$(podman pod inspect "bench-$i" --format '{{.State}}')
		if [ "$state" != Running ]; then
			echo "podman: pod bench-$i was $state, not Running, when kube play returned" >&2
			podman pod rm -f "bench-$i" >/dev/null
			return 1
		fi
		sleep 0.1
		t2=$(date +%s%N)
		podman pod rm -f "bench-$i" >/dev/null
		# The first pod warms caches, as in the Go benchmark.
		[ "$i" = 0 ] && continue
		create+=($(((t1 - t0) / 1000000))) del+=($((($(date +%s%N) - t2) / 1000000)))
	done
	pct() { printf '%s\n' "${@:2}" | sort -n | awk -v q="$1" '{ v[NR] = $1 } END { print v[int((NR - 1) * q / 100) + 1] }'; }
	echo "create-running-p50-ms=$(pct 50 "${create[@]}")"
	echo "create-running-p99-ms=$(pct 99 "${create[@]}")"
	echo "delete-gone-p50-ms=$(pct 50 "${del[@]}")"
	echo "delete-gone-p99-ms=$(pct 99 "${del[@]}")"
}
pm=
if command -v podman >/dev/null; then
	echo "==> podman $(podman version --format '{{.Client.Version}}') kube play ($N pods)" >&2
	pm=$(podman_metrics)
else
	echo "==> no podman (apt-get install podman to compare with it)" >&2
fi

row() { printf '| %s | %s | %s | %s |\n' "$1" "${2:--}" "${3:--}" "${4:--}"; }
echo "| pod lifecycle, $N pods | peapod | Kubernetes v1.34 (kubelet + containerd) | podman kube play |"
echo "|---|---|---|---|"
for m in create-running-p50 create-running-p99 delete-gone-p50 delete-gone-p99; do
	label=$(echo "$m" | sed 's/create-running/create → Running/; s/delete-gone/delete → gone/; s/-p/ p/')
	row "$label (ms)" "$(get "$peapod" "$m-ms")" "$(get "$ref" "$m-ms")" "$(get "$pm" "$m-ms")"
done
row "node RSS after the run (MiB)" "$(get "$peapod" daemon-rss-MiB)" "$ref_rss" "no daemon"
