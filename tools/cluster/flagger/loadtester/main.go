// Command loadtester serves the task API of Flagger's load tester (github.com/fluxcd/flagger/pkg/loadtester,
// the handlers cmd/loadtester serves) on a loopback address. The upstream command binds ":<port>", every
// interface, and the API runs any shell command it is posted without authentication: out of cluster, on a
// developer's or CI machine, it must listen on 127.0.0.1 only. The promotion gate (/gate/check, /gate/open,
// /gate/close) is served as upstream serves it, in memory; upstream's handlers are closures inside its
// ListenAndServe (which binds every interface) over an unexported store, so they are written again here.
// The rollback gates (/rollback/...) are not served.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	flaggerv1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	"github.com/fluxcd/flagger/pkg/loadtester"
	"github.com/fluxcd/flagger/pkg/logger"
	"github.com/fluxcd/flagger/pkg/signals"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	listen := flag.String("listen-address", "127.0.0.1:9090", "Loopback host:port to listen on.")
	timeout := flag.Duration("timeout", time.Hour, "Task exec timeout.")
	namespaceRegexp := flag.String("namespace-regexp", "", "Restrict access to canaries in matching namespaces.")
	logLevel := flag.String("log-level", "info", "Log level: debug, info, warning, error.")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		log.Fatalf("-listen-address %q: %v", *listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		log.Fatalf("-listen-address %q: the task API runs shell commands; it listens on a loopback address only", *listen)
	}
	zlog, err := logger.NewLoggerWithEncoding(*logLevel, "json")
	if err != nil {
		log.Fatalf("creating the logger: %v", err)
	}
	defer func() { _ = zlog.Sync() }()

	stopCh := signals.SetupSignalHandler()
	runner := loadtester.NewTaskRunner(zlog, *timeout)
	go runner.Start(100*time.Millisecond, stopCh)

	var namespaces *regexp.Regexp
	if *namespaceRegexp != "" {
		namespaces = regexp.MustCompile(*namespaceRegexp)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	mux.HandleFunc("/healthz", loadtester.HandleHealthz)
	authorizer := loadtester.NewAuthorizer(namespaces)
	mux.HandleFunc("/", loadtester.HandleNewTask(zlog, runner, authorizer))
	gates := &gate{authorizer: authorizer}
	mux.HandleFunc("/gate/check", gates.handle(func(key string) (int, string) {
		if gates.isOpen(key) {
			return http.StatusOK, "Approved"
		}
		return http.StatusForbidden, "Forbidden"
	}))
	mux.HandleFunc("/gate/open", gates.handle(func(key string) (int, string) { gates.open.Store(key, true); return http.StatusAccepted, "" }))
	mux.HandleFunc("/gate/close", gates.handle(func(key string) (int, string) { gates.open.Store(key, false); return http.StatusAccepted, "" }))

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		zlog.Fatalf("listening on %s: %v", *listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
			zlog.Fatalf("HTTP server crashed: %v", err)
		}
	}()
	zlog.Infof("load tester task API on http://%s", listener.Addr())

	<-stopCh
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		zlog.Errorf("HTTP server shutdown: %v", err)
	}
}

// gate is the load tester's promotion gate: closed for every Canary until opened, keyed `<name>.<namespace>`.
type gate struct {
	authorizer *loadtester.Authorizer
	open       sync.Map
}

func (g *gate) isOpen(key string) bool {
	open, ok := g.open.Load(key)
	return ok && open.(bool)
}

// handle decodes a webhook payload, authorizes its namespace and answers what act returns for its Canary.
func (g *gate) handle(act func(key string) (int, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		payload := &flaggerv1.CanaryWebhookPayload{}
		if err := json.Unmarshal(body, payload); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if !g.authorizer.Authorize(payload) {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte("Forbidden"))
			return
		}
		status, text := act(fmt.Sprintf("%s.%s", payload.Name, payload.Namespace))
		w.WriteHeader(status)
		_, _ = w.Write([]byte(text))
	}
}
