// Positions in YAML sources: maps a path inside a parsed document to line:col of its node,
// so every diagnostic points at the YAML node at fault.
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import type { PathSegment } from './schema-walk.js';

export interface Position { line: number; col: number }

export class SourceDoc {
  constructor(
    readonly file: string,
    readonly text: string,
    readonly doc: Document.Parsed,
    readonly lines: LineCounter,
  ) {}

  pos(offset: number): Position {
    const { line, col } = this.lines.linePos(offset);
    return { line, col };
  }

  /** Start of the document's content (or of the document when it is empty). */
  start(): Position {
    const n = this.doc.contents as Node | null;
    return this.pos(n?.range?.[0] ?? this.doc.range[0]);
  }

  /**
   * The node at `path`. With `key: true` the position is that of the map key naming the last
   * segment (for "unknown key" and "missing key" messages); otherwise that of the value.
   * A path that leaves the document resolves to its deepest existing ancestor.
   */
  locate(path: readonly PathSegment[], opts: { key?: boolean } = {}): Position {
    let node: unknown = this.doc.contents;
    let keyNode: Node | undefined;
    let last: Position = this.start();
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      let pair: Pair | undefined;
      let next: unknown;
      if (isMap(node)) {
        pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
        next = pair?.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
      }
      if (pair === undefined && next === undefined) return last;
      keyNode = pair && isNode(pair.key) ? pair.key : undefined;
      const isLast = i === path.length - 1;
      if (isLast && opts.key && keyNode?.range) return this.pos(keyNode.range[0]);
      // `key:` with nothing after it has an empty value node just past the colon; the key is
      // what the user sees, so point there.
      if (isNode(next) && next.range && !isImplicitNull(next)) last = this.pos(next.range[0]);
      else if (keyNode?.range) last = this.pos(keyNode.range[0]);
      node = next;
    }
    return last;
  }

  /** The source text of the value node at `path`, with its start offset. */
  sourceOf(path: readonly PathSegment[]): { text: string; offset: number } | undefined {
    const n = this.doc.getIn(path, true);
    if (!isNode(n) || !n.range) return undefined;
    return { text: this.text.slice(n.range[0], n.range[1]), offset: n.range[0] };
  }
}

function isNode(v: unknown): v is Node {
  return v !== null && typeof v === 'object' && 'range' in (v as object);
}

/** A value left out entirely (`key:`), as opposed to a written `null` or `~`. */
export function isImplicitNull(n: unknown): boolean {
  return isScalar(n) && n.value === null && !!n.range && n.range[0] === n.range[1];
}

function keyText(k: unknown): string | undefined {
  if (isScalar(k)) return String(k.value);
  return undefined;
}
