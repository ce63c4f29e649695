package e2e

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTopAndMetrics runs a busy pod: `kubectl top pod` (with and without
// --containers) and `kubectl top node`, with the oldest and the newest
// kubectl, print non-zero CPU and memory, and /metrics has the cAdvisor
// series for its container and the pod start latency histogram.
func TestTopAndMetrics(t *testing.T) {
	d := startDaemon(t, withArgs("--housekeeping-interval", "1s"))
	d.mustKubectl("1.33", "", "run", "busy", "--image=busybox", "--image-pull-policy=IfNotPresent", "--labels=app=busy",
		"--", "sh", "-c", "while true; do :; done")
	d.waitRunning("1.33", "default", "busy", "1/1")
	// "busy   250m   1Mi": the CPU column must not read 0m.
	row := regexp.MustCompile(`(?m)^busy\s+([0-9]+)m\s+([0-9]+)Mi\s*$`)
	for _, v := range []string{"1.27", "1.33"} {
		var out string
		d.waitFor("kubectl "+v+" top pod", 60*time.Second, func() (bool, error) {
			out, _, _ = d.kubectl(v, "", "top", "pod", "-l", "app=busy")
			m := row.FindStringSubmatch(out)
			if m == nil {
				return false, nil
			}
			cpu, _ := strconv.Atoi(m[1])
			return cpu > 0, nil
		})
		if out, _, err := d.kubectl(v, "", "top", "pod", "busy", "--containers"); err != nil || !regexp.MustCompile(`(?m)^busy\s+busy\s+[1-9][0-9]*m\s+[0-9]+Mi`).MatchString(out) {
			t.Errorf("kubectl %s top pod --containers: %v\n%s", v, err, out)
		}
		out = d.mustKubectl(v, "", "top", "node")
		if !regexp.MustCompile(`(?m)^\S+\s+[1-9][0-9]*m\s+[0-9]+%\s+[1-9][0-9]*Mi\s+[0-9]+%`).MatchString(out) {
			t.Errorf("kubectl %s top node:\n%s", v, out)
		}
	}
	raw, err := d.client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	metrics := string(raw)
	for _, want := range []string{
		`container_cpu_usage_seconds_total{container="busy",namespace="default",pod="busy"} `,
		`container_memory_working_set_bytes{container="busy",namespace="default",pod="busy"} `,
		`peapod_pod_start_duration_seconds_count 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
}
