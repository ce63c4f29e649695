package cri

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestSessionsCloseSandbox: a hijacked connection reached through a
// recorded token closes when its sandbox stops; others stay.
func TestSessionsCloseSandbox(t *testing.T) {
	ss := newSessions()
	hijacked := make(chan net.Conn, 2)
	srv := httptest.NewServer(ss.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"))
		hijacked <- c
	})))
	defer srv.Close()
	ss.expect(srv.URL+"/portforward/tok1", "sb1")
	ss.expect(srv.URL+"/portforward/tok2", "sb2")
	dial := func(path string) net.Conn {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "HTTP/1.1 101 Switching Protocols\r\n" {
			t.Fatalf("%q %v", line, err)
		}
		<-hijacked
		return c
	}
	c1, c2 := dial("/portforward/tok1"), dial("/portforward/tok2")
	defer c1.Close()
	defer c2.Close()
	ss.closeSandbox("sb1")
	_ = c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("sb1's session: read %v, want EOF", err)
	}
	_ = c2.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c2.Read(make([]byte, 1)); err == nil || !isTimeout(err) {
		t.Errorf("sb2's session: read %v, want it open", err)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.tokens) != 0 || len(ss.conns["sb1"]) != 0 || len(ss.conns["sb2"]) != 1 {
		t.Errorf("tokens %v conns %v", ss.tokens, ss.conns)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
