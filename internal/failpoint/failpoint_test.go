package failpoint

import (
	"errors"
	"fmt"
	"testing"
)

func TestParseAndHit(t *testing.T) {
	tests := []struct {
		spec    string
		hits    []string
		killAt  int // index into hits of the fatal hit, -1 for none
		wantErr bool
	}{
		{spec: "", hits: []string{"a", "a"}, killAt: -1},
		{spec: "a", hits: []string{"b", "a", "a"}, killAt: 1},
		{spec: "a=3", hits: []string{"a", "a", "a", "a"}, killAt: 2},
		{spec: "a=2, b", hits: []string{"a", "b"}, killAt: 1},
		{spec: "a=0", wantErr: true},
		{spec: "a=x", wantErr: true},
		{spec: "=2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			killed := -1
			i := 0
			s, err := New(tt.spec, func() {
				if killed < 0 {
					killed = i
				}
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("New(%q) error = %v, want error %v", tt.spec, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			for i = range tt.hits {
				s.Hit(tt.hits[i])
			}
			if killed != tt.killAt {
				t.Errorf("killed at hit %d, want %d", killed, tt.killAt)
			}
		})
	}
}

func TestFail(t *testing.T) {
	s, err := New("a=error2,b", func() {})
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for i := 0; i < 3; i++ {
		got = append(got, errors.Is(s.Fail("a"), ErrInjected))
	}
	if want := []bool{true, true, false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Fail(a) failed %v, want %v", got, want)
	}
	if s.Fail("b") != nil || s.Fail("c") != nil || (*Set)(nil).Fail("a") != nil {
		t.Errorf("unarmed error failpoints failed")
	}
}
