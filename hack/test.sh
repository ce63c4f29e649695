#!/usr/bin/env bash
# Sets up and runs peapod's whole test suite (as root): unit tests,
# integration tests of each layer on real runc/conmon/CNI/overlayfs/cgroups,
# end-to-end tests driving the daemon with kubectl 1.27 and 1.33, the
# cgroup v2 tests in a throwaway VM, critest plus crictl against the CRI
# socket, and a real kubelet running pods on that socket.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
# One suite at a time per machine: the suites share host ports (critest's
# 12000-12003, the registry's 5000, refk8s's), work directories and
# bridges, so a second run waits (up to an hour) for the first. The lock is
# held by flock itself (-o), so a process a test leaked cannot keep it.
if [ -z "${PEAPOD_TEST_LOCKED:-}" ]; then
	export PEAPOD_TEST_LOCKED=1
	exec flock -o -w 3600 -E 75 /var/lock/peapod-test.lock "$PWD/hack/test.sh" "$@"
fi
./hack/deps.sh
export PATH=$PATH:/usr/local/go/bin
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go test -count=1 -p 1 -timeout 45m ./...
# A short run of every fuzz target (their seed corpora ran above as tests),
# each for a number of executions (about 15 s here) rather than a duration:
# Go 1.26's fuzz coordinator can fail a duration-bound run with a spurious
# "context deadline exceeded" (golang/go#75804, fixed in Go 1.27).
for target in \
	internal/apiserver:FuzzCreatePod:10000 internal/apiserver:FuzzPatchPod:20000 internal/apiserver:FuzzListQuery:12000 \
	internal/apiserver:FuzzPodQuantities:8000 internal/runtime/image:FuzzApplyLayer:10000 internal/reference:FuzzNormalize:50000; do
	IFS=: read -r pkg name count <<<"$target"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "${count}x" -fuzzminimizetime 200x "./${pkg}"
done
./hack/test-cgroup2.sh
# critest (the CRI validation suite) and a crictl smoke test against the
# CRI socket (peapod serve --api=false).
./hack/critest.sh
# critest's benchmarks against peapod and Debian's containerd, side by
# side (numbers only; the run fails only if a benchmark cannot run).
CRITEST_BENCHMARK=1 ./hack/critest.sh
# A real kubelet (Kubernetes v1.34, ../shared/tools/refk8s, built once and
# cached under /var/cache/peapod-test/refk8s) on peapod's CRI socket.
./hack/kubelet-e2e.sh
