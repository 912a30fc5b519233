// Command go-ring prints the owner of each key read from standard input (one per line), as Go groupcache's rings
// place them, in the form "<key>\t<peer ID>". Tests compare its output with swift-groupcache's ring.
//
// The crc32 flavour is golang/groupcache's own consistenthash package. The fnv1 flavour (mailgun v2 and
// groupcache-go v3) is written here with Go's standard library, since Debian does not package those modules.
//
// Usage: go-ring -flavor crc32|fnv1 -peers ID1,ID2,... [-replicas 50] < keys
package main

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/golang/groupcache/consistenthash"
)

// fnv1Ring places peers as mailgun/groupcache v2 and groupcache-go v3 do: points are FNV-1 64 of the lowercase
// hex MD5 of replica index + peer ID, sorted as signed int64; keys are FNV-1 64 of their bytes.
type fnv1Ring struct {
	points []int64
	owner  map[int64]string
}

func fnv1(data []byte) int64 {
	h := fnv.New64()
	h.Write(data)
	return int64(h.Sum64())
}

func newFNV1Ring(replicas int, peers []string) *fnv1Ring {
	r := &fnv1Ring{owner: map[int64]string{}}
	for _, peer := range peers {
		for i := 0; i < replicas; i++ {
			sum := md5.Sum([]byte(strconv.Itoa(i) + peer))
			point := fnv1([]byte(hex.EncodeToString(sum[:])))
			r.points = append(r.points, point)
			r.owner[point] = peer
		}
	}
	sort.Slice(r.points, func(i, j int) bool { return r.points[i] < r.points[j] })
	return r
}

func (r *fnv1Ring) Get(key string) string {
	hash := fnv1([]byte(key))
	idx := sort.Search(len(r.points), func(i int) bool { return r.points[i] >= hash })
	if idx == len(r.points) {
		idx = 0
	}
	return r.owner[r.points[idx]]
}

func main() {
	flavor := flag.String("flavor", "crc32", "crc32 (golang/groupcache) or fnv1 (mailgun v2, groupcache-go v3)")
	peerList := flag.String("peers", "", "comma-separated peer IDs")
	replicas := flag.Int("replicas", 50, "points per peer")
	flag.Parse()
	peers := strings.Split(*peerList, ",")

	var get func(string) string
	switch *flavor {
	case "crc32":
		ring := consistenthash.New(*replicas, nil)
		ring.Add(peers...)
		get = ring.Get
	case "fnv1":
		get = newFNV1Ring(*replicas, peers).Get
	default:
		fmt.Fprintf(os.Stderr, "go-ring: unknown flavor %q\n", *flavor)
		os.Exit(2)
	}

	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		fmt.Fprintf(out, "%s\t%s\n", in.Text(), get(in.Text()))
	}
}
