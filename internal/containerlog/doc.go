// Package containerlog reads container logs in the CRI log file format, the
// format conmon's k8s-file driver writes and `kubectl logs` shows.
//
// Each line of a log file is
//
//	<RFC 3339 timestamp> <stdout|stderr> <P|F> <content>\n
//
// where P marks a partial line: the writer split a long line (or flushed a
// line without its newline) and the pieces up to and including the next F
// line of the same stream form one line of output. Read joins the pieces,
// filters by stream and time, keeps the last N lines, limits the byte count
// and, when following, waits for the file to grow.
//
// Policy.Rotate rotates a log by size as the kubelet's log manager does
// (rename, compress the older rotated files, keep at most MaxFiles), asking
// the writer (conmon) to reopen the live file. Read copes with a file
// replaced or truncated under it by reopening it, so following a log goes
// on across a rotation.
package containerlog
