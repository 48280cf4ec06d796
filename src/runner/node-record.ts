// The local provider's node record (TRAINCTL_NODE_RECORD): the launcher may die between spawning
// the runner and writing its pid, so the runner fills in its own identity when it finds none.
import { processStartTime, readNodeRecord, writeNodeRecord } from '../providers/local/nodes.js';

/** A message when the record could not be completed; undefined when done or not needed. */
export function fillNodeRecord(path: string): string | undefined {
  const rec = readNodeRecord(path);
  if (!rec) return `node record ${path} is missing or unreadable; the local provider may not see this node`;
  if (rec.pid !== null && rec.pid !== undefined) return undefined;
  writeNodeRecord(path, { ...rec, pid: process.pid, pidStart: processStartTime(process.pid) ?? '' });
  return undefined;
}
