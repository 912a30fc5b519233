package main

// Authentication, as docs/PROTOCOL.md ("Authentication") specifies it: a three-step HELLO handshake proves both
// sides hold a cluster secret and derives a session key; after it every frame ends with a 16-byte tag,
// HMAC-SHA256(K, direction || count || frame)[:16]. Written from the document alone, with Go's standard library.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/golang/protobuf/proto"

	"./wirepb"
)

const (
	kindHello           byte   = 0x07
	codeUnauthenticated uint32 = 9
	tagLength                  = 16
	nonceLength                = 32
	taggedVersion       uint32 = 2
	bytesBeforeAuth            = 256
	handshakeTimeout           = 5 * time.Second
	directionToServer   byte   = 0x01
	directionToClient   byte   = 0x02
)

// secrets are the cluster's secrets: every one is accepted, the first is used to connect.
type secrets [][]byte

// loadSecrets reads one secret per non-empty line, whitespace around it stripped; each must be 32 bytes or more.
func loadSecrets(path string) (secrets, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the secret file %s: %v", path, err)
	}
	var list secrets
	for number, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(line) < 32 {
			return nil, fmt.Errorf("the secret file %s: line %d holds a secret of %d bytes; a secret must be at least 32 bytes", path, number+1, len(line))
		}
		list = append(list, []byte(line))
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("the secret file %s holds no secret", path)
	}
	return list, nil
}

func mac(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, part := range parts {
		h.Write(part)
	}
	return h.Sum(nil)
}

func keyID(secret []byte) []byte { return mac(secret, []byte("groupcache key id"))[:8] }

func sessionKey(secret, clientNonce, serverNonce []byte) []byte {
	return mac(secret, []byte("groupcache session v2"), clientNonce, serverNonce)
}

func proof(key []byte, label string) []byte {
	var version [4]byte
	binary.BigEndian.PutUint32(version[:], taggedVersion)
	return mac(key, []byte(label), version[:])
}

func nonce() []byte {
	b := make([]byte, nonceLength)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// tagger seals the frames one side sends, or checks the frames it receives, counting them.
type tagger struct {
	key       []byte
	direction byte
	count     uint64
}

func (t *tagger) tag(frameBytes []byte) []byte {
	var prefix [9]byte
	prefix[0] = t.direction
	binary.BigEndian.PutUint64(prefix[1:], t.count)
	return mac(t.key, prefix[:], frameBytes)[:tagLength]
}

// seal grows the frame's length by the tag and appends the tag.
func (t *tagger) seal(frameBytes []byte) []byte {
	binary.BigEndian.PutUint32(frameBytes[0:4], binary.BigEndian.Uint32(frameBytes[0:4])+tagLength)
	sealed := append(frameBytes, t.tag(frameBytes)...)
	t.count++
	return sealed
}

// verify checks the tag of a frame whose bytes (length through payload) are frameBytes.
func (t *tagger) verify(frameBytes, tag []byte) bool {
	if !hmac.Equal(t.tag(frameBytes), tag) {
		return false
	}
	t.count++
	return true
}

// authError is a handshake or tag failure: the server answers ERROR 9 with id 0 and closes.
type authError struct{ message string }

func (e *authError) Error() string { return e.message }

// limitedConn reads at most `remaining` bytes while `limited`: what a stranger gets to send before the handshake.
type limitedConn struct {
	net.Conn
	limited   bool
	remaining int
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if !c.limited {
		return c.Conn.Read(p)
	}
	if c.remaining <= 0 {
		return 0, &authError{fmt.Sprintf("%d bytes without completing the handshake", bytesBeforeAuth)}
	}
	if len(p) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.Conn.Read(p)
	c.remaining -= n
	return n, err
}

// serverHandshake runs the server's side on a new connection: it reads HELLO, answers, and checks the proof.
// It returns the taggers for the frames the server sends and receives.
func serverHandshake(list secrets, r *frameReader, c *connection) (send, receive *tagger, err error) {
	first, err := r.peekKind()
	if err != nil {
		return nil, nil, err
	}
	if first != kindHello {
		return nil, nil, &authError{fmt.Sprintf("a kind 0x%02x frame before the handshake: this node requires a cluster secret (HELLO first)", first)}
	}
	hello, id, err := readHello(r, kindHello)
	if err != nil {
		return nil, nil, err
	}
	offered := false
	for _, v := range hello.Versions {
		offered = offered || v == taggedVersion
	}
	if !offered {
		return nil, nil, &authError{fmt.Sprintf("the client speaks versions %v; a node with a secret requires 2", hello.Versions)}
	}
	if len(hello.Nonce) != nonceLength {
		return nil, nil, &authError{fmt.Sprintf("the client's nonce is %d bytes, not 32", len(hello.Nonce))}
	}
	var secret []byte
	for _, s := range list {
		if hmac.Equal(keyID(s), hello.KeyId) {
			secret = s
		}
	}
	if secret == nil {
		return nil, nil, &authError{fmt.Sprintf("the client's secret (key id %x) is not one of this node's: a wrong secret", hello.KeyId)}
	}
	serverNonce := nonce()
	key := sessionKey(secret, hello.Nonce, serverNonce)
	reply, _ := proto.Marshal(&wirepb.Hello{Nonce: serverNonce, Version: proto.Uint32(taggedVersion), Proof: proof(key, "groupcache server proof")})
	c.send(kindHello|kindReplyBit, id, reply)
	send = &tagger{key: key, direction: directionToClient}
	c.sealWith(send)
	step3, _, err := readHello(r, kindHello)
	if err != nil {
		return nil, nil, err
	}
	if !hmac.Equal(step3.Proof, proof(key, "groupcache client proof")) {
		return send, nil, &authError{"the client's proof does not match"}
	}
	return send, &tagger{key: key, direction: directionToServer}, nil
}

// readHello reads one untagged frame that must be of kind `kind` and decodes its Hello.
func readHello(r *frameReader, kind byte) (*wirepb.Hello, uint32, error) {
	f, err := r.read()
	if err != nil {
		var bad *frameError
		if errors.As(err, &bad) {
			return nil, 0, &authError{"a bad frame during the handshake: " + bad.message}
		}
		return nil, 0, err
	}
	if f.kind != kind {
		return nil, 0, &authError{fmt.Sprintf("a kind 0x%02x frame during the handshake, not 0x%02x", f.kind, kind)}
	}
	hello := &wirepb.Hello{}
	if err := proto.Unmarshal(f.payload, hello); err != nil {
		return nil, 0, &authError{"a HELLO that does not decode: " + err.Error()}
	}
	return hello, f.id, nil
}

// clientHandshake runs the client's side on a new connection with the first secret and returns the taggers
// for the frames the client sends and receives.
func clientHandshake(list secrets, conn io.Writer, r *frameReader, peer string) (send, receive *tagger, err error) {
	clientNonce := nonce()
	hello, _ := proto.Marshal(&wirepb.Hello{Nonce: clientNonce, Versions: []uint32{taggedVersion}, KeyId: keyID(list[0])})
	if _, err := conn.Write(appendFrame(nil, kindHello, 0, 1, hello)); err != nil {
		return nil, nil, err
	}
	f, err := r.read()
	if err != nil {
		return nil, nil, fmt.Errorf("the handshake with %s failed: %v", peer, err)
	}
	if f.kind == kindError {
		e := &wirepb.ErrorResponse{}
		proto.Unmarshal(f.payload, e)
		if e.GetCode() == codeUnsupported {
			return nil, nil, &authError{peer + " does not authenticate (it answered HELLO with UNSUPPORTED): it has no cluster secret"}
		}
		return nil, nil, &authError{fmt.Sprintf("%s refused this node's secret: %s", peer, e.GetMessage())}
	}
	if f.kind != kindHello|kindReplyBit || f.id != 1 {
		return nil, nil, &authError{fmt.Sprintf("%s answered HELLO with kind 0x%02x", peer, f.kind)}
	}
	reply := &wirepb.Hello{}
	if err := proto.Unmarshal(f.payload, reply); err != nil {
		return nil, nil, &authError{"a HELLO reply that does not decode: " + err.Error()}
	}
	if reply.GetVersion() != taggedVersion || len(reply.Nonce) != nonceLength {
		return nil, nil, &authError{fmt.Sprintf("%s chose version %d", peer, reply.GetVersion())}
	}
	key := sessionKey(list[0], clientNonce, reply.Nonce)
	if !hmac.Equal(reply.Proof, proof(key, "groupcache server proof")) {
		return nil, nil, &authError{peer + "'s proof does not match: it does not hold this node's secret"}
	}
	step3, _ := proto.Marshal(&wirepb.Hello{Proof: proof(key, "groupcache client proof")})
	if _, err := conn.Write(appendFrame(nil, kindHello, 0, 2, step3)); err != nil {
		return nil, nil, err
	}
	return &tagger{key: key, direction: directionToServer}, &tagger{key: key, direction: directionToClient}, nil
}
