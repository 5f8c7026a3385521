package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// acceptGUID is the fixed string of RFC 6455 §1.3 that the server appends to
// the client's key before hashing it.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key (§4.2.2):
// base64 of the SHA-1 of the key followed by the GUID.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// handshakeError is why an upgrade request was refused, and the HTTP answer
// it gets.
type handshakeError struct {
	status int
	msg    string
}

func (e *handshakeError) Error() string { return "websocket: " + e.msg }

// checkRequest validates an opening handshake request (§4.2.1) and returns
// its Sec-WebSocket-Key.
func checkRequest(r *http.Request) (string, *handshakeError) {
	if r.Method != http.MethodGet {
		return "", &handshakeError{http.StatusMethodNotAllowed, "the opening handshake must use GET"}
	}
	if !r.ProtoAtLeast(1, 1) {
		return "", &handshakeError{http.StatusBadRequest, "the opening handshake needs HTTP/1.1 or newer"}
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return "", &handshakeError{http.StatusBadRequest, "not a WebSocket handshake: Upgrade header lacks the token \"websocket\""}
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return "", &handshakeError{http.StatusBadRequest, "not a WebSocket handshake: Connection header lacks the token \"Upgrade\""}
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return "", &handshakeError{http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version: this server speaks version 13"}
	}
	key := r.Header.Values("Sec-WebSocket-Key")
	if len(key) != 1 || !validKey(strings.TrimSpace(key[0])) {
		return "", &handshakeError{http.StatusBadRequest, "Sec-WebSocket-Key must be the base64 of 16 bytes"}
	}
	return strings.TrimSpace(key[0]), nil
}

// validKey reports whether key is the base64 encoding of exactly 16 bytes
// (§4.2.1 item 5).
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var b [18]byte
	n, err := base64.StdEncoding.Decode(b[:], []byte(key))
	return err == nil && n == 16
}

// headerHasToken reports whether any of the header's lines lists token in
// its comma-separated values, compared case-insensitively (§4.2.1).
func headerHasToken(h http.Header, name, token string) bool {
	for _, line := range h.Values(name) {
		for _, t := range strings.Split(line, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// headerTokens returns the comma-separated values of every line of a
// header, trimmed, empty ones left out.
func headerTokens(h http.Header, name string) []string {
	var tokens []string
	for _, line := range h.Values(name) {
		for _, t := range strings.Split(line, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tokens = append(tokens, t)
			}
		}
	}
	return tokens
}

// selectSubprotocol picks the first of the server's subprotocols, in its
// order of preference, that the client offered, or "" if none matches
// (§4.2.2 item 5.4). Subprotocol names are compared exactly: they are
// tokens that the client chose (§11.3.4).
func selectSubprotocol(r *http.Request, supported []string) string {
	offered := headerTokens(r.Header, "Sec-WebSocket-Protocol")
	for _, s := range supported {
		for _, o := range offered {
			if s == o {
				return s
			}
		}
	}
	return ""
}

// checkOrigin applies the default origin policy (§10.2): a request without
// Origin comes from a client that is not a browser and is allowed; a
// browser's request is allowed when Origin names the host the request was
// sent to, or a host that matches one of the allowed patterns.
func checkOrigin(r *http.Request, allowed []string) bool {
	origin := r.Header.Values("Origin")
	if len(origin) == 0 {
		return true
	}
	if len(origin) > 1 {
		return false
	}
	u, err := url.Parse(origin[0])
	if err != nil || u.Host == "" {
		return false // including the opaque origin "null"
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	host := strings.ToLower(u.Host)
	for _, pattern := range allowed {
		if ok, _ := path.Match(strings.ToLower(pattern), host); ok {
			return true
		}
	}
	return false
}
