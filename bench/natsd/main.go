// Command natsd is a NATS server for the cluster comparison: the
// nats-server/v2 library's server, in a process of its own so that the
// driver counts its CPU time as the bus's. (No nats-server binary is
// installed where the comparison runs; the library is the same server.)
// It listens on -addr, prints "ready HOST:PORT" on stdout once it accepts
// clients, and serves until SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("natsd: ")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on; port 0 picks a free one")
	flag.Parse()
	host, portStr, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatal(err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		log.Fatalf("port %q: %v", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	// The defaults otherwise: no logging, no monitoring port, no
	// JetStream; NoSigs so that this main, not the library, handles
	// SIGTERM.
	s, err := server.NewServer(&server.Options{Host: host, Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		log.Fatal("not ready after 10s")
	}
	fmt.Printf("ready %s\n", s.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	s.Shutdown()
	s.WaitForShutdown()
}
