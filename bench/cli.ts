// bench:cli — cold start of `trainctl --version` and `trainctl validate` on a small file, each as
// a ratio to `node -e 0` measured in the same run, interleaved. Goal (issue 4): ≤ 2.5×.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin.js', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 25);
const cases: [string, string[]][] = [
  ['node -e 0', ['-e', '0']],
  ['trainctl --version', [bin, '--version']],
  ['trainctl validate (quickstart)', [bin, 'validate', '-f', 'jobs.example/quickstart.yaml']],
  ['trainctl plan (quickstart)', [bin, 'plan', '-f', 'jobs.example/quickstart.yaml']],
];

const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS + 2; round++) {
  for (const [name, args] of cases) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { stdio: 'ignore', env: { ...process.env, TRAINCTL_HOME: '/tmp/trainctl-bench-home' } });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
    if (round >= 2) times.get(name)!.push(ms); // two warm-up rounds fill the page cache
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(times.get('node -e 0')!);
console.log(`bench:cli — median wall time of ${ROUNDS} interleaved runs each`);
for (const [name] of cases) {
  const m = median(times.get(name)!);
  const ratio = m / base;
  const goal = name === 'node -e 0' ? '' : `  goal ≤ 2.5×: ${ratio <= 2.5 ? 'met' : 'MISSED'}`;
  console.log(`  ${name.padEnd(32)} ${m.toFixed(1).padStart(6)} ms  ${ratio.toFixed(2)}×${goal}`);
}
