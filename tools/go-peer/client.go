package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/consistenthash"
	pb "github.com/golang/groupcache/groupcachepb"
	"github.com/golang/protobuf/proto"

	"./wirepb"
)

// remoteError is an ERROR frame from a peer.
type remoteError struct {
	peer    string
	code    uint32
	message string
}

func (e *remoteError) Error() string {
	return fmt.Sprintf("%s answered error %d: %s", e.peer, e.code, e.message)
}

// picker is golang/groupcache's PeerPicker over golang's own crc32 ring (50 points per peer), with peer IDs in
// golang's form, http://host:port, as swift-groupcache's "golang" ring configuration names them.
type picker struct {
	self string
	mu   sync.RWMutex
	ring *consistenthash.Map
	byID map[string]*framePeer
}

func peerID(address string) string { return "http://" + address }

func newPicker(self string) *picker {
	p := &picker{self: self}
	p.set(nil)
	return p
}

// set replaces the members; this node is added if missing. It returns the IDs in use.
func (p *picker) set(addresses []string) []string {
	ids := []string{}
	byID := map[string]*framePeer{}
	for _, address := range append(addresses, strings.TrimPrefix(p.self, "http://")) {
		id := peerID(address)
		if _, seen := byID[id]; seen {
			continue
		}
		ids = append(ids, id)
		byID[id] = nil
		if id != p.self {
			byID[id] = &framePeer{id: id, address: address, idle: make(chan *clientConn, 8)}
		}
	}
	ring := consistenthash.New(50, nil)
	ring.Add(ids...)
	p.mu.Lock()
	old := p.byID
	p.ring, p.byID = ring, byID
	p.mu.Unlock()
	for _, peer := range old {
		if peer != nil {
			peer.closeIdle()
		}
	}
	return ids
}

// owner returns the ID of the peer that owns key.
func (p *picker) owner(key string) string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.ring.Get(key)
}

// PickPeer implements groupcache.PeerPicker.
func (p *picker) PickPeer(key string) (groupcache.ProtoGetter, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	peer := p.byID[p.ring.Get(key)]
	if peer == nil {
		return nil, false
	}
	return peer, true
}

func (p *picker) peer(id string) *framePeer {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.byID[id]
}

// framePeer is a remote peer reached over our frame protocol: golang/groupcache's ProtoGetter. Each request takes
// a pooled connection for its round trip, so requests run in parallel over up to 8 idle connections kept.
type framePeer struct {
	id      string
	address string
	idle    chan *clientConn
	nextID  uint32
}

type clientConn struct {
	conn   net.Conn
	reader *frameReader
	// sealer tags the requests once the connection is authenticated.
	sealer *tagger
}

// clusterSecrets, when set (-secret-file), authenticate every connection this peer opens.
var clusterSecrets secrets

// Get implements groupcache.ProtoGetter: the value's expiry is dropped, as golang/groupcache has none.
func (p *framePeer) Get(ctx context.Context, in *pb.GetRequest, out *pb.GetResponse) error {
	response, err := p.fetch(ctx, in.GetGroup(), in.GetKey())
	if err != nil {
		return err
	}
	out.Value = response.Value
	return nil
}

// fetch sends GET without ROUTE and returns the reply, expiry included.
func (p *framePeer) fetch(ctx context.Context, group, key string) (*wirepb.GetResponse, error) {
	payload, err := proto.Marshal(&wirepb.GetRequest{Group: []byte(group), Key: []byte(key)})
	if err != nil {
		return nil, err
	}
	reply, err := p.roundTrip(ctx, kindGet, payload)
	if err != nil {
		return nil, err
	}
	response := &wirepb.GetResponse{}
	if err := proto.Unmarshal(reply, response); err != nil {
		return nil, fmt.Errorf("%s sent a GET reply that does not decode: %v", p.id, err)
	}
	return response, nil
}

// roundTrip sends one request and waits for its reply on a connection of its own.
func (p *framePeer) roundTrip(ctx context.Context, kind byte, payload []byte) ([]byte, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	c, err := p.take(deadline)
	if err != nil {
		return nil, err
	}
	id := atomic.AddUint32(&p.nextID, 1)
	if id == 0 {
		id = atomic.AddUint32(&p.nextID, 1)
	}
	c.conn.SetDeadline(deadline)
	request := appendFrame(nil, kind, 0, id, payload)
	if c.sealer != nil {
		request = c.sealer.seal(request)
	}
	if _, err := c.conn.Write(request); err != nil {
		c.conn.Close()
		return nil, fmt.Errorf("sending to %s: %v", p.id, err)
	}
	reply, err := c.reader.read()
	if err != nil {
		c.conn.Close()
		return nil, fmt.Errorf("reading from %s: %v", p.id, err)
	}
	if reply.id != id {
		c.conn.Close()
		return nil, fmt.Errorf("%s answered id %d to request %d", p.id, reply.id, id)
	}
	p.put(c)
	switch reply.kind {
	case kind | kindReplyBit:
		return reply.payload, nil
	case kindError:
		e := &wirepb.ErrorResponse{}
		if err := proto.Unmarshal(reply.payload, e); err != nil {
			return nil, fmt.Errorf("%s sent an ERROR that does not decode: %v", p.id, err)
		}
		return nil, &remoteError{peer: p.id, code: e.GetCode(), message: e.GetMessage()}
	default:
		return nil, fmt.Errorf("%s answered kind 0x%02x to kind 0x%02x", p.id, reply.kind, kind)
	}
}

func (p *framePeer) take(deadline time.Time) (*clientConn, error) {
	select {
	case c := <-p.idle:
		return c, nil
	default:
	}
	conn, err := net.DialTimeout("tcp", p.address, time.Until(deadline))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %v", p.id, err)
	}
	conn.(*net.TCPConn).SetNoDelay(true)
	c := &clientConn{conn: conn, reader: &frameReader{r: bufio.NewReaderSize(conn, 64<<10)}}
	if clusterSecrets != nil {
		conn.SetDeadline(deadline)
		send, receive, err := clientHandshake(clusterSecrets, conn, c.reader, p.id)
		if err != nil {
			conn.Close()
			return nil, err
		}
		c.sealer, c.reader.opener = send, receive
	}
	return c, nil
}

func (p *framePeer) put(c *clientConn) {
	select {
	case p.idle <- c:
	default:
		c.conn.Close()
	}
}

func (p *framePeer) closeIdle() {
	for {
		select {
		case c := <-p.idle:
			c.conn.Close()
		default:
			return
		}
	}
}
