// include/exclude as one predicate over '/'-separated relative paths.
import { globToRegExp } from '../core/glob.js';

/** A path passes when it matches some include (or there are none) and no exclude. */
export function pathFilter(include: readonly string[] = [], exclude: readonly string[] = []): (rel: string) => boolean {
  const inc = include.map(globToRegExp);
  const exc = exclude.map(globToRegExp);
  return (rel) => (inc.length === 0 || inc.some((r) => r.test(rel))) && !exc.some((r) => r.test(rel));
}
