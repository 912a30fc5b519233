// Command go-peer runs real golang/groupcache groups behind swift-groupcache's frame protocol, so that Go and
// Swift peers share one cluster: a server that answers GET, PING and STATS frames (SET, REMOVE and REMOVE_KEYS get
// ERROR 8 UNSUPPORTED: golang/groupcache has no such operations), and a PeerPicker and ProtoGetter that fetch
// from other peers over the same frames. The ring is golang's own (crc32, 50 points per peer, IDs
// http://host:port), as swift-groupcache's "golang" ring configuration. Message code comes from Go's standard
// protobuf generator (protoc-gen-go), independent of the protobuf-c code the Swift peers use.
//
// Its loader: "user:<id>" gives a testdata User message, "missing:..." fails with not found, "fail:..." fails,
// and any other key gives "<key>@<this peer's ID>". Every value has expire 0.
//
// It prints "listening <host:port>", then, when standard input is a pipe, reads commands from it, one per line,
// and answers each with one line:
//
//	peers <host:port>,...     replace the members (this peer is added): "peers <ID>,..."
//	get <group> <key>         Group.Get: "value <hex>" or "error <message>"
//	getall <group> <k1,k2,..> concurrent Group.Gets: "values <hex>,<hex>,..." (or "error <key>: <message>")
//	user <group> <key>        Group.Get, decoded as a testdata User: "user id=... name=..." or "error ..."
//	fetch <group> <key>       GET frame to the key's owner: "value <hex> expire <ns>" or "error <code> <message>"
//	owners <k1,k2,...>        each key's owner: "owners <ID>,<ID>,..."
//	loads                     how many times the loader ran: "loads <n>"
//	stats <group>             the group's counters: "stats <name>=<n> ..."
//
// It exits when that pipe closes, so that it never outlives the process that started it, and on SIGTERM or SIGINT.
//
// Build: tools/go-peer/build.sh (offline, Debian's golang-go and golang-github-golang-groupcache-dev).
// Usage: go-peer [-listen 127.0.0.1:0] [-peers host:port,...] [-group name]... [-load-delay-ms n] [-secret-file path]
//
// With -secret-file it authenticates every connection both ways, as docs/PROTOCOL.md ("Authentication") says;
// without it, it listens only on loopback unless -insecure is given.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/protobuf/proto"

	"./testdatapb"
)

var errNotFound = errors.New("not found")

// groupList is a repeatable -group flag.
type groupList []string

func (g *groupList) String() string     { return strings.Join(*g, ",") }
func (g *groupList) Set(v string) error { *g = append(*g, v); return nil }

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "the address to listen on, host:port")
	peers := flag.String("peers", "", "the cluster's members, host:port, comma-separated; this peer is added")
	cacheBytes := flag.Int64("cache-bytes", 64<<20, "each group's cache budget in bytes")
	loadDelay := flag.Int("load-delay-ms", 0, "how long each load waits first, in milliseconds")
	secretFile := flag.String("secret-file", "", "the cluster's secrets, one per line: peers must prove they hold one; this peer connects with the first")
	insecure := flag.Bool("insecure", false, "without -secret-file, listen beyond loopback anyway")
	var groupNames groupList
	flag.Var(&groupNames, "group", "a group to serve; repeat for several (default things)")
	flag.Parse()
	log.SetPrefix("go-peer: ")
	log.SetFlags(0)
	if len(groupNames) == 0 {
		groupNames = groupList{"things"}
	}

	if *secretFile != "" {
		list, err := loadSecrets(*secretFile)
		if err != nil {
			log.Fatal(err)
		}
		clusterSecrets = list
	} else if host, _, err := net.SplitHostPort(*listen); err == nil && !*insecure && !isLoopback(host) {
		log.Fatalf("refusing to listen on %s without a cluster secret: give -secret-file, or opt out with -insecure", *listen)
	}
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("cannot listen on %s: %v", *listen, err)
	}
	address := listener.Addr().String()
	self := peerID(address)
	peerPicker := newPicker(self)
	peerPicker.set(split(*peers))
	groupcache.RegisterPeerPicker(func() groupcache.PeerPicker { return peerPicker })

	var loads int64
	delay := time.Duration(*loadDelay) * time.Millisecond
	loader := groupcache.GetterFunc(func(ctx context.Context, key string, dest groupcache.Sink) error {
		atomic.AddInt64(&loads, 1)
		if delay > 0 {
			time.Sleep(delay)
		}
		switch {
		case strings.HasPrefix(key, "missing:"):
			log.Printf("load %s: not found", key)
			return fmt.Errorf("go-peer: no value for %q: %w", key, errNotFound)
		case strings.HasPrefix(key, "fail:"):
			log.Printf("load %s: failed", key)
			return fmt.Errorf("go-peer: the loader failed for %q", key)
		case strings.HasPrefix(key, "user:"):
			log.Printf("load %s: user", key)
			return dest.SetProto(sampleUser(strings.TrimPrefix(key, "user:"), "go"))
		default:
			log.Printf("load %s: synthetic", key)
			return dest.SetString(key + "@" + self)
		}
	})
	var groups []*groupcache.Group
	for _, name := range groupNames {
		groups = append(groups, groupcache.NewGroup(name, *cacheBytes, loader))
	}

	srv := &server{groups: func() []*groupcache.Group { return groups }, loadTimeout: 30 * time.Second, secrets: clusterSecrets}
	go srv.serve(listener)
	out := &output{writer: bufio.NewWriter(os.Stdout)}
	out.line("listening " + address)
	log.Printf("peer %s serves %s", self, strings.Join(groupNames, ", "))

	stop := make(chan string, 2)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() { stop <- fmt.Sprintf("signal %v", <-signals) }()
	// A parent that talks to the peer gives it a pipe; a shell's & gives it /dev/null (which would end at once)
	// or the terminal (which would stop the peer on its first read): read only from a pipe.
	if info, err := os.Stdin.Stat(); err == nil && info.Mode()&os.ModeNamedPipe != 0 {
		go func() {
			commands(os.Stdin, out, peerPicker, &loads)
			stop <- "end of standard input"
		}()
	} else {
		log.Printf("standard input is not a pipe: commands off; stop the peer with SIGTERM or Ctrl-C")
	}
	log.Printf("stopping: %s", <-stop)
	listener.Close()
}

// sampleUser is the User the tests expect for id, made by producer ("go" or "swift").
func sampleUser(id, producer string) *testdatapb.User {
	return &testdatapb.User{
		Id: id, Name: "User " + id, Roles: []string{"reader", producer}, CreatedUnixNanos: 1700000000123456789,
		Avatar: []byte{0x00, 0x01, 0xfe, 0xff}, Address: &testdatapb.Address{City: "Zürich", Country: "CH"},
		Active: true, Score: 0.5,
	}
}

// describe prints a User in the fixed form the Swift tests compare with.
func describe(u *testdatapb.User) string {
	return fmt.Sprintf("id=%s name=%q roles=%s created=%d avatar=%x city=%q country=%q active=%t score=%g",
		u.Id, u.Name, strings.Join(u.Roles, "|"), u.CreatedUnixNanos, u.Avatar, u.GetAddress().GetCity(),
		u.GetAddress().GetCountry(), u.Active, u.Score)
}

// output writes whole lines to standard output, at once.
type output struct {
	mu     sync.Mutex
	writer *bufio.Writer
}

func (o *output) line(text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writer.WriteString(text + "\n")
	o.writer.Flush()
}

func split(list string) []string {
	var items []string
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// commands runs the commands read from input until it closes.
func commands(input *os.File, out *output, peers *picker, loads *int64) {
	scanner := bufio.NewScanner(input)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for scanner.Scan() {
		words := strings.Fields(scanner.Text())
		if len(words) == 0 {
			continue
		}
		out.line(command(words, peers, loads))
	}
}

func command(words []string, peers *picker, loads *int64) string {
	arguments := words[1:]
	need := map[string]int{"peers": 0, "get": 2, "getall": 2, "user": 2, "fetch": 2, "owners": 1, "loads": 0, "stats": 1}
	count, known := need[words[0]]
	switch {
	case !known:
		return "error unknown command " + words[0]
	case len(arguments) < count:
		return fmt.Sprintf("error %s needs %d arguments", words[0], count)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch words[0] {
	case "peers":
		list := ""
		if len(arguments) > 0 {
			list = arguments[0]
		}
		return "peers " + strings.Join(peers.set(split(list)), ",")
	case "get":
		value, err := get(ctx, arguments[0], arguments[1])
		if err != nil {
			return "error " + err.Error()
		}
		return "value " + hex.EncodeToString(value)
	case "getall":
		return getAll(ctx, arguments[0], split(arguments[1]))
	case "user":
		value, err := get(ctx, arguments[0], arguments[1])
		if err != nil {
			return "error " + err.Error()
		}
		user := &testdatapb.User{}
		if err := proto.Unmarshal(value, user); err != nil {
			return "error the value does not decode as a User: " + err.Error()
		}
		return "user " + describe(user)
	case "fetch":
		owner := peers.peer(peers.owner(arguments[1]))
		if owner == nil {
			return "error this peer owns " + arguments[1]
		}
		response, err := owner.fetch(ctx, arguments[0], arguments[1])
		var remote *remoteError
		switch {
		case errors.As(err, &remote):
			return fmt.Sprintf("error %d %s", remote.code, remote.message)
		case err != nil:
			return "error 0 " + err.Error()
		}
		return fmt.Sprintf("value %s expire %d", hex.EncodeToString(response.Value), response.GetExpire())
	case "owners":
		keys := split(arguments[0])
		owners := make([]string, len(keys))
		for i, key := range keys {
			owners[i] = peers.owner(key)
		}
		return "owners " + strings.Join(owners, ",")
	case "loads":
		return fmt.Sprintf("loads %d", atomic.LoadInt64(loads))
	default: // stats
		group := groupcache.GetGroup(arguments[0])
		if group == nil {
			return "error no group " + arguments[0]
		}
		s := &group.Stats
		return fmt.Sprintf("stats gets=%d cacheHits=%d peerLoads=%d peerErrors=%d loads=%d loadsDeduped=%d localLoads=%d localLoadErrs=%d serverRequests=%d",
			s.Gets.Get(), s.CacheHits.Get(), s.PeerLoads.Get(), s.PeerErrors.Get(), s.Loads.Get(), s.LoadsDeduped.Get(),
			s.LocalLoads.Get(), s.LocalLoadErrs.Get(), s.ServerRequests.Get())
	}
}

func get(ctx context.Context, groupName, key string) ([]byte, error) {
	group := groupcache.GetGroup(groupName)
	if group == nil {
		return nil, fmt.Errorf("no group %s", groupName)
	}
	var value []byte
	err := group.Get(ctx, key, groupcache.AllocatingByteSliceSink(&value))
	return value, err
}

// getAll gets every key at once, each in its own goroutine, and answers their values in the keys' order.
func getAll(ctx context.Context, group string, keys []string) string {
	values := make([]string, len(keys))
	errs := make([]error, len(keys))
	var wait sync.WaitGroup
	for i, key := range keys {
		wait.Add(1)
		go func(i int, key string) {
			defer wait.Done()
			value, err := get(ctx, group, key)
			values[i], errs[i] = hex.EncodeToString(value), err
		}(i, key)
	}
	wait.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Sprintf("error %s: %v", keys[i], err)
		}
	}
	return "values " + strings.Join(values, ",")
}

// isLoopback reports whether host is a loopback address or resolves to one only.
func isLoopback(host string) bool {
	addresses, err := net.LookupIP(host)
	if err != nil || len(addresses) == 0 {
		return false
	}
	for _, address := range addresses {
		if !address.IsLoopback() {
			return false
		}
	}
	return true
}
