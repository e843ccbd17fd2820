// Command ecap-gateway serves ECAP's REST API (grpc-gateway) in front of its gRPC services.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"ecap.dev/gateway"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	config, err := gateway.LoadConfigFromOS()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		log.Error("bad configuration", "error", err.Error())
		os.Exit(2)
	}
	gw, err := gateway.New(config, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	defer gw.Close()
	listener, err := net.Listen("tcp", config.Listen)
	if err != nil {
		log.Error("cannot listen", "address", config.Listen, "error", err.Error())
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := gw.Serve(ctx, listener); err != nil {
		log.Error("stopped with an error", "error", err.Error())
		os.Exit(1)
	}
}
