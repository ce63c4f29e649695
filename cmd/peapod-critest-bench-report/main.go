// Command peapod-critest-bench-report prints critest's benchmark results
// (the *_benchmark_data.json files of critest -benchmark
// -benchmarking-output-dir) of several runtimes side by side: per
// benchmark and operation, the p50 and p99 latency of each, in
// milliseconds. hack/critest.sh runs it with CRITEST_BENCHMARK=1.
//
//	peapod-critest-bench-report NAME=DIR [NAME=DIR ...]
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
)

// resultsSet is cri-tools' LifecycleBenchmarksResultsSet as it writes it.
type resultsSet struct {
	OperationsNames []string `json:"operationsNames"`
	Datapoints      []struct {
		OperationsDurationsNs []int64 `json:"operationsDurationsNs"`
	} `json:"datapoints"`
}

type runtimeDir struct{ name, dir string }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peapod-critest-bench-report NAME=DIR [NAME=DIR ...]")
		os.Exit(2)
	}
	var runtimes []runtimeDir
	for _, arg := range os.Args[1:] {
		name, dir, ok := strings.Cut(arg, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "%q is not NAME=DIR\n", arg)
			os.Exit(2)
		}
		runtimes = append(runtimes, runtimeDir{name, dir})
	}
	if err := report(os.Stdout, runtimes); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func report(out *os.File, runtimes []runtimeDir) error {
	files := map[string]bool{}
	for _, rt := range runtimes {
		matches, _ := filepath.Glob(filepath.Join(rt.dir, "*_benchmark_data.json"))
		for _, m := range matches {
			files[filepath.Base(m)] = true
		}
	}
	if len(files) == 0 {
		return fmt.Errorf("no *_benchmark_data.json in %v", runtimes)
	}
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	header := "BENCHMARK\tOPERATION"
	for _, rt := range runtimes {
		header += "\t" + rt.name + " p50 ms\t" + rt.name + " p99 ms"
	}
	fmt.Fprintln(w, header+"\tSAMPLES")
	for _, file := range names {
		bench := strings.TrimSuffix(file, "_benchmark_data.json")
		sets := make([]*resultsSet, len(runtimes))
		var ops []string
		for i, rt := range runtimes {
			data, err := os.ReadFile(filepath.Join(rt.dir, file))
			if err != nil {
				continue
			}
			s := &resultsSet{}
			if err := json.Unmarshal(data, s); err != nil {
				return fmt.Errorf("%s of %s: %w", file, rt.name, err)
			}
			sets[i] = s
			if len(s.OperationsNames) > len(ops) {
				ops = s.OperationsNames
			}
		}
		for op, opName := range ops {
			line := bench + "\t" + opName
			var samples []string
			for _, s := range sets {
				if s == nil {
					line += "\t-\t-"
					samples = append(samples, "0")
					continue
				}
				var d []int64
				for _, p := range s.Datapoints {
					if op < len(p.OperationsDurationsNs) {
						d = append(d, p.OperationsDurationsNs[op])
					}
				}
				line += fmt.Sprintf("\t%s\t%s", ms(percentile(d, 50)), ms(percentile(d, 99)))
				samples = append(samples, fmt.Sprint(len(d)))
			}
			fmt.Fprintln(w, line+"\t"+strings.Join(samples, "/"))
		}
	}
	return w.Flush()
}

// percentile is the nearest-rank percentile p of d (-1 when d is empty).
func percentile(d []int64, p int) int64 {
	if len(d) == 0 {
		return -1
	}
	s := append([]int64(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := (p*len(s) + 99) / 100
	return s[max(rank-1, 0)]
}

func ms(ns int64) string {
	if ns < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(ns)/1e6)
}
