#!/usr/bin/env bash
# Runs peapod's cgroup-sensitive tests inside a throwaway VM with a pure
# cgroup v2 hierarchy (../shared/tools/cgroup2-vm), since the development
# and CI hosts run cgroup v1: the runtime lifecycle on runc+conmon+overlayfs
# with a host-network sandbox (on runc and on crun), the kubelet's pod
# cgroups, killing and removing cgroup trees, and overlay roots.
# The VM has no pod networking (no iptables), so CNI is tested on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
VM=${CGROUP2_VM:-$(cd .. && pwd)/shared/tools/cgroup2-vm}
if [ ! -x "$VM" ]; then
	echo "cgroup2-vm not found at $VM (set CGROUP2_VM)" >&2
	exit 1
fi
if ! command -v qemu-system-x86_64 >/dev/null || ! ls /tmp/cg2vm/kernel/boot/vmlinuz-* >/dev/null 2>&1; then
	"$VM" --setup
fi
work=$(mktemp -d /tmp/peapod-cgroup2.XXXXXX)
trap 'rm -rf "$work"' EXIT
for pkg in internal/runtime/cri internal/kubelet internal/runtime/rootfs internal/cgroup; do
	go test -c -o "$work/$(basename "$pkg").test" "./$pkg"
done
# Fetch busybox on the host: the VM has no apt and no network.
go run ./cmd/peapod-busybox-image -cache-dir "$work/cache" -o "$work/busybox.tar" >/dev/null
cat > "$work/run.sh" <<'SCRIPT'
#!/bin/sh
set -e
cd "$(dirname "$0")"
grep cgroup /proc/mounts
export PEAPOD_TESTIMAGE_CACHE=$PWD/cache TMPDIR=/tmp
./cri.test -test.v -test.run 'TestHostNetworkSandbox|TestOOMKilled|TestProcessArgs|TestResolveUser'
PEAPOD_TEST_OCI_RUNTIME=crun ./cri.test -test.v -test.run 'TestHostNetworkSandbox'
./kubelet.test -test.v -test.run 'TestPodCgroups|TestPodAndQOSCgroupValues'
./cgroup.test -test.v
./rootfs.test -test.v
SCRIPT
chmod +x "$work/run.sh"
"$VM" -t 1200 -b "$(command -v conmon)" -b "$(command -v catatonit)" -b "$(command -v crun)" "$work" -- ./run.sh
