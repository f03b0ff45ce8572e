package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

// exitWith runs a shell that exits with code, for the exit mapping the engine sees.
func exitWith(t *testing.T, code string) error {
	t.Helper()
	return exec.Command("sh", "-c", "exit "+code).Run()
}

func TestRunResponseMapsTheRunnersExit(t *testing.T) {
	if got := runResponse(nil); got.GetError() != "" || got.GetBail() {
		t.Fatalf("exit 0: want an empty response, got %v", got)
	}
	if got := runResponse(exitWith(t, "32")); !got.GetBail() || got.GetError() != "" {
		t.Fatalf("exit 32 (error already reported): want bail, got %v", got)
	}
	if got := runResponse(exitWith(t, "1")); got.GetBail() || got.GetError() != "Program exited with non-zero exit code: 1" {
		t.Fatalf("exit 1: want the exit code as the error, got %v", got)
	}
}

func TestProgramPathIsAbsoluteAndDefaultsToTheDirectory(t *testing.T) {
	info := &pulumirpc.ProgramInfo{ProgramDirectory: "/work/project"}
	if got := programPath(info); got != "/work/project" {
		t.Fatalf("no entry point: want the directory, got %q", got)
	}
	info.EntryPoint = "main.py"
	if got := programPath(info); got != "/work/project/main.py" {
		t.Fatalf("entry point: got %q", got)
	}
}

func programInfo(t *testing.T, root string, options map[string]any) *pulumirpc.ProgramInfo {
	t.Helper()
	opts, err := structpb.NewStruct(options)
	if err != nil {
		t.Fatal(err)
	}
	return &pulumirpc.ProgramInfo{RootDirectory: root, ProgramDirectory: root, EntryPoint: ".", Options: opts}
}

func TestResolveToolchainUsesTheProjectsVirtualenv(t *testing.T) {
	root := t.TempDir()
	if _, err := resolveToolchain(programInfo(t, root, map[string]any{"virtualenv": "venv"})); err == nil ||
		!strings.Contains(err.Error(), "venv") {
		t.Fatalf("a missing virtualenv must be named in the error, got %v", err)
	}
	python := filepath.Join(root, "venv", "bin", "python")
	if err := os.MkdirAll(filepath.Dir(python), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(python, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tc, err := resolveToolchain(programInfo(t, root, map[string]any{"virtualenv": "venv", "toolchain": "pip"}))
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := tc.Command(context.Background(), "-V")
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Path != python {
		t.Fatalf("want the virtualenv's python %q, got %q", python, cmd.Path)
	}
}

func TestResolveToolchainRefusesOtherToolchains(t *testing.T) {
	_, err := resolveToolchain(programInfo(t, t.TempDir(), map[string]any{"toolchain": "uv"}))
	if err == nil || !strings.Contains(err.Error(), `toolchain "uv" is not supported`) {
		t.Fatalf("want a clear refusal of uv, got %v", err)
	}
}

func TestDebuggerRequestsAreRefused(t *testing.T) {
	host := &pythonHost{runner: "/nonexistent"}
	info := programInfo(t, t.TempDir(), map[string]any{})
	if _, err := host.Run(context.Background(), &pulumirpc.RunRequest{Info: info, AttachDebugger: true}); err == nil ||
		!strings.Contains(err.Error(), "debugger") {
		t.Fatalf("want a refusal, got %v", err)
	}
}
