package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// StatusCode is a close status code (RFC 6455 §7.4).
type StatusCode uint16

// The status codes registered with IANA. The ones marked "never sent" only
// describe a closure to the application; they never appear on the wire.
const (
	StatusNormalClosure           StatusCode = 1000
	StatusGoingAway               StatusCode = 1001
	StatusProtocolError           StatusCode = 1002
	StatusUnsupportedData         StatusCode = 1003
	StatusNoStatusReceived        StatusCode = 1005 // never sent: the close frame had no code
	StatusAbnormalClosure         StatusCode = 1006 // never sent: the connection ended without a close frame
	StatusInvalidFramePayloadData StatusCode = 1007
	StatusPolicyViolation         StatusCode = 1008
	StatusMessageTooBig           StatusCode = 1009
	StatusMandatoryExtension      StatusCode = 1010
	StatusInternalError           StatusCode = 1011
	StatusServiceRestart          StatusCode = 1012
	StatusTryAgainLater           StatusCode = 1013
	StatusBadGateway              StatusCode = 1014
	StatusTLSHandshake            StatusCode = 1015 // never sent: the TLS handshake failed
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:           "normal closure",
	StatusGoingAway:               "going away",
	StatusProtocolError:           "protocol error",
	StatusUnsupportedData:         "unsupported data",
	StatusNoStatusReceived:        "no status received",
	StatusAbnormalClosure:         "abnormal closure",
	StatusInvalidFramePayloadData: "invalid frame payload data",
	StatusPolicyViolation:         "policy violation",
	StatusMessageTooBig:           "message too big",
	StatusMandatoryExtension:      "mandatory extension",
	StatusInternalError:           "internal error",
	StatusServiceRestart:          "service restart",
	StatusTryAgainLater:           "try again later",
	StatusBadGateway:              "bad gateway",
	StatusTLSHandshake:            "TLS handshake",
}

// String returns the code's registered name, or its number.
func (s StatusCode) String() string {
	if name, ok := statusNames[s]; ok {
		return name
	}
	return fmt.Sprintf("status %d", uint16(s))
}

// validOnWire reports whether a close frame may carry the code (§7.4):
// the registered codes meant for the wire, and 3000–4999 for libraries,
// frameworks and applications. 1005, 1006 and 1015 only describe a closure
// to the application, and unassigned codes are protocol errors.
func (s StatusCode) validOnWire() bool {
	switch {
	case s >= 1000 && s <= 1003, s >= 1007 && s <= 1014:
		return true
	case s >= 3000 && s <= 4999:
		return true
	}
	return false
}

// CloseError is the error a read returns once the connection has closed. Code
// and Reason are those of the peer's close frame; Code is
// StatusNoStatusReceived if the frame carried no code, and
// StatusAbnormalClosure if the connection ended without a close frame, in
// which case the error wraps the cause (io.ErrUnexpectedEOF when the peer
// vanished in the middle of a frame). Use errors.As to inspect it:
//
//	var ce *websocket.CloseError
//	if errors.As(err, &ce) && ce.Code == websocket.StatusGoingAway { … }
type CloseError struct {
	Code   StatusCode
	Reason string

	err error
}

// Error describes the closure: code, name, reason and cause.
func (e *CloseError) Error() string {
	msg := fmt.Sprintf("websocket: closed: %d (%v)", uint16(e.Code), e.Code)
	if e.Reason != "" {
		msg += " " + e.Reason
	}
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

// Unwrap returns the cause of an abnormal closure, or nil.
func (e *CloseError) Unwrap() error { return e.err }

// CloseStatus returns the status code with which the connection that
// returned err ended, or 0 if err does not report such an end:
//
//   - the code this side sent, when it failed the connection because the
//     peer broke the protocol: StatusProtocolError,
//     StatusInvalidFramePayloadData, or StatusMessageTooBig for a message
//     over the read limit;
//   - otherwise the code of the peer's close frame (a *CloseError):
//     StatusNoStatusReceived if it carried none, and StatusAbnormalClosure
//     if the connection ended without one: lost, or closed by a read
//     deadline.
//
// A read that ends because this side closed first, and no answer came,
// returns ErrClosed, for which CloseStatus returns 0: the application
// knows the code it sent. So does an error that leaves the connection
// open, such as a message that ReadJSON could not decode.
//
//	if websocket.CloseStatus(err) == websocket.StatusMessageTooBig { … }
func CloseStatus(err error) StatusCode {
	var f *failure
	if errors.As(err, &f) {
		return f.code
	}
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// maxCloseReason is the longest reason that fits a close frame: a control
// payload of 125 bytes less the 2-byte code (§5.5, §5.5.1).
const maxCloseReason = maxControlPayload - 2

// parseClosePayload decodes the body of a close frame (§5.5.1). An empty
// body means no code was given.
func parseClosePayload(p []byte) (*CloseError, error) {
	switch {
	case len(p) == 0:
		return &CloseError{Code: StatusNoStatusReceived}, nil
	case len(p) == 1:
		return nil, failProtocol("close frame payload of 1 byte")
	}
	code := StatusCode(binary.BigEndian.Uint16(p))
	if !code.validOnWire() {
		return nil, failProtocol(fmt.Sprintf("invalid close code %d", uint16(code)))
	}
	if !utf8.Valid(p[2:]) {
		return nil, failInvalidData("close reason is not valid UTF-8")
	}
	return &CloseError{Code: code, Reason: string(p[2:])}, nil
}

// checkCloseToSend validates a code and reason the application asked to
// send, so that nothing invalid reaches the wire (§7.4.1).
func checkCloseToSend(code StatusCode, reason string) error {
	if !code.validOnWire() {
		return fmt.Errorf("websocket: status %d cannot be sent in a close frame", uint16(code))
	}
	if len(reason) > maxCloseReason {
		return fmt.Errorf("websocket: close reason is %d bytes, more than %d", len(reason), maxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return errors.New("websocket: close reason is not valid UTF-8")
	}
	return nil
}

// failure is a reason to fail the connection (§7.1.7): the code goes to the
// peer in a close frame, and the failure itself to the application.
type failure struct {
	code   StatusCode
	reason string
	err    error // a sentinel the application can test for, or nil
}

func (f *failure) Error() string {
	return fmt.Sprintf("websocket: %s (sent close %d)", f.reason, uint16(f.code))
}

func (f *failure) Unwrap() error { return f.err }

func failProtocol(reason string) error {
	return &failure{code: StatusProtocolError, reason: reason}
}

func failInvalidData(reason string) error {
	return &failure{code: StatusInvalidFramePayloadData, reason: reason}
}
