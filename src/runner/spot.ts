// Watches the instance metadata service (IMDSv2) for a spot interruption notice: EC2 announces a
// reclaim about two minutes ahead at /latest/meta-data/spot/instance-action (404 until then).
// The endpoint is AWS_EC2_METADATA_SERVICE_ENDPOINT (the SDKs' variable; the emulator sets it).

export interface SpotWatch { stop(): void }

const DEFAULT_ENDPOINT = 'http://169.254.169.254';
const TOKEN_TTL_SECONDS = 21600;

export function watchSpotNotice(onNotice: (action: { action: string; time?: string }) => void, opts: { env?: NodeJS.ProcessEnv; pollMs?: number; say?: (line: string) => void } = {}): SpotWatch {
  const env = opts.env ?? process.env;
  const endpoint = (env.AWS_EC2_METADATA_SERVICE_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/$/, '');
  // AWS suggests polling every 5 s: the notice comes ~2 min ahead, so this leaves ample time
  const pollMs = opts.pollMs ?? (Number(env.TRAINCTL_SPOT_POLL_MS) || 5000);
  let token: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;

  const fetchToken = async () => {
    const r = await fetch(`${endpoint}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) }, signal: AbortSignal.timeout(2000) });
    if (!r.ok) throw new Error(`IMDS token: HTTP ${r.status}`);
    token = await r.text();
  };
  const poll = async () => {
    if (!token) await fetchToken();
    const r = await fetch(`${endpoint}/latest/meta-data/spot/instance-action`, { headers: { 'X-aws-ec2-metadata-token': token! }, signal: AbortSignal.timeout(2000) });
    if (r.status === 401) { token = undefined; return; }
    if (r.status === 404) { await r.arrayBuffer(); return; }
    if (!r.ok) throw new Error(`IMDS spot/instance-action: HTTP ${r.status}`);
    const body = await r.text();
    let action: { action: string; time?: string } = { action: 'terminate' };
    try { action = JSON.parse(body) as typeof action; } catch { /* a notice is a notice */ }
    stopped = true;
    onNotice(action);
  };
  const tick = () => {
    if (stopped) return;
    poll().then(() => { failures = 0; }, (err: unknown) => {
      // say it once, then keep trying quietly: IMDS hiccups must not flood the log
      if (failures++ === 0) opts.say?.(`spot notice watch: ${err instanceof Error ? err.message : String(err)}`);
    }).finally(() => {
      if (!stopped) timer = setTimeout(tick, pollMs);
      timer?.unref();
    });
  };
  tick();
  return { stop() { stopped = true; if (timer) clearTimeout(timer); } };
}
