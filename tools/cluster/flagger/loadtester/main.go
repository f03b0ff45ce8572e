// Command loadtester serves the task API of Flagger's load tester (github.com/fluxcd/flagger/pkg/loadtester,
// the handlers cmd/loadtester serves) on a loopback address. The upstream command binds ":<port>", every
// interface, and the API runs any shell command it is posted without authentication: out of cluster, on a
// developer's or CI machine, it must listen on 127.0.0.1 only. The confirmation gates of the upstream
// server (/gate/..., /rollback/...) are not served.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"regexp"
	"time"

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
	mux.HandleFunc("/", loadtester.HandleNewTask(zlog, runner, loadtester.NewAuthorizer(namespaces)))

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
