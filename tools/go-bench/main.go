// Command go-bench is Go groupcache's side of groupcache-bench (Benchmarks/Sources/groupcache-bench):
//
//	go-bench serve -listen 127.0.0.1:0 -value-bytes 64
//	    serves golang/groupcache's own HTTP peer protocol (HTTPPool) for group "bench", whose loader answers
//	    value-bytes bytes for any key; this peer owns every key. Prints "listening <host:port>", then serves until
//	    standard input closes or SIGTERM. The harness fetches /_groupcache/bench/<key> with its own client.
//	go-bench local -value-bytes 64 -gets 2000000 -runs 5
//	    times golang's in-process Group.Get of a cached key and prints "ns/op <best> <median>" over the runs.
//	go-bench loads
//	    (a line on standard input while serving) answers "loads <n>": how many times the loader ran.
//
// Build: tools/go-bench/build.sh (offline, Debian's golang-go and golang-github-golang-groupcache-dev).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang/groupcache"
)

func main() {
	log.SetPrefix("go-bench: ")
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: go-bench serve|local [flags]")
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := flags.String("listen", "127.0.0.1:0", "serve: the address to listen on")
	valueBytes := flags.Int("value-bytes", 64, "the size of every value")
	gets := flags.Int("gets", 2000000, "local: gets per run")
	runs := flags.Int("runs", 5, "local: runs")
	flags.Parse(os.Args[2:])

	var loads int64
	value := strings.Repeat("v", *valueBytes)
	group := groupcache.NewGroup("bench", 256<<20, groupcache.GetterFunc(
		func(_ context.Context, key string, dest groupcache.Sink) error {
			atomic.AddInt64(&loads, 1)
			return dest.SetString(value)
		}))

	switch os.Args[1] {
	case "serve":
		serve(*listen, &loads)
	case "local":
		local(group, *gets, *runs)
	default:
		log.Fatalf("unknown mode %s", os.Args[1])
	}
}

func serve(listen string, loads *int64) {
	listener, err := net.Listen("tcp", listen)
	if err != nil {
		log.Fatalf("cannot listen on %s: %v", listen, err)
	}
	self := "http://" + listener.Addr().String()
	pool := groupcache.NewHTTPPool(self)
	pool.Set(self)
	server := &http.Server{Handler: pool}
	go server.Serve(listener)
	fmt.Printf("listening %s\n", listener.Addr())

	stop := make(chan struct{}, 2)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-signals; stop <- struct{}{} }()
	go func() {
		scanner := bufio.NewScanner(os.Stdin)
		for scanner.Scan() {
			if scanner.Text() == "loads" {
				fmt.Printf("loads %d\n", atomic.LoadInt64(loads))
			}
		}
		stop <- struct{}{}
	}()
	<-stop
	server.Close()
}

func local(group *groupcache.Group, gets, runs int) {
	ctx := context.Background()
	var sink []byte
	if err := group.Get(ctx, "hot", groupcache.AllocatingByteSliceSink(&sink)); err != nil {
		log.Fatal(err)
	}
	var results []float64
	for run := 0; run < runs; run++ {
		started := time.Now()
		for i := 0; i < gets; i++ {
			var value []byte
			if err := group.Get(ctx, "hot", groupcache.AllocatingByteSliceSink(&value)); err != nil {
				log.Fatal(err)
			}
		}
		results = append(results, float64(time.Since(started).Nanoseconds())/float64(gets))
	}
	sort.Float64s(results)
	fmt.Printf("ns/op %.1f %.1f\n", results[0], results[len(results)/2])
}
