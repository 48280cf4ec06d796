// Facts about the node's torch that change how the runner launches DDP. torch < 2 on Python 3.11
// crashes in torch.distributed.run unless --redirects/--tee are per-rank maps (DESIGN §9); asking
// the installed torch beats guessing from version numbers.
import { execFile } from 'node:child_process';
import { constants, accessSync, readFileSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

const PROBE = `
try:
    from torch.distributed.elastic.multiprocessing.api import Std, to_map
except Exception:
    print("ok")
else:
    try:
        to_map(Std.from_str("0"), 1)
        print("ok")
    except Exception:
        print("needs-redirect-map")
`;

/** Whether torch.distributed.run under this interpreter needs `--redirects 9:0 --tee 9:0`. */
export function needsRedirectMap(python: string, env: Record<string, string>, cwd: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    execFile(python, ['-c', PROBE], { env, cwd, timeout: 120_000 }, (err, stdout) => {
      resolvePromise(!err && stdout.trim() === 'needs-redirect-map');
    });
  });
}

/** The interpreter a `torchrun` script runs under, from its #! line; undefined when not found. */
export function torchrunPython(word: string, env: Record<string, string>, cwd: string): string | undefined {
  const path = word.includes('/') ? resolve(cwd, word) : onPath(word, env.PATH ?? '');
  if (!path) return undefined;
  let first: string;
  try {
    first = readFileSync(path, 'utf8').slice(0, 256).split('\n')[0] ?? '';
  } catch {
    return undefined;
  }
  const m = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(first);
  if (!m) return undefined;
  // `#!/usr/bin/env python3` names the interpreter in its argument
  return m[1]!.endsWith('/env') && m[2] ? m[2] : m[1];
}

function onPath(name: string, pathVar: string): string | undefined {
  for (const dir of pathVar.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}
