// Command pulumi-language-python is the Python language host of the offline engine.
//
// The upstream host is a nested Go module that the Go module proxy does not
// serve, so the engine cannot be built with it from published modules. This
// host implements the part of the LanguageRuntime protocol that `pulumi
// preview`, `pulumi up` and Python policy packs use, on top of the published
// SDK packages: the toolchain package resolves the virtual environment, and the
// SDK's own `pulumi-language-python-exec` (installed next to this binary)
// runs the program exactly as the upstream host does.
//
// Required plugins are not pre-computed: a program that imports every cloud
// SDK but registers only Kubernetes resources needs only the Kubernetes
// provider, and the engine loads a provider when the first resource asks for
// it (failing with a clear error when automatic acquisition is disabled and the
// plugin is missing).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pbempty "google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// execName is the SDK's program runner; the build installs it next to this binary.
const execName = "pulumi-language-python-exec"

// userActionableExit is the runner's exit code after it already reported the error to the engine.
const userActionableExit = 32

// errUnsupportedDebugger refuses --attach-debugger instead of silently running without one.
var errUnsupportedDebugger = status.Error(codes.Unimplemented, "this language host cannot attach a debugger")

func main() {
	flag.String("tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	flag.Parse()
	logging.InitLogging(false, 0, false)

	self, err := os.Executable()
	if err != nil {
		cmdutil.Exit(fmt.Errorf("locating the language host: %w", err))
	}
	runner := filepath.Join(filepath.Dir(self), execName)
	if _, err := os.Stat(runner); err != nil {
		cmdutil.Exit(fmt.Errorf("missing executor %s next to the language host: %w", runner, err))
	}

	host := &pythonHost{runner: runner}
	if flag.NArg() > 0 {
		host.engineAddress = flag.Arg(0)
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("serving the language host: %w", err))
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(err)
	}
}

type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	runner        string
	mu            sync.Mutex
	engineAddress string
}

func (h *pythonHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *pythonHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *pythonHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

// Run executes the program with the SDK's runner inside the project's virtual environment.
func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	if info == nil {
		return nil, errors.New("run request carries no program info")
	}
	if req.GetAttachDebugger() {
		return nil, errUnsupportedDebugger
	}
	tc, err := resolveToolchain(info)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	// The SDK reads both as JSON containers: an empty map or list, never null.
	configValues, secretKeyList := req.GetConfig(), req.GetConfigSecretKeys()
	if configValues == nil {
		configValues = map[string]string{}
	}
	if secretKeyList == nil {
		secretKeyList = []string{}
	}
	config, err := json.Marshal(configValues)
	if err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	secretKeys, err := json.Marshal(secretKeyList)
	if err != nil {
		return nil, fmt.Errorf("encoding secret keys: %w", err)
	}
	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()

	args := []string{
		"-u", h.runner,
		"--monitor", req.GetMonitorAddress(),
		"--engine", engine,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--root_directory", info.GetRootDirectory(),
	}
	if org := req.GetOrganization(); org != "" {
		args = append(args, "--organization", org)
	}
	if req.GetDryRun() {
		args = append(args, "--dry_run", "true")
	}
	args = append(args, programPath(info))
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	cmd.Env = append(envOf(cmd), "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	cmd.Dir = req.GetPwd()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return runResponse(cmd.Run()), nil
}

// RunPlugin runs a plugin written in Python (a policy pack) and streams its output back to the engine.
func (h *pythonHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	info := req.GetInfo()
	if info == nil {
		return errors.New("run plugin request carries no program info")
	}
	if req.GetAttachDebugger() {
		return errUnsupportedDebugger
	}
	tc, err := resolveToolchain(info)
	if err != nil {
		return err
	}
	args := append([]string{"-u", programPath(info)}, req.GetArgs()...)
	cmd, err := tc.Command(server.Context(), args...)
	if err != nil {
		return err
	}
	// The engine passes its whole environment; the virtualenv's activation (PATH, VIRTUAL_ENV) must win.
	cmd.Env = append(append([]string{}, req.GetEnv()...), envOf(cmd)...)
	cmd.Dir = req.GetPwd()

	var send sync.Mutex
	stream := func(wrap func([]byte) *pulumirpc.RunPluginResponse) io.Writer {
		return writerFunc(func(p []byte) (int, error) {
			send.Lock()
			defer send.Unlock()
			return len(p), server.Send(wrap(append([]byte(nil), p...)))
		})
	}
	cmd.Stdout = stream(func(p []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: p}}
	})
	cmd.Stderr = stream(func(p []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: p}}
	})
	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return err
		}
		code = int32(exit.ExitCode())
	}
	send.Lock()
	defer send.Unlock()
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

// resolveToolchain finds the Python of the project's `virtualenv` option (pip toolchain).
func resolveToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := info.GetOptions().AsMap()
	if name, ok := opts["toolchain"].(string); ok && name != "" && name != "pip" {
		return nil, fmt.Errorf("toolchain %q is not supported by this language host; use pip", name)
	}
	virtualenv, _ := opts["virtualenv"].(string)
	tc, err := toolchain.ResolveToolchain(toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Virtualenv: virtualenv,
		Toolchain:  toolchain.Pip,
	})
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(context.Background()); err != nil {
		return nil, err
	}
	return tc, nil
}

// programPath is the absolute program (a directory runs its __main__.py).
func programPath(info *pulumirpc.ProgramInfo) string {
	entry := info.GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	return filepath.Join(info.GetProgramDirectory(), entry)
}

func envOf(cmd *exec.Cmd) []string {
	if cmd.Env != nil {
		return cmd.Env
	}
	return os.Environ()
}

// runResponse maps the runner's exit to the engine's protocol: 32 means the error was already reported.
func runResponse(err error) *pulumirpc.RunResponse {
	if err == nil {
		return &pulumirpc.RunResponse{}
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if exit.ExitCode() == userActionableExit {
			return &pulumirpc.RunResponse{Bail: true}
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode())}
	}
	return &pulumirpc.RunResponse{Error: err.Error()}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
