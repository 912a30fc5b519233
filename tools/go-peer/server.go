package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/golang/groupcache"
	"github.com/golang/protobuf/proto"

	"./wirepb"
)

// server answers our frame protocol with golang/groupcache groups: GET, PING and STATS; SET, REMOVE and
// REMOVE_KEYS get ERROR UNSUPPORTED, since golang/groupcache cannot change a cached value.
type server struct {
	groups      func() []*groupcache.Group
	loadTimeout time.Duration
	// secrets, when set, are required of every connection (docs/PROTOCOL.md, "Authentication").
	secrets secrets
}

// serve accepts connections until the listener closes.
func (s *server) serve(listener net.Listener) {
	for {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			tcp.SetNoDelay(true)
		}
		go s.serveConnection(conn)
	}
}

// connection is one client's connection: requests run concurrently; replies are written whole, one at a time.
type connection struct {
	conn    net.Conn
	writeMu sync.Mutex
	writer  *bufio.Writer
	// sealer tags every frame sent after the handshake's step 2.
	sealer *tagger
}

func (c *connection) send(kind byte, id uint32, payload []byte) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	bytes := appendFrame(nil, kind, 0, id, payload)
	if c.sealer != nil {
		bytes = c.sealer.seal(bytes)
	}
	c.writer.Write(bytes)
	c.writer.Flush()
}

func (c *connection) sealWith(t *tagger) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.sealer = t
}

func (c *connection) sendError(id uint32, code uint32, message string) {
	payload, _ := proto.Marshal(&wirepb.ErrorResponse{Code: proto.Uint32(code), Message: proto.String(truncate(message))})
	c.send(kindError, id, payload)
}

// truncate cuts a message to at most 1 KiB on a character boundary.
func truncate(message string) string {
	if len(message) <= 1024 {
		return message
	}
	cut := 1024
	for cut > 0 && !utf8.RuneStart(message[cut]) {
		cut--
	}
	return message[:cut]
}

func (s *server) serveConnection(conn net.Conn) {
	c := &connection{conn: conn, writer: bufio.NewWriterSize(conn, 64<<10)}
	var inFlight sync.WaitGroup
	defer func() {
		inFlight.Wait()
		conn.Close()
	}()
	limited := &limitedConn{Conn: conn, limited: s.secrets != nil, remaining: bytesBeforeAuth}
	reader := &frameReader{r: bufio.NewReaderSize(limited, 64<<10)}
	if s.secrets != nil {
		conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
		_, receive, err := serverHandshake(s.secrets, reader, c)
		if err != nil {
			log.Printf("refused a connection from %s: %v", conn.RemoteAddr(), err)
			c.sendError(0, codeUnauthenticated, err.Error())
			return
		}
		conn.SetReadDeadline(time.Time{})
		limited.limited = false
		reader.opener = receive
	}
	for {
		f, err := reader.read()
		var bad *frameError
		var unauthenticated *authError
		switch {
		case errors.As(err, &unauthenticated):
			log.Printf("closing a connection from %s: %v", conn.RemoteAddr(), err)
			c.sendError(0, codeUnauthenticated, err.Error())
			return
		case errors.As(err, &bad):
			c.sendError(0, bad.code, bad.message)
			return
		case err != nil:
			return
		case f.kind&kindReplyBit != 0:
			c.sendError(f.id, codeBadRequest, fmt.Sprintf("kind 0x%02x is a reply; a server takes requests", f.kind))
			return
		}
		switch f.kind {
		case kindGet:
			request := &wirepb.GetRequest{}
			if err := proto.Unmarshal(f.payload, request); err != nil {
				c.sendError(f.id, codeBadRequest, "GET payload does not decode: "+err.Error())
				return
			}
			inFlight.Add(1)
			go func() {
				defer inFlight.Done()
				s.get(c, f.id, request)
			}()
		case kindPing:
			c.send(kindPing|kindReplyBit, f.id, nil)
		case kindStats:
			c.send(kindStats|kindReplyBit, f.id, s.stats())
		case kindHello:
			if s.secrets != nil {
				c.sendError(f.id, codeBadRequest, "a HELLO after the handshake")
				return
			}
			c.sendError(f.id, codeUnsupported, "go-peer: no cluster secret (started without -secret-file)")
		case kindSet:
			c.sendError(f.id, codeUnsupported, "go-peer: golang/groupcache cannot set a value")
		case kindRemove, kindRemoveKeys:
			c.sendError(f.id, codeUnsupported, "go-peer: golang/groupcache cannot remove a value")
		default:
			c.sendError(f.id, codeUnsupported, fmt.Sprintf("go-peer: unknown request kind 0x%02x", f.kind))
		}
	}
}

// get answers a GET through golang/groupcache's Group.Get: from its caches, its loader or, for a key it does not
// own, the owner (golang cannot tell a peer's request from its own callers', so it forwards; rings must agree).
func (s *server) get(c *connection, id uint32, request *wirepb.GetRequest) {
	group := groupcache.GetGroup(string(request.Group))
	if group == nil {
		c.sendError(id, codeNoSuchGroup, fmt.Sprintf("go-peer: no group %q", request.Group))
		return
	}
	group.Stats.ServerRequests.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), s.loadTimeout)
	defer cancel()
	var value []byte
	if err := group.Get(ctx, string(request.Key), groupcache.AllocatingByteSliceSink(&value)); err != nil {
		code := codeLoadFailed
		if errors.Is(err, errNotFound) {
			code = codeNotFound
		}
		c.sendError(id, code, err.Error())
		return
	}
	// golang/groupcache has no expiry: expire is 0, written as Go's v2 and v3 write it.
	payload, err := proto.Marshal(&wirepb.GetResponse{Value: nonNil(value), Expire: proto.Int64(0)})
	if err != nil {
		log.Printf("encoding a GET reply: %v", err)
		c.sendError(id, codeInternal, "go-peer: "+err.Error())
		return
	}
	c.send(kindGet|kindReplyBit, id, payload)
}

// stats encodes every group's counters with golang/groupcache's names.
func (s *server) stats() []byte {
	response := &wirepb.StatsResponse{}
	for _, group := range s.groups() {
		stats := &group.Stats
		main := group.CacheStats(groupcache.MainCache)
		hot := group.CacheStats(groupcache.HotCache)
		response.Groups = append(response.Groups, &wirepb.GroupStats{
			Name:           []byte(group.Name()),
			Gets:           proto.Uint64(uint64(stats.Gets.Get())),
			CacheHits:      proto.Uint64(uint64(stats.CacheHits.Get())),
			PeerLoads:      proto.Uint64(uint64(stats.PeerLoads.Get())),
			PeerErrors:     proto.Uint64(uint64(stats.PeerErrors.Get())),
			Loads:          proto.Uint64(uint64(stats.Loads.Get())),
			LoadsDeduped:   proto.Uint64(uint64(stats.LoadsDeduped.Get())),
			LocalLoads:     proto.Uint64(uint64(stats.LocalLoads.Get())),
			LocalLoadErrs:  proto.Uint64(uint64(stats.LocalLoadErrs.Get())),
			ServerRequests: proto.Uint64(uint64(stats.ServerRequests.Get())),
			MainCache:      cacheStats(main),
			HotCache:       cacheStats(hot),
		})
	}
	payload, _ := proto.Marshal(response)
	return payload
}

func cacheStats(s groupcache.CacheStats) *wirepb.CacheStats {
	return &wirepb.CacheStats{
		Bytes: proto.Uint64(uint64(s.Bytes)), Items: proto.Uint64(uint64(s.Items)), Gets: proto.Uint64(uint64(s.Gets)),
		Hits: proto.Uint64(uint64(s.Hits)), Evictions: proto.Uint64(uint64(s.Evictions)),
	}
}

// nonNil makes an empty value encode as an empty field rather than no field.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
