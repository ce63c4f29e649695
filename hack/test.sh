#!/usr/bin/env bash
# Sets up and runs peapod's whole test suite (as root): unit tests,
# integration tests of each layer on real runc/conmon/CNI/overlayfs/cgroups,
# end-to-end tests driving the daemon with kubectl 1.27 and 1.33, and the
# cgroup v2 tests in a throwaway VM.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
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
# A short run of every fuzz target (their seed corpora ran above as tests).
for target in \
	internal/apiserver:FuzzCreatePod internal/apiserver:FuzzPatchPod internal/apiserver:FuzzListQuery \
	internal/apiserver:FuzzPodQuantities internal/runtime/image:FuzzApplyLayer internal/runtime/image:FuzzNormalize; do
	go test -run '^$' -fuzz "^${target#*:}\$" -fuzztime "${PEAPOD_FUZZTIME:-15s}" -fuzzminimizetime 5s "./${target%%:*}"
done
./hack/test-cgroup2.sh
