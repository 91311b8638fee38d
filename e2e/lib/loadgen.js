// The simulated LL-HLS players of crates/playlists-server/examples/loadgen, run to their end.
import { join } from 'node:path';
import { repo } from './harness.js';
import { spawnTracked } from './procs.js';

/** The simulator: the release build unless LOADGEN_BIN says otherwise. */
export const loadgenBin = process.env.LOADGEN_BIN || join(repo, 'target', 'release', 'examples', 'loadgen');

/**
 * Runs `players` simulated players against `url` for `secs` (`extra`: more loadgen flags, e.g.
 * `--names`/`--push`); resolves with loadgen's summary line (parsed).
 */
export async function runLoadgen(url, players, secs, extra = []) {
  const proc = spawnTracked('loadgen', loadgenBin, ['--url', url, '--players', String(players), '--secs', String(secs), '--report-secs', String(secs), ...extra]);
  // loadgen stops by itself after --secs; a request it still waits on ends within its own
  // 20 s timeout. Beyond that something hangs: stop it and fail.
  const timer = setTimeout(() => proc.stop(), (secs + 40) * 1000);
  const exit = await proc.exited;
  clearTimeout(timer);
  const summary = proc.log().split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l)).find((o) => o.kind === 'summary');
  if (exit.code !== 0 || !summary) throw new Error(`loadgen exited ${JSON.stringify(exit)}: ${proc.log().slice(-4000)}`);
  return summary;
}
