#!/usr/bin/env bash
# crictl against peapod's CRI socket, as an operator would use it: info,
# pull, inspecti, runp, create, start, ps, logs, exec -it, port-forward,
# stats, stopp, rmp, rmi; then nothing of the pod may remain.
# Run by hack/critest.sh (which provides the registry and the daemon):
#   CRICTL=... SOCK=... RUN_DIR=... ./hack/crictl-smoke.sh
set -euo pipefail
: "${CRICTL:?}" "${SOCK:?}" "${RUN_DIR:?}"
crictl() { "$CRICTL" --runtime-endpoint "unix://$SOCK" --image-endpoint "unix://$SOCK" --timeout 60s "$@" 2>/tmp/crictl-smoke.err; }
fail() { echo "crictl smoke: FAIL: $*" >&2; cat /tmp/crictl-smoke.err >&2 || true; exit 1; }
check() { echo "crictl smoke: ok: $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

crictl info | grep -q '"RuntimeReady"' || fail "info does not report RuntimeReady"
crictl runtime-config | grep -qi cgroupfs || fail "runtime-config does not report the cgroup driver"
check "info, runtime-config"

web=registry.k8s.io/e2e-test-images/nginx:1.14-2
box=registry.k8s.io/e2e-test-images/busybox:1.29-2
crictl pull "$web" >/dev/null || fail "pull $web"
crictl pull "$box" >/dev/null || fail "pull $box"
crictl inspecti "$web" | grep -q "\"$web\"" || fail "inspecti does not show the tag"
crictl inspecti "$web" | grep -q 'registry.k8s.io/e2e-test-images/nginx@sha256:' || fail "inspecti does not show a repo digest"
crictl images | grep -q 'e2e-test-images/nginx' || fail "images does not list nginx"
check "pull, inspecti, images"

cat >"$tmp/pod.json" <<JSON
{"metadata": {"name": "smoke", "namespace": "crictl", "uid": "crictl-smoke-uid"},
 "log_directory": "$tmp/logs", "hostname": "smoke",
 "port_mappings": [{"protocol": 0, "container_port": 80}],
 "linux": {}}
JSON
cat >"$tmp/shell.json" <<JSON
{"metadata": {"name": "shell"}, "image": {"image": "$box"},
 "command": ["sh", "-c", "echo hello-from-crictl; exec sleep 300"], "log_path": "shell.log", "linux": {}}
JSON
cat >"$tmp/web.json" <<JSON
{"metadata": {"name": "web"}, "image": {"image": "$web"}, "log_path": "web.log", "linux": {}}
JSON
pod=$(crictl runp "$tmp/pod.json") || fail "runp"
crictl pods --id "$pod" | grep -q Ready || fail "pods does not show the pod Ready"
shell=$(crictl create "$pod" "$tmp/shell.json" "$tmp/pod.json") || fail "create shell"
webc=$(crictl create "$pod" "$tmp/web.json" "$tmp/pod.json") || fail "create web"
crictl start "$shell" "$webc" >/dev/null || fail "start"
crictl ps --pod "$pod" | grep -c Running | grep -qx 2 || fail "ps does not show both containers running"
check "runp, create, start, ps"

for _ in $(seq 50); do crictl logs "$shell" 2>/dev/null | grep -q hello-from-crictl && break; sleep 0.1; done
crictl logs "$shell" | grep -q hello-from-crictl || fail "logs"
check "logs"

# exec -it needs a terminal on crictl's side: script(1) gives it one.
out=$(script -qec "$CRICTL --runtime-endpoint unix://$SOCK exec -it $shell sh -c 'tty; echo exec-ok'" /dev/null </dev/null) || fail "exec -it: $out"
echo "$out" | grep -q '/dev/pts/' || fail "exec -it ran without a terminal: $out"
echo "$out" | grep -q 'exec-ok' || fail "exec -it output: $out"
[ "$(crictl exec "$shell" echo plain)" = plain ] || fail "exec"
check "exec -it, exec"

port=12010
"$CRICTL" --runtime-endpoint "unix://$SOCK" port-forward "$pod" "$port:80" >"$tmp/pf.log" 2>&1 &
pf=$!
code=
for _ in $(seq 50); do
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)
	[ "$code" = 200 ] && break
	sleep 0.2
done
kill "$pf" 2>/dev/null || true
wait "$pf" 2>/dev/null || true
[ "$code" = 200 ] || fail "port-forward: HTTP $code ($(cat "$tmp/pf.log"))"
check "port-forward"

crictl stats --id "$shell" | grep -q "${shell:0:13}" || fail "stats does not list the container"
crictl statsp --id "$pod" | grep -q smoke || fail "statsp does not list the pod"
check "stats, statsp"

crictl stopp "$pod" >/dev/null || fail "stopp"
crictl pods --id "$pod" | grep -q NotReady || fail "the stopped pod is not NotReady"
crictl rmp "$pod" >/dev/null || fail "rmp"
[ -z "$(crictl pods -q --id "$pod")" ] || fail "the pod is still listed after rmp"
[ -z "$(crictl ps -aq --pod "$pod")" ] || fail "containers are still listed after rmp"
check "stopp, rmp"

crictl rmi "$web" >/dev/null || fail "rmi"
if crictl inspecti "$web" >/dev/null 2>&1; then fail "the image is still there after rmi"; fi
check "rmi"

# Nothing of the pod remains: mounts, network namespaces, processes.
if grep -q "$pod\|$shell\|$webc" /proc/self/mountinfo; then fail "mounts of the pod remain"; fi
# (The runtime's sandbox pool keeps namespaces of its own: only the pod's
# counts.)
if ls "$RUN_DIR/netns" 2>/dev/null | grep -q "$pod"; then fail "the pod's network namespace remains"; fi
if pgrep -f "$shell|$webc|$pod" >/dev/null; then fail "processes of the pod remain"; fi
if find /sys/fs/cgroup -maxdepth 5 -name "$pod" 2>/dev/null | grep -q .; then fail "cgroups of the pod remain"; fi
check "no leaks"
echo "crictl smoke: all passed"
