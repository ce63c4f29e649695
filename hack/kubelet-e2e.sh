#!/usr/bin/env bash
# A real kubelet on peapod's runtime: the upstream control plane and
# kubelet of ../shared/tools/refk8s (Kubernetes v1.34, built once from the
# Go module proxy and cached under /var/cache/peapod-test/refk8s) with the
# kubelet's container runtime endpoint on `peapod serve --api=false`
# instead of containerd. Pods created through that real API server must
# run on peapod: status, kubectl logs, exec, port-forward, restarts and
# deletion, and afterwards nothing of them may remain on the node.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
REPO=$PWD
./hack/deps.sh
export PATH=$PATH:/usr/local/go/bin
export DEBIAN_FRONTEND=noninteractive
REFK8S=${REFK8S:-$REPO/../shared/tools/refk8s}
export REFK8S_ROOT=${REFK8S_ROOT:-/var/cache/peapod-test/refk8s}
export APISERVER_PORT=${REFK8S_APISERVER_PORT:-17443}
WORK=${KUBELET_E2E_WORK:-/tmp/peapod-kubelet-e2e}
SOCK=$WORK/run/cri.sock
KUBECTL=${KUBECTL:-kubectl}

need=()
for p in containerd runc containernetworking-plugins catatonit util-linux iptables curl; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# The control plane and kubelet, built once (about 20 minutes on 2 cores).
missing=()
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet crictl refk8s-registry peapod-busybox-image; do
	[ -x "$REFK8S_ROOT/bin/$b" ] || missing+=("${b/refk8s-registry/registry}")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "==> building ${missing[*]} into $REFK8S_ROOT/bin (cached)"
	MAIN_REPO=$REPO "$REFK8S/build.sh" "${missing[@]/peapod-busybox-image/busybox-image}"
fi
. "$REFK8S/env.sh"
K() { "$KUBECTL" --kubeconfig "$KCFG/admin.kubeconfig" "$@"; }

node_flags=(--data-dir "$WORK/data" --run-dir "$WORK/run" --log-dir "$WORK/log" --config-dir "$WORK/etc"
	--cgroup-root /peapod-kubelet-e2e --bridge ppkube0 --pod-cidr 10.254.7.0/24)
peapod_pid=
cleanup() {
	status=$?
	if [ "$status" != 0 ] && [ -d "$LOGS" ]; then
		echo "----- peapod's log"; tail -30 "$WORK/peapod.log"
		echo "----- the kubelet's log"; tail -30 "$LOGS/kubelet.log"
	fi >&2
	"$REFK8S/down.sh" >/dev/null 2>&1 || true
	if [ -n "$peapod_pid" ]; then kill "$peapod_pid" 2>/dev/null; wait "$peapod_pid" 2>/dev/null || true; fi
	bin/peapod reset "${node_flags[@]}" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$REFK8S/down.sh" >/dev/null 2>&1 || true
go build -o bin/peapod ./cmd/peapod
[ -d "$WORK/data" ] && bin/peapod reset "${node_flags[@]}" >/dev/null 2>&1
rm -rf "$WORK"
mkdir -p "$WORK"

echo "==> starting the reference control plane (and its containerd kubelet, replaced below)"
"$REFK8S/up.sh" >/dev/null

echo "==> starting peapod serve --api=false on $SOCK"
"$REFK8S_ROOT/bin/peapod-busybox-image" -o "$WORK/busybox.tar" -name docker.io/library/busybox:latest
bin/peapod image import "${node_flags[@]:0:2}" "$WORK/busybox.tar" >/dev/null
bin/peapod serve --api=false --cri-socket "$SOCK" "${node_flags[@]}" >"$WORK/peapod.log" 2>&1 &
peapod_pid=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "peapod did not start" >&2; exit 1; }

echo "==> restarting the kubelet with --container-runtime-endpoint unix://$SOCK"
read -r _ old_pid kubelet_exe < <(grep '^kubelet ' "$RUN/pids")
kill "$old_pid"
while kill -0 "$old_pid" 2>/dev/null; do sleep 0.1; done
sed -e "s|^containerRuntimeEndpoint:.*|containerRuntimeEndpoint: unix://$SOCK|" \
	-e "s|^imageServiceEndpoint:.*|imageServiceEndpoint: unix://$SOCK|" "$CONF/kubelet-config.yaml" >"$WORK/kubelet-config.yaml"
node_ip=$(K get node "$NODE_NAME" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
setsid "$kubelet_exe" --config="$WORK/kubelet-config.yaml" --kubeconfig="$KCFG/kubelet.kubeconfig" \
	--hostname-override="$NODE_NAME" --node-ip="$node_ip" --root-dir="$RUN/kubelet" --cert-dir="$RUN/kubelet/pki" \
	>"$LOGS/kubelet.log" 2>&1 </dev/null &
new_pid=$!
sed -i "s|^kubelet $old_pid |kubelet $new_pid |" "$RUN/pids"

fail() { echo "kubelet e2e: FAIL: $*" >&2; K get pods -o wide >&2 || true; exit 1; }
ok() { echo "kubelet e2e: ok: $*"; }
waitfor() { # SECONDS WHAT CMD...
	local end=$(($(date +%s) + $1)) what=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || fail "$what"
		sleep 0.5
	done
}
runtime_is_peapod() {
	K get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}' | grep -q '^peapod://[0-9]'
}
node_ready() {
	[ "$(K get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
waitfor 120 "the node reports peapod as its runtime" runtime_is_peapod
waitfor 60 "the node is Ready on peapod" node_ready
ok "node $NODE_NAME Ready, runtime $(K get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}')"

K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'mkdir -p /www && echo served-by-peapod > /www/index.html && echo hello-from-peapod && exec httpd -f -p 8080 -h /www']
    ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - name: crash
    image: docker.io/library/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo crashing; exit 3']
YAML
waitfor 90 "pod web Running" sh -c "$KUBECTL --kubeconfig $KCFG/admin.kubeconfig get pod web -o jsonpath='{.status.phase}' | grep -qx Running"
K get pod web -o jsonpath='{.status.containerStatuses[0].containerID}' | grep -q '^peapod://' || fail "the container ID is not peapod's"
ip=$(K get pod web -o jsonpath='{.status.podIP}')
[ -n "$ip" ] || fail "no pod IP"
ok "pod web Running, IP $ip, $(K get pod web -o jsonpath='{.status.containerStatuses[0].containerID}' | cut -c1-22)..."

waitfor 30 "kubectl logs" sh -c "$KUBECTL --kubeconfig $KCFG/admin.kubeconfig logs web | grep -q hello-from-peapod"
ok "kubectl logs"
[ "$(K exec web -- cat /www/index.html)" = served-by-peapod ] || fail "kubectl exec"
[ "$(K exec web -- hostname)" = web ] || fail "kubectl exec hostname"
ok "kubectl exec"
K port-forward pod/web 12030:8080 >"$WORK/pf.log" 2>&1 &
pf=$!
body=
for _ in $(seq 40); do
	body=$(curl -fsS http://127.0.0.1:12030/ 2>/dev/null) && break
	sleep 0.25
done
kill "$pf" 2>/dev/null || true
wait "$pf" 2>/dev/null || true
[ "$body" = served-by-peapod ] || fail "kubectl port-forward: got '$body' ($(cat "$WORK/pf.log"))"
ok "kubectl port-forward"
restarted() { [ "$(K get pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}')" -ge 2 ]; }
waitfor 120 "pod crasher restarted twice" restarted
K get pod crasher -o jsonpath='{.status.containerStatuses[0].lastState.terminated.exitCode}' | grep -qx 3 || fail "the last exit code is not 3"
ok "restarts: $(K get pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}'), last exit code 3"

crictl_() { "$REFK8S_ROOT/bin/crictl" --runtime-endpoint "unix://$SOCK" "$@" 2>/dev/null; }
[ "$(crictl_ pods -q | wc -l)" = 2 ] || fail "peapod does not hold the two sandboxes"
K delete pod web crasher --wait=true --timeout=60s >/dev/null || fail "kubectl delete"
gone() { [ -z "$(crictl_ pods -q)" ]; }
waitfor 60 "the kubelet removed the sandboxes from peapod" gone
ok "deletion: no sandbox left in peapod"


# The kubelet got every CRI call it made answered (pod CIDR updates and
# hugepage limits included).
if grep -E 'code = (Unimplemented|Unknown)|CreateContainerError' "$LOGS/kubelet.log" | head -5 >&2; then
	fail "the kubelet's log shows failed CRI calls"
fi
ok "no failed CRI calls in the kubelet's log"

# Nothing of the pods remains on the node, nor, once peapod has stopped,
# of its sandbox pool.
"$REFK8S/down.sh" >/dev/null 2>&1 || true
kill "$peapod_pid"
wait "$peapod_pid" || fail "peapod did not stop cleanly"
peapod_pid=
grep -q "$WORK/data/runtime\|$WORK/run/sandboxes" /proc/self/mountinfo && fail "mounts remain"
[ -z "$(ls "$WORK/run/netns" 2>/dev/null)" ] || fail "network namespaces remain"
pgrep -f "conmon.*$WORK" >/dev/null && fail "conmon processes remain"
[ -z "$(ip -o link show master ppkube0 2>/dev/null)" ] || fail "veths remain on ppkube0"
ok "no leaks"
echo "kubelet e2e: all passed"
