// Installs what the quickstart and the tests need, only when missing, from Debian's packages:
//   node scripts/deps.mjs python   python3 for the quickstart
//   node scripts/deps.mjs test     python3-torch (real DDP over gloo in the tests), awscli (the
//                                  emulator must answer Debian's `aws`), chromium (the HTML report)
// As root it runs apt-get; otherwise it says what to install and exits 1.
import { spawnSync } from 'node:child_process';

const need = process.argv[2] ?? 'test';
const has = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

const missing = [];
if (!has('python3', ['-c', '0']) && !has('/usr/bin/python3', ['-c', '0'])) missing.push('python3');
if (need === 'test' && !has('/usr/bin/python3', ['-c', 'import torch.distributed'])) missing.push('python3-torch');
if (need === 'test' && !has('/usr/bin/aws', ['--version'])) missing.push('awscli');
if (need === 'test' && !has('/usr/bin/chromium', ['--version'])) missing.push('chromium');
if (missing.length === 0) process.exit(0);

const root = typeof process.getuid === 'function' && process.getuid() === 0;
if (!root || !has('apt-get', ['--version'])) {
  console.error(`trainctl: missing ${missing.join(', ')} — install with: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`);
  process.exit(1);
}
const apt = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
console.error(`trainctl: installing ${missing.join(', ')} from Debian's packages (once; python3-torch takes about a minute)`);
const install = ['install', '-y', '-q', '--no-install-recommends', ...missing];
if (!apt(install) && !(apt(['update', '-q']) && apt(install))) {
  console.error(`trainctl: apt-get could not install ${missing.join(', ')}`);
  process.exit(1);
}
