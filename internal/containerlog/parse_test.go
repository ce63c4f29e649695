package containerlog

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	ts := time.Date(2026, 11, 23, 5, 21, 55, 141729343, time.UTC)
	for _, tc := range []struct {
		desc    string
		line    string
		want    Entry
		wantErr bool
	}{
		{
			desc: "full stdout line, offset zone",
			line: "2026-11-23T05:21:55.141729343+00:00 stdout F hello world\n",
			want: Entry{Time: ts, Stream: Stdout, Content: []byte("hello world")},
		},
		{
			desc: "partial stderr line, Z zone",
			line: "2026-11-23T05:21:55.141729343Z stderr P hel",
			want: Entry{Time: ts, Stream: Stderr, Partial: true, Content: []byte("hel")},
		},
		{
			desc: "non-UTC offset is converted",
			line: "2026-11-23T07:21:55.141729343+02:00 stdout F x\n",
			want: Entry{Time: ts, Stream: Stdout, Content: []byte("x")},
		},
		{
			desc: "content keeps inner spaces",
			line: "2026-11-23T05:21:55.141729343Z stdout F  two  spaces \n",
			want: Entry{Time: ts, Stream: Stdout, Content: []byte(" two  spaces ")},
		},
		{
			desc: "empty content",
			line: "2026-11-23T05:21:55.141729343Z stdout F \n",
			want: Entry{Time: ts, Stream: Stdout, Content: []byte{}},
		},
		{
			desc: "empty content without separator",
			line: "2026-11-23T05:21:55.141729343Z stdout F\n",
			want: Entry{Time: ts, Stream: Stdout},
		},
		{
			desc: "extra tags",
			line: "2026-11-23T05:21:55.141729343Z stdout P:x partial\n",
			want: Entry{Time: ts, Stream: Stdout, Partial: true, Content: []byte("partial")},
		},
		{desc: "empty line", line: "\n", wantErr: true},
		{desc: "bad timestamp", line: "yesterday stdout F hi\n", wantErr: true},
		{desc: "unknown stream", line: "2026-11-23T05:21:55Z stdin F hi\n", wantErr: true},
		{desc: "unknown tag", line: "2026-11-23T05:21:55Z stdout X hi\n", wantErr: true},
		{desc: "no tag", line: "2026-11-23T05:21:55Z stdout\n", wantErr: true},
		{desc: "timestamp only", line: "2026-11-23T05:21:55Z", wantErr: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := Parse([]byte(tc.line))
			if tc.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse error = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !got.Time.Equal(tc.want.Time) || got.Time.Location() != time.UTC {
				t.Errorf("Time = %v, want %v in UTC", got.Time, tc.want.Time)
			}
			if got.Stream != tc.want.Stream || got.Partial != tc.want.Partial || string(got.Content) != string(tc.want.Content) {
				t.Errorf("Parse = %+v, want %+v", got, tc.want)
			}
		})
	}
}
