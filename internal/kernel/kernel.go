// Package kernel starts aws-cdk-lib's jsii kernel without the relay process
// that jsii-runtime-go puts in front of it, and ends it without waiting for
// Node.js's teardown.
//
// jsii-runtime-go runs "node <dir>/bin/jsii-runtime.js". That script is only
// a relay: it starts the kernel, <dir>/lib/program.js, as a second Node.js
// process, and copies every request and response between its own
// stdin/stdout and the kernel's fd 3, through its event loop. Every call the
// app makes into aws-cdk-lib crosses it twice, and it holds a Node.js heap of
// its own (about 50 MiB). This package has jsii-runtime-go start a launcher
// instead, which runs program.js in the relay's place: requests are read
// from fd 3 (the launcher's stdin) and responses written to fd 4 (its
// stdout), where the kernel would write them to fd 3. What JavaScript prints
// reaches the Go process as one JSON line on stderr per write, as the relay
// sent it. The kernel is the same program either way. The launcher is a
// shell that waits for the kernel: when the kernel exits cleanly it ends
// itself at once (see Preload), and the launcher reports that as a clean
// exit.
//
// Importing the package is what turns it on, for the program's one kernel:
// jsii-runtime-go reads JSII_NODE when the first package of aws-cdk-go
// initializes, before main or TestMain run. Go initializes packages in the
// order of their import paths where neither imports the other, and a
// package only after its imports (the Go specification, "Package
// initialization"). This package imports only packages that
// jsii-runtime-go's runtime imports too, so "cicd/internal/kernel" is
// initialized before any "github.com/aws/..." package that calls into the
// kernel (TestImportsStayWithinJsiis holds that in place).
package kernel

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Launcher is the program jsii-runtime-go runs in place of node (its
// JSII_NODE setting), with the relay's path as its one argument. Any other
// argument list, or a relay without program.js beside it (another layout of
// jsii-runtime-go), runs node as asked, relay and all.
const Launcher = `#!/bin/sh
# Runs the jsii kernel (lib/program.js) in place of the relay that
# jsii-runtime-go starts (bin/jsii-runtime.js, the one argument): requests
# on fd 3, responses on fd 4, the kernel's stdout on stderr.
command -v node >/dev/null 2>&1 || {
  echo "error: node (Node.js) is not on PATH: the CDK app runs aws-cdk-lib in Node.js" >&2
  exit 127
}
program=${1%/bin/jsii-runtime.js}/lib/program.js
if [ "$#" -ne 1 ] || [ "$program" = "$1/lib/program.js" ] || [ ! -f "$program" ]; then
  exec node "$@"
fi
# V8's background threads (--v8-pool-size): the Go package sets
# CICD_JSII_V8_POOL_SIZE from the cores the app may use.
pool=${CICD_JSII_V8_POOL_SIZE:-4}
case $pool in ''|*[!0-9]*) pool=4 ;; esac
# A clean exit of the kernel ends it with SIGUSR2 (direct.cjs), which is
# exit status 0 here. The shell's own stderr is /dev/null from here on, so
# that it does not report the signal (a subshell that execs node, so that no
# redirection of the command is in place while the shell waits for it); the
# kernel's stderr is the launcher's, kept on fd 9.
exec 9>&2 2>/dev/null
(exec node --v8-pool-size="$pool" --preserve-symlinks --require "$(dirname "$0")/direct.cjs" "$program" 3<&0 4>&1 </dev/null 1>&9 2>&9 9>&-)
status=$?
if [ "$status" -gt 128 ] && [ "$(kill -l "$status")" = USR2 ]; then
  exit 0
fi
exit "$status"
`

// Preload runs in the kernel's process before program.js (node --require).
const Preload = `'use strict';
// Loaded into the jsii kernel (lib/program.js) when it runs without the
// relay of bin/jsii-runtime.js: the kernel writes its responses to fd 3,
// where it reads requests; here fd 3 is the request pipe and fd 4 the
// response pipe.
const fs = require('fs');
const writeSync = fs.writeSync;
fs.writeSync = function (fd, ...args) {
  return writeSync.call(this, fd === 3 ? 4 : fd, ...args);
};

// writeAll writes buffer to fd, waiting out a full non-blocking pipe.
function writeAll(fd, buffer) {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let off = 0; off < buffer.length;) {
    try {
      off += writeSync.call(fs, fd, buffer, off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

// A clean exit ends the process at once, with SIGUSR2, which the launcher
// reports as exit status 0. Node.js's own exit first waits for the tasks
// under way on V8's background threads: after a short synth, that is the
// optimizing compile of aws-cdk-lib's WebAssembly template validator, which
// nothing will run any more (about 0.9 s of a one-pipeline synth on two
// cores). By then the kernel has written its last response and its 'exit'
// listeners have run (its work folder is removed); what is left is
// Node.js's teardown. Any other exit status takes Node.js's own way out.
const reallyExit = process.reallyExit;
process.reallyExit = function (code) {
  if (!code) {
    process.kill(process.pid, 'SIGUSR2');
  }
  return reallyExit.call(this, code);
};

// What JavaScript prints goes to the Go process as the relay sent it: one
// JSON line on stderr per write, {"stdout": base64} or {"stderr": base64}.
for (const [stream, key] of [[process.stdout, 'stdout'], [process.stderr, 'stderr']]) {
  stream.write = function (chunk, encoding, callback) {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    const data = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Buffer.from(chunk);
    writeAll(2, Buffer.from(JSON.stringify({ [key]: data.toString('base64') }) + '\n'));
    if (callback) process.nextTick(callback);
    return true;
  };
}
`

// PoolSizeVariable is the environment variable from which the launcher takes
// the number of V8's background threads in the kernel (node's
// --v8-pool-size; node's default is 4). Unless it is set already, direct
// sets it to one less than the cores the Go runtime may use, at least one
// and at most 4: the threads compile aws-cdk-lib's WebAssembly template
// validator and mark the heap while the kernel's main thread and the app
// need cores too. On two cores (four interleaved pairs, BENCHMARKS.md), one
// thread instead of four took aws-cdk-lib's synthesis of a one-pipeline app
// from 2.85 to 1.9 s and the kernel's peak memory from 500 to 427 MiB; of
// twenty pipelines, from 6.7 to 5.4 s and from 660 to 570 MiB.
const PoolSizeVariable = "CICD_JSII_V8_POOL_SIZE"

// poolSize is the number of V8 background threads for a kernel beside an
// app that may use cores cores.
func poolSize(cores int) int {
	return min(max(cores-1, 1), 4)
}

// Err is why the kernel runs behind its relay after all (the launcher
// could not be written to the user's cache folder, or cannot be run from
// it), or nil.
var Err error

// init writes the launcher into cicd's folder of the user's cache (once:
// the folder's name is the launcher's hash) and points JSII_NODE at it. It
// changes nothing when JSII_NODE or JSII_RUNTIME is already set (the user's
// choice, or the parent process's launcher), or on Windows (the launcher
// is a POSIX shell script).
func init() {
	cache, err := os.UserCacheDir()
	if err != nil {
		Err = fmt.Errorf("jsii kernel launcher: %w", err)
		return
	}
	Err = direct(filepath.Join(cache, "cicd"))
}

func direct(dir string) error {
	if runtime.GOOS == "windows" || os.Getenv("JSII_NODE") != "" || os.Getenv("JSII_RUNTIME") != "" {
		return nil
	}
	launcher, err := install(dir)
	if err != nil {
		return err
	}
	// A folder it cannot run from (a noexec mount) would fail the kernel's
	// start: the relay then, as without the launcher.
	if _, err := exec.LookPath(launcher); err != nil {
		return fmt.Errorf("jsii kernel launcher: %w", err)
	}
	if os.Getenv(PoolSizeVariable) == "" {
		if err := os.Setenv(PoolSizeVariable, fmt.Sprint(poolSize(runtime.GOMAXPROCS(0)))); err != nil {
			return err
		}
	}
	return os.Setenv("JSII_NODE", launcher)
}

// install writes the launcher and its preload into a folder of dir named
// by their hash, unless it is there, and returns the launcher's path. The
// folder is written under a temporary name and renamed into place, so
// concurrent apps never see half of it.
func install(dir string) (string, error) {
	final := filepath.Join(dir, fmt.Sprintf("jsii-kernel-%016x", fnv64a(Launcher+"\x00"+Preload)))
	launcher := filepath.Join(final, "node")
	if _, err := os.Stat(launcher); err == nil {
		return launcher, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("jsii kernel launcher: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".jsii-kernel-")
	if err != nil {
		return "", fmt.Errorf("jsii kernel launcher: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "node"), []byte(Launcher), 0o755); err != nil {
		return "", fmt.Errorf("jsii kernel launcher: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "direct.cjs"), []byte(Preload), 0o644); err != nil {
		return "", fmt.Errorf("jsii kernel launcher: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("jsii kernel launcher: %w", err)
	}
	// An error with the launcher there: another app renamed its copy into
	// place first.
	if err := os.Rename(tmp, final); err != nil {
		if _, statErr := os.Stat(launcher); statErr != nil {
			return "", fmt.Errorf("jsii kernel launcher: %w", err)
		}
	}
	return launcher, nil
}

// fnv64a is the 64-bit FNV-1a hash of s (hash/fnv's, which jsii-runtime-go
// does not import: see the package's documentation).
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
