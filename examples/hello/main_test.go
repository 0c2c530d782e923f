package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(newHandler("abc123"))
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/healthz", 200, "ok\n"},
		{"GET", "/", 200, "hello, world (version abc123)\n"},
		{"GET", "/?name=ecs", 200, "hello, ecs (version abc123)\n"},
		{"GET", "/missing", 404, ""},
		{"POST", "/healthz", 405, ""},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.body != "" && string(body) != tc.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	healthy := httptest.NewServer(newHandler("v"))
	defer healthy.Close()
	if err := check(healthy.URL + "/healthz"); err != nil {
		t.Errorf("healthy server: %v", err)
	}
	if err := check(healthy.URL + "/nothing-here"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v, want an error naming the status", err)
	}
	healthy.Close()
	if err := check(healthy.URL + "/healthz"); err == nil {
		t.Error("a stopped server passed the check")
	}
}

func TestPort(t *testing.T) {
	for addr, want := range map[string]string{":8080": ":8080", "0.0.0.0:9000": ":9000", "[::]:8080": ":8080"} {
		if got := port(addr); got != want {
			t.Errorf("port(%q) = %q, want %q", addr, got, want)
		}
	}
}
