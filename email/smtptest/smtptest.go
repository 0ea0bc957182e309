// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// loopback for tests: it keeps what it receives and can be told to refuse.
package smtptest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	// Header and Body are the parsed message.
	Header mail.Header
	Body   string
}

// Server is an SMTP server on a loopback port, stopped at cleanup.
type Server struct {
	Addr string
	// User and Password, when set, are required (AUTH PLAIN).
	User, Password string

	mu       sync.Mutex
	messages []Message
	refusals []*smtp.SMTPError
	rcpts    []*smtp.SMTPError
	drops    int
	hangups  int
	logins   int
}

// Start starts a server; with user set, it requires that login.
func Start(t testing.TB, user, password string) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: l.Addr().String(), User: user, Password: password}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // loopback
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Refuse makes the server answer the next messages' DATA with these codes,
// one per message, e.g. 451 (try later) or 550 (refused for good).
func (s *Server) Refuse(codes ...int) {
	for _, c := range codes {
		s.RefuseWith(c, "refused by the test")
	}
}

// RefuseWith makes the server answer the next message's DATA with a code
// and a reply text of the test's choosing, e.g. one that quotes the login.
func (s *Server) RefuseWith(code int, reply string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals = append(s.refusals, &smtp.SMTPError{Code: code, Message: reply})
}

// RefuseRecipient makes the server refuse the next message's recipient
// with a code and an enhanced status code, e.g. 550 and {5, 1, 1} (no such
// mailbox) or 554 and {5, 7, 1} (relaying denied: the sender's fault).
func (s *Server) RefuseRecipient(code int, enhanced [3]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcpts = append(s.rcpts, &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode(enhanced), Message: "refused by the test"})
}

// DropAfterAccept makes the server accept the next n messages and then
// drop the connection at the client's next command, as a server that
// crashes after answering 250 does.
func (s *Server) DropAfterAccept(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops += n
}

// HangUpBeforeAnswer makes the server read the next n messages whole and
// close the connection without answering: the client cannot know whether
// they were delivered. They are not kept.
func (s *Server) HangUpBeforeAnswer(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangups += n
}

// Messages returns what the server accepted, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Logins counts successful logins.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c}, nil
}

type session struct {
	srv    *Server
	conn   *smtp.Conn
	authed bool
	msg    Message
	drop   bool // drop the connection at the next command
}

var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != s.srv.User || password != s.srv.Password {
			return errors.New("invalid credentials")
		}
		s.authed = true
		s.srv.mu.Lock()
		s.srv.logins++
		s.srv.mu.Unlock()
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.User != "" && !s.authed {
		return errAuthRequired
	}
	s.msg = Message{From: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if len(s.srv.rcpts) > 0 {
		refusal := s.srv.rcpts[0]
		s.srv.rcpts = s.srv.rcpts[1:]
		return refusal
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if s.srv.hangups > 0 {
		s.srv.hangups--
		_ = s.conn.Conn().Close()
		return errors.New("hung up")
	}
	if len(s.srv.refusals) > 0 {
		refusal := s.srv.refusals[0]
		s.srv.refusals = s.srv.refusals[1:]
		return refusal
	}
	m := s.msg
	if parsed, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		m.Header, m.Body = parsed.Header, decodeBody(parsed)
	}
	s.srv.messages = append(s.srv.messages, m)
	if s.srv.drops > 0 {
		s.srv.drops--
		s.drop = true
	}
	return nil
}

// decodeBody undoes the transfer encoding of a single-part message.
func decodeBody(m *mail.Message) string {
	var r io.Reader = m.Body
	switch strings.ToLower(m.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, _ := io.ReadAll(r)
	return string(b)
}

// Reset runs after the answer to DATA is written, and for RSET.
func (s *session) Reset() {
	s.msg = Message{}
	if s.drop {
		s.drop = false
		_ = s.conn.Conn().Close()
	}
}

func (s *session) Logout() error { return nil }
