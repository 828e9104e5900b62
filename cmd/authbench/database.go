package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// database is the run's own database: a new PostgreSQL database on the
// server, dropped at the end, or an SQLite file in the run's temp dir.
type database struct {
	url     string // DATABASE_URL for the service
	version string // the server's version, for the report
	drop    func()
}

func newDatabase(ctx context.Context, o options, dir string) (*database, error) {
	if o.db == "sqlite" {
		return &database{url: "sqlite://" + filepath.Join(dir, "authsvc.db"), version: "SQLite (embedded)", drop: func() {}}, nil
	}
	conn, err := pgx.Connect(ctx, o.pgURL)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", o.pgURL, err)
	}
	defer conn.Close(ctx)
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("authbench_%d_%d", time.Now().Unix(), os.Getpid())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(o.pgURL)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	return &database{
		url: u.String(), version: "PostgreSQL " + strings.Fields(version)[0],
		drop: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, o.pgURL)
			if err == nil {
				_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
				conn.Close(ctx)
			}
			if err != nil {
				logf("could not drop database %s: %v", name, err)
			}
		},
	}, nil
}
