package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame kinds of docs/PROTOCOL.md.
const (
	kindGet        byte = 0x01
	kindSet        byte = 0x02
	kindRemove     byte = 0x03
	kindRemoveKeys byte = 0x04
	kindPing       byte = 0x05
	kindStats      byte = 0x06
	kindReplyBit   byte = 0x80
	kindError      byte = 0xFF

	flagRoute    byte = 0x01
	headerLength      = 10
)

// Error codes of docs/PROTOCOL.md.
const (
	codeNotFound    uint32 = 1
	codeLoadFailed  uint32 = 2
	codeNoSuchGroup uint32 = 3
	codeBadRequest  uint32 = 4
	codeTooLarge    uint32 = 5
	codeUnavailable uint32 = 6
	codeInternal    uint32 = 7
	codeUnsupported uint32 = 8
)

// frame is one length-prefixed message: kind, flags, id and a protobuf payload.
type frame struct {
	kind    byte
	flags   byte
	id      uint32
	payload []byte
}

// frameError is a frame that leaves the stream untrustworthy: the reader answers ERROR with id 0 and closes.
type frameError struct {
	code    uint32
	message string
}

func (e *frameError) Error() string { return e.message }

// payloadLimit is the largest payload of a frame of this kind (docs/PROTOCOL.md, "Limits").
func payloadLimit(kind byte) int {
	switch kind {
	case kindRemoveKeys:
		return 1 << 20
	case kindSet, kindGet | kindReplyBit:
		return 64<<20 + 64<<10
	case kindStats | kindReplyBit:
		return 4 << 20
	case kindError:
		return 4 << 10
	default:
		return 64 << 10
	}
}

// frameReader reads frames from a connection; once `opener` is set (after the handshake), every frame must end
// with a tag it verifies.
type frameReader struct {
	r      *bufio.Reader
	opener *tagger
}

// peekKind returns the next frame's kind without reading it.
func (fr *frameReader) peekKind() (byte, error) {
	b, err := fr.r.Peek(5)
	if err != nil {
		return 0, err
	}
	return b[4], nil
}

// read reads one frame, checking the header before it reads the body, and its tag if there is an opener.
func (fr *frameReader) read() (frame, error) {
	r := fr.r
	trailer := int64(0)
	if fr.opener != nil {
		trailer = tagLength
	}
	var header [headerLength]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return frame{}, err
	}
	length := binary.BigEndian.Uint32(header[0:4])
	f := frame{kind: header[4], flags: header[5], id: binary.BigEndian.Uint32(header[6:10])}
	switch {
	case int64(length) < 6+trailer:
		return frame{}, &frameError{codeBadRequest, fmt.Sprintf("frame length %d is below %d", length, 6+trailer)}
	case int64(length)-6-trailer > int64(payloadLimit(f.kind)):
		return frame{}, &frameError{codeTooLarge, fmt.Sprintf("payload of %d bytes exceeds the limit of kind 0x%02x", int64(length)-6-trailer, f.kind)}
	case f.flags&^flagRoute != 0:
		return frame{}, &frameError{codeBadRequest, "reserved flag bits are set"}
	case f.id == 0 && f.kind != kindError:
		return frame{}, &frameError{codeBadRequest, "id 0 is reserved for connection errors"}
	}
	body := make([]byte, int64(length)-6)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return frame{}, err
	}
	f.payload = body[:int64(len(body))-trailer]
	if fr.opener != nil && !fr.opener.verify(append(header[:], f.payload...), body[len(f.payload):]) {
		return frame{}, &authError{fmt.Sprintf("kind 0x%02x frame %d: its tag does not match (altered, replayed, reordered, or sent in the other direction)", f.kind, f.id)}
	}
	return f, nil
}

// appendFrame appends the encoding of a frame to buf.
func appendFrame(buf []byte, kind, flags byte, id uint32, payload []byte) []byte {
	var header [headerLength]byte
	binary.BigEndian.PutUint32(header[0:4], uint32(6+len(payload)))
	header[4] = kind
	header[5] = flags
	binary.BigEndian.PutUint32(header[6:10], id)
	return append(append(buf, header[:]...), payload...)
}
