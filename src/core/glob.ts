// Globs over '/'-separated relative paths — `*` and `?` within a segment, `**` across segments,
// `{a,b}` alternatives, `[…]` classes. Shared by the runner's checkpoint pattern and the transfer
// engine's include/exclude filters; no dependency, so the runner bundle stays small.

export function globToRegExp(glob: string): RegExp {
  let re = '';
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atSegmentStart = i === 0 || glob[i - 1] === '/';
        i++;
        if (atSegmentStart && glob[i + 1] === '/') {
          re += '(?:[^/]*/)*'; // `**/`: zero or more whole directories
          i++;
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close === -1) {
        re += '\\[';
      } else {
        let body = glob.slice(i + 1, close);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) {
      re += '|';
    } else {
      re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  re += ')'.repeat(braces);
  return new RegExp(`^${re}$`);
}

export function matchesGlob(path: string, glob: string | RegExp): boolean {
  return (typeof glob === 'string' ? globToRegExp(glob) : glob).test(path);
}
