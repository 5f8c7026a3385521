package redisbus_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rfc6455/websocket"
	redisbus "github.com/rfc6455/websocket/bus/redis"
	"github.com/rfc6455/websocket/bustest"
)

// redisServer is a redis-server process on a loopback port that it keeps
// across a restart.
type redisServer struct {
	cmd     *exec.Cmd
	port    int
	cleanup func(func()) // the whole test's t.Cleanup, which outlives a subtest that restarts the server
}

// needRedis returns the path of redis-server. Without one the test is
// skipped, but under CI=true, where .ci/run installs it, it fails.
func needRedis(t *testing.T) string {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (apt-get install redis-server)")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	return path
}

func (rs *redisServer) start(t *testing.T, path string) {
	t.Helper()
	if rs.port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		rs.port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	rs.cmd = exec.Command(path, "--bind", "127.0.0.1", "--port", fmt.Sprint(rs.port),
		"--save", "", "--appendonly", "no", "--loglevel", "notice")
	out, err := rs.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Stopped at the end of the test whatever happens, even if it never
	// gets ready (stopping one that has stopped already does nothing).
	cmd := rs.cmd
	rs.cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("redis-server exited before it was ready")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("redis-server not ready within 10s")
	}
}

func (rs *redisServer) stop() {
	rs.cmd.Process.Kill()
	rs.cmd.Wait()
}

func TestBus(t *testing.T) {
	path := needRedis(t)
	rs := &redisServer{cleanup: t.Cleanup}
	rs.start(t, path)
	clients := map[websocket.Bus]*redis.Client{}
	bustest.Run(t, bustest.Harness{
		New: func(t *testing.T) websocket.Bus {
			rdb := redis.NewClient(&redis.Options{
				Addr:        fmt.Sprintf("127.0.0.1:%d", rs.port),
				DialTimeout: time.Second,
			})
			t.Cleanup(func() { rdb.Close() })
			b := redisbus.New(rdb)
			clients[b] = rdb
			return b
		},
		Stop:  func(t *testing.T) { rs.stop() },
		Start: func(t *testing.T) { rs.start(t, path) },
		WaitConnected: func(t *testing.T, b websocket.Bus, connected bool) {
			rdb := clients[b]
			deadline := time.Now().Add(10 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				err := rdb.Ping(ctx).Err()
				cancel()
				if (err == nil) == connected {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("Redis ping: %v, want connected %v", err, connected)
				}
				time.Sleep(5 * time.Millisecond)
			}
		},
	})
}
