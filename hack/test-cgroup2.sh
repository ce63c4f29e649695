#!/usr/bin/env bash
# Runs peapod's cgroup-sensitive tests inside a throwaway VM with a pure
# cgroup v2 hierarchy (../shared/tools/cgroup2-vm), since the development
# and CI hosts run cgroup v1: the runtime lifecycle on runc+conmon+overlayfs
# with a host-network sandbox (on runc and on crun), the kubelet's pod
# cgroups, killing and removing cgroup trees, and overlay roots.
# The VM has no pod networking (no iptables), so CNI is tested on the host.
# The systemd cgroup driver is tested there too, under systemd run in a
# PID namespace of the VM (this host's init is not systemd).
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
if [ ! -x /lib/systemd/systemd ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd
fi
work=$(mktemp -d /tmp/peapod-cgroup2.XXXXXX)
vmlog=$(mktemp /tmp/peapod-cgroup2-log.XXXXXX)
trap 'rm -rf "$work" "$vmlog"' EXIT
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
./cri.test -test.v -test.run 'TestHostNetworkSandbox|TestPauseWithoutMonitor|TestContainerCgroupValues|TestOOMKilled|TestProcessArgs|TestResolveUser|TestExecSync|TestUpdateContainerResources|TestVerboseContainerStatus'
PEAPOD_TEST_OCI_RUNTIME=crun ./cri.test -test.v -test.run 'TestHostNetworkSandbox|TestPauseWithoutMonitor'
# crun chosen by its handler name beside runc (as a RuntimeClass picks it).
PEAPOD_TEST_ALT_RUNTIME=crun ./cri.test -test.v -test.run 'TestRuntimeHandlers'
./kubelet.test -test.v -test.run 'TestPodCgroups|TestPodAndQOSCgroupValues'
./cgroup.test -test.v
./rootfs.test -test.v

# The systemd cgroup driver: systemd as PID 1 of its own PID namespace
# (container mode, as under systemd-nspawn), owning the cgroup v2 tree;
# the tests run in that namespace, where its private D-Bus socket takes
# them, and must not skip.
mkdir -p /etc/systemd/system
printf '[Unit]\nDescription=peapod test target\n' > /etc/systemd/system/default.target
echo 0123456789abcdef0123456789abcdef > /etc/machine-id
container=peapod-test unshare --pid --fork --mount-proc /lib/systemd/systemd --system --log-target=console >/tmp/systemd.log 2>&1 &
i=0
until [ -S /run/systemd/private ] && [ -d /run/systemd/system ]; do
	i=$((i + 1))
	if [ $i -gt 300 ]; then cat /tmp/systemd.log; echo "systemd did not come up" >&2; exit 1; fi
	sleep 0.1
done
sd=$(pidof systemd)
in_systemd() { nsenter -t "$sd" -p -m --wd="$PWD" env PEAPOD_TEST_SYSTEMD=1 "$@"; }
in_systemd ./kubelet.test -test.v -test.run 'TestPodCgroups|TestPodAndQOSCgroupValues' | tee /tmp/kubelet-systemd.log
grep -q -- '--- PASS: TestPodAndQOSCgroupValues/systemd' /tmp/kubelet-systemd.log
in_systemd ./cri.test -test.v -test.run 'TestSystemdCgroups'
SCRIPT
chmod +x "$work/run.sh"
# The VM emulates its CPUs (no KVM here). With two emulated CPUs its
# kernel has locked up inside the slab allocator (a soft lockup in
# kmem_cache_alloc_bulk under mmap, both vCPUs stuck: CI of 2026-12-06 and
# a run on 2026-12-07), so it gets one. softlockup_panic turns such a hang
# into a panic that ends the VM at once (exit 125, "soft lockup" on its
# console, which -v streams); only then is the VM booted once more. A
# test's own failure, or a timeout, is never retried. A normal run takes
# about 2 minutes.
run_vm() {
	CG2VM_APPEND="softlockup_panic=1" "$VM" -c 1 -v -t 900 -b /lib/systemd/systemd -b "$(command -v nsenter)" -b "$(command -v unshare)" \
		-b "$(command -v conmon)" -b "$(command -v catatonit)" -b "$(command -v crun)" "$work" -- ./run.sh 2>&1 | tee "$vmlog"
}
rc=0
run_vm || rc=$?
if [ "$rc" = 125 ] && grep -q "soft lockup" "$vmlog"; then
	echo "test-cgroup2: the VM's kernel locked up (not a test result); booting it once more" >&2
	rc=0
	run_vm || rc=$?
fi
exit "$rc"
