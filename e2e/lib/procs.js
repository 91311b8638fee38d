// Child processes of the suite (origin, ffmpeg, nginx): each runs in a process group of its
// own, so stopping it also stops whatever it forked (nginx workers), and every group still
// running is killed when this Node process ends for any reason — a failed assertion, a test
// timeout, Ctrl-C — so no run leaves a server or an encoder behind. Temporary directories
// (browser profiles, nginx prefixes) are removed then too.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Process groups started and not yet reaped, by leader pid. */
const running = new Map();

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Temporary directories not yet removed. */
const tempDirs = new Set();

/** A fresh directory under the system's temp dir, removed by `removeTempDir` or at exit. */
export function makeTempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

function killAll() {
  for (const pid of running.keys()) killGroup(pid, 'SIGKILL');
  running.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

// 'exit' handlers run synchronously, which is all process.kill needs.
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}

/** How much of a process's output is kept for failure messages. */
const LOG_LIMIT = 256 * 1024;

/**
 * Starts `cmd args` as the leader of a new process group. Returns its log (stdout and stderr,
 * the last 256 KiB), a promise of its exit, `stop()`: `signal` to the group, SIGKILL after
 * `graceMs`, resolved once the leader has exited, and `kill()`: SIGKILL to the group at once
 * (a crash, `kill -9`: nothing gets to clean up), resolved once the leader has exited. With
 * `onStdout`, stdout goes to it (as Buffers) instead of the log: a process whose output is
 * data, like an encoder writing to a pipe.
 */
export function spawnTracked(name, cmd, args, { env, stopSignal = 'SIGTERM', graceMs = 5000, onStdout } = {}) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
  let log = '';
  const keep = (d) => {
    log += d;
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
  };
  proc.stdout.on('data', onStdout || keep);
  proc.stderr.on('data', keep);
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      running.delete(proc.pid);
      resolve(exitInfo);
    });
    proc.on('error', (e) => {
      exitInfo = { code: null, signal: null, error: e.message };
      resolve(exitInfo);
    });
  });
  if (proc.pid) running.set(proc.pid, name);
  return {
    name,
    pid: proc.pid,
    exited,
    /** The exit status once it has exited, else null. */
    exitInfo: () => exitInfo,
    log: () => log,
    async stop() {
      if (exitInfo || !proc.pid) return exitInfo;
      killGroup(proc.pid, stopSignal);
      let forced = false;
      const timer = setTimeout(() => {
        forced = true;
        killGroup(proc.pid, 'SIGKILL');
      }, graceMs);
      const info = await exited;
      clearTimeout(timer);
      // A leader killed outright leaves its forked children (nginx workers) in the group,
      // which keeps the group id theirs: kill them too.
      if (forced) killGroup(proc.pid, 'SIGKILL');
      return info;
    },
    async kill() {
      if (exitInfo || !proc.pid) return exitInfo;
      killGroup(proc.pid, 'SIGKILL');
      return exited;
    },
  };
}
