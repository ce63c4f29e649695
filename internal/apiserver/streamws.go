package apiserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	portforwardconst "k8s.io/apimachinery/pkg/util/portforward"
	rcconst "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	clientspdy "k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// kubectl 1.30+ speaks WebSocket to the API server; the runtime's
// streaming server speaks SPDY, as the kubelet's and containerd's do. As
// kube-apiserver does, exec and attach over WebSocket (v5.channel.k8s.io)
// are translated to an SPDY session, and port-forward's SPDY, tunnelled
// inside WebSocket messages, is unwrapped and passed through. peapod has its
// own handlers rather than k8s.io/apiserver's, which would pull client-go's
// informers into the daemon (about 12 MiB more resident memory).

// wsIdleTimeout closes a WebSocket session nothing travelled on for this
// long (kube-apiserver's).
const wsIdleTimeout = 4 * time.Hour

// streamOpts are the streams an exec or attach session carries.
type streamOpts struct {
	stdin, stdout, stderr, tty bool
}

// serveWebSocketStream runs an exec or attach session for a WebSocket
// client against the SPDY streaming server at location.
func (s *Server) serveWebSocketStream(w http.ResponseWriter, r *http.Request, location *url.URL, o streamOpts) {
	channel := func(on bool, kind wsstream.ChannelType) wsstream.ChannelType {
		if on {
			return kind
		}
		return wsstream.IgnoreChannel
	}
	channels := make([]wsstream.ChannelType, 5)
	channels[rcconst.StreamStdIn] = channel(o.stdin, wsstream.ReadChannel)
	channels[rcconst.StreamStdOut] = channel(o.stdout, wsstream.WriteChannel)
	channels[rcconst.StreamStdErr] = channel(o.stderr, wsstream.WriteChannel)
	channels[rcconst.StreamErr] = wsstream.WriteChannel
	channels[rcconst.StreamResize] = wsstream.ReadChannel
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		rcconst.StreamProtocolV5Name: {Binary: true, Channels: channels},
	})
	conn.SetIdleTimeout(wsIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		return // conn.Open answered the client
	}
	defer conn.Close()
	// A first, empty message tells the client the session is up.
	first := streams[rcconst.StreamErr]
	switch {
	case o.stdout:
		first = streams[rcconst.StreamStdOut]
	case o.stderr:
		first = streams[rcconst.StreamStdErr]
	}
	if _, err := first.Write(nil); err != nil {
		return
	}
	writeStatus := func(st metav1.Status) {
		b, err := json.Marshal(st)
		if err != nil {
			return
		}
		conn.SetWriteDeadline(10 * time.Second)
		_, _ = streams[rcconst.StreamErr].Write(b)
	}

	rt, err := spdy.NewRoundTripperWithConfig(spdy.RoundTripperConfig{UpgradeTransport: s.streamTransport, PingPeriod: 5 * time.Second})
	if err != nil {
		writeStatus(apierrors.NewInternalError(err).ErrStatus)
		return
	}
	executor, err := remotecommand.NewSPDYExecutorRejectRedirects(rt, clientspdy.NewUpgraderForStreaming(rt), http.MethodPost, location)
	if err != nil {
		writeStatus(apierrors.NewInternalError(err).ErrStatus)
		return
	}
	opts := remotecommand.StreamOptions{Tty: o.tty}
	if o.stdin {
		opts.Stdin = streams[rcconst.StreamStdIn]
	}
	if o.stdout {
		opts.Stdout = streams[rcconst.StreamStdOut]
	}
	if o.stderr {
		opts.Stderr = streams[rcconst.StreamStdErr]
	}
	if o.tty {
		sizes := make(chan remotecommand.TerminalSize)
		go readSizes(r.Context(), streams[rcconst.StreamResize], sizes)
		opts.TerminalSizeQueue = sizeQueue(sizes)
	}
	err = executor.StreamWithContext(r.Context(), opts)
	var statusErr *apierrors.StatusError
	var exitErr exec.CodeExitError
	switch {
	case err == nil:
		writeStatus(metav1.Status{Status: metav1.StatusSuccess})
	case errors.As(err, &statusErr):
		writeStatus(statusErr.ErrStatus)
	case errors.As(err, &exitErr) && exitErr.Exited():
		writeStatus(metav1.Status{
			Status: metav1.StatusFailure, Reason: rcconst.NonZeroExitCodeReason,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: rcconst.ExitCodeCauseType, Message: fmt.Sprint(exitErr.ExitStatus())}}},
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", exitErr),
		})
	default:
		writeStatus(apierrors.NewInternalError(err).ErrStatus)
	}
}

// readSizes decodes the client's terminal sizes (JSON objects on the
// resize channel) until it ends.
func readSizes(ctx context.Context, r io.Reader, sizes chan<- remotecommand.TerminalSize) {
	defer close(sizes)
	dec := json.NewDecoder(r)
	for {
		var size remotecommand.TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case sizes <- size:
		case <-ctx.Done():
			return
		}
	}
}

// sizeQueue hands the executor one size at a time; nil once they end.
type sizeQueue chan remotecommand.TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	size, ok := <-q
	if !ok {
		return nil
	}
	return &size
}

// servePortForwardTunnel passes a port-forward session that a WebSocket
// client tunnels (SPDY/3.1+portforward.k8s.io) to the SPDY streaming
// server at location: the SPDY upgrade is made to the server first, its
// answer decides the client's, then bytes flow both ways unchanged.
func (s *Server) servePortForwardTunnel(w http.ResponseWriter, r *http.Request, location *url.URL) {
	var protocols []string
	for _, p := range gwebsocket.Subprotocols(r) {
		if strings.HasPrefix(p, portforwardconst.WebsocketsSPDYTunnelingPrefix) && strings.HasSuffix(p, portforwardconst.KubernetesSuffix) {
			protocols = append(protocols, strings.TrimPrefix(p, portforwardconst.WebsocketsSPDYTunnelingPrefix))
		}
	}
	if len(protocols) == 0 {
		http.Error(w, "unable to upgrade: no tunneling spdy protocols provided", http.StatusBadRequest)
		return
	}
	backend, resp, buffered, err := dialSPDY(r.Context(), location, protocols)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	defer backend.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The streaming server refused: its answer is the client's.
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(buffered, 1<<20))
		return
	}
	var agreed []string
	if p := strings.TrimSpace(resp.Header.Get(httpstream.HeaderProtocolVersion)); p != "" {
		agreed = []string{portforwardconst.WebsocketsSPDYTunnelingPrefix + p}
	}
	upgrader := gwebsocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, Subprotocols: agreed}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered the client
	}
	client := portforward.NewTunnelingConnection("server", ws)
	defer client.Close()
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(backend, client)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, buffered)
		done <- struct{}{}
	}()
	// Either side ending ends the session: the deferred closes stop the
	// other copy.
	<-done
}

// dialSPDY sends an SPDY upgrade request for location and reads the
// answer; the returned reader holds what follows the answer's header.
func dialSPDY(ctx context.Context, location *url.URL, protocols []string) (net.Conn, *http.Response, *bufio.Reader, error) {
	conn, err := (&net.Dialer{Timeout: 30 * time.Second}).DialContext(ctx, "tcp", location.Host)
	if err != nil {
		return nil, nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, location.String(), nil)
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	req.Header.Set(httpstream.HeaderConnection, httpstream.HeaderUpgrade)
	req.Header.Set(httpstream.HeaderUpgrade, spdy.HeaderSpdy31)
	for _, p := range protocols {
		req.Header.Add(httpstream.HeaderProtocolVersion, p)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return conn, resp, bufio.NewReader(resp.Body), nil
	}
	return conn, resp, br, nil
}
