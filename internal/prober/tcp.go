package prober

import (
	"context"
	"net"
	"strconv"
	"time"
)

// probeTCP connects to host:port within timeout and closes the connection
// at once: connected is success, anything else a failure with the dial
// error as output.
func probeTCP(ctx context.Context, host string, port int, timeout time.Duration) (outcome, string, error) {
	d := probeDialer()
	d.Timeout = timeout
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return outcomeFailure, err.Error(), nil
	}
	_ = conn.Close()
	return outcomeSuccess, "", nil
}
