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
./hack/test-cgroup2.sh
