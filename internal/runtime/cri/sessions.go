package cri

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
)

// sessions ties streaming connections to the sandbox they reach into, so
// that stopping a sandbox ends them: a port-forward to a deleted pod ends
// on both sides (kubectl says "lost connection to pod") instead of
// accepting connections that lead nowhere.
type sessions struct {
	mu     sync.Mutex
	tokens map[string]string                // URL token → sandbox ID
	conns  map[string]map[net.Conn]struct{} // sandbox ID → hijacked connections
}

func newSessions() *sessions {
	return &sessions{tokens: map[string]string{}, conns: map[string]map[net.Conn]struct{}{}}
}

// expect records that the session at rawURL reaches into sandboxID.
func (ss *sessions) expect(rawURL, sandboxID string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.tokens[path.Base(u.Path)] = sandboxID
}

// closeSandbox closes every connection into sandboxID.
func (ss *sessions) closeSandbox(sandboxID string) {
	ss.mu.Lock()
	conns := ss.conns[sandboxID]
	delete(ss.conns, sandboxID)
	for token, id := range ss.tokens {
		if id == sandboxID {
			delete(ss.tokens, token)
		}
	}
	ss.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// wrap returns h with the connections it hijacks for a recorded token
// tracked until they close.
func (ss *sessions) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := path.Base(strings.TrimSuffix(r.URL.Path, "/"))
		ss.mu.Lock()
		sandboxID, ok := ss.tokens[token]
		delete(ss.tokens, token) // tokens are single-use
		ss.mu.Unlock()
		if ok {
			if hj, isHijacker := w.(http.Hijacker); isHijacker {
				w = &trackingWriter{ResponseWriter: w, hj: hj, ss: ss, sandboxID: sandboxID}
			}
		}
		h.ServeHTTP(w, r)
	})
}

type trackingWriter struct {
	http.ResponseWriter
	hj        http.Hijacker
	ss        *sessions
	sandboxID string
}

func (w *trackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := w.hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	tc := &trackedConn{Conn: c, ss: w.ss, sandboxID: w.sandboxID}
	w.ss.mu.Lock()
	if w.ss.conns[w.sandboxID] == nil {
		w.ss.conns[w.sandboxID] = map[net.Conn]struct{}{}
	}
	w.ss.conns[w.sandboxID][tc] = struct{}{}
	w.ss.mu.Unlock()
	return tc, rw, nil
}

func (w *trackingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// trackedConn forgets itself when closed.
type trackedConn struct {
	net.Conn
	ss        *sessions
	sandboxID string
	once      sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.ss.mu.Lock()
		delete(c.ss.conns[c.sandboxID], c)
		if len(c.ss.conns[c.sandboxID]) == 0 {
			delete(c.ss.conns, c.sandboxID)
		}
		c.ss.mu.Unlock()
	})
	return c.Conn.Close()
}
