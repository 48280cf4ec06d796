// What a PyTorch checkpoint holds — top-level keys, tensor count and parameters, epoch/step —
// read by /usr/bin/python3 with torch when it is there (DESIGN §9: a python3 earlier on PATH may
// lack torch). The file is unpickled with an allow-list (tensors, storages, plain containers), so
// inspecting a checkpoint from anywhere cannot run code. Bounded in time; absent torch is no error.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export const TORCH_PYTHON = '/usr/bin/python3';
const TIMEOUT_MS = 90_000;
/** Larger files are not loaded: torch.load reads everything into memory. */
export const TORCH_MAX_BYTES = 4 * 2 ** 30;

export interface TorchSummary {
  path: string;
  /** Top-level keys of a dict checkpoint (first 50). */
  keys?: string[];
  type?: string;
  tensors?: number;
  parameters?: number;
  epoch?: number;
  step?: number;
  /** A state dict inside (model_state_dict, state_dict, model, or the checkpoint itself): its first tensors. */
  stateDict?: { key: string; entries: number; sample: { name: string; shape: number[]; dtype: string }[] };
  error?: string;
}

export const TORCH_SUFFIXES = /\.(pt|pth|ckpt|bin|tar)$/i;

const SCRIPT = String.raw`
import json, pickle, sys, types
try:
    import torch, torch.serialization
except Exception as e:
    print(json.dumps({"unavailable": str(e).splitlines()[0] if str(e) else type(e).__name__}))
    sys.exit(0)

ALLOWED = {
    ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"), ("torch", "Size"),
    ("torch", "device"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice"), ("builtins", "complex"),
    ("torch.storage", "TypedStorage"), ("torch.storage", "UntypedStorage"), ("torch.storage", "_load_from_bytes"),
    ("numpy.core.multiarray", "scalar"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
}

def allowed(mod, name):
    if (mod, name) in ALLOWED:
        return True
    return mod == "torch" and (name.endswith("Storage") or isinstance(getattr(torch, name, None), torch.dtype))

class SafeUnpickler(pickle.Unpickler):
    def find_class(self, mod, name):
        if allowed(mod, name):
            return super().find_class(mod, name)
        raise pickle.UnpicklingError("refusing to load %s.%s (only tensors and plain containers are read)" % (mod, name))

safe = types.ModuleType("pickle")
safe.__dict__.update(pickle.__dict__)
safe.Unpickler = SafeUnpickler
safe.load = lambda f, **kw: SafeUnpickler(f, **kw).load()
torch.serialization.pickle = safe  # torch < 2 ignores pickle_module unless weights_only is set

def load(path):
    try:
        return torch.load(path, map_location="cpu", pickle_module=safe, weights_only=False)
    except TypeError:
        return torch.load(path, map_location="cpu", pickle_module=safe)

def count(obj, depth=0):
    if torch.is_tensor(obj):
        return 1, obj.numel()
    if depth > 6:
        return 0, 0
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else []
    t = p = 0
    for v in items:
        a, b = count(v, depth + 1)
        t += a
        p += b
    return t, p

def as_int(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if torch.is_tensor(v) and v.numel() == 1 and not v.is_floating_point():
        return int(v.item())
    return None

out = []
for path in sys.argv[1:]:
    res = {"path": path}
    try:
        obj = load(path)
        res["type"] = type(obj).__name__
        t, p = count(obj)
        res["tensors"], res["parameters"] = t, p
        if isinstance(obj, dict):
            res["keys"] = [str(k) for k in list(obj.keys())[:50]]
            if "epoch" in obj and as_int(obj["epoch"]) is not None:
                res["epoch"] = as_int(obj["epoch"])
            for k in ("step", "global_step", "iteration"):
                if k in obj and as_int(obj[k]) is not None:
                    res["step"] = as_int(obj[k])
                    break
            sd_key, sd = None, None
            for k in ("model_state_dict", "state_dict", "model", "module"):
                v = obj.get(k)
                if isinstance(v, dict) and v and all(torch.is_tensor(x) for x in v.values()):
                    sd_key, sd = k, v
                    break
            if sd is None and obj and all(torch.is_tensor(x) for x in obj.values()):
                sd_key, sd = "", obj
            if sd is not None:
                res["stateDict"] = {"key": sd_key, "entries": len(sd), "sample": [
                    {"name": str(n), "shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")} for n, v in list(sd.items())[:8]]}
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        res["error"] = msg[:300]
    out.append(res)
print(json.dumps(out))
`;

export type TorchInspection = { available: false; reason: string } | { available: true; files: TorchSummary[] };

/** Inspects the given files in one python process. Never throws: trouble is a reason or a per-file error. */
export function inspectTorch(paths: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<TorchInspection> {
  const python = env.TRAINCTL_TORCH_PYTHON || TORCH_PYTHON;
  if (!existsSync(python)) return Promise.resolve({ available: false, reason: `${python} not found` });
  if (paths.length === 0) return Promise.resolve({ available: true, files: [] });
  return new Promise((resolve) => {
    execFile(python, ['-c', SCRIPT, ...paths], { timeout: TIMEOUT_MS, maxBuffer: 16 * 2 ** 20, env: { PATH: env.PATH ?? '/usr/bin:/bin', HOME: env.HOME ?? '/tmp', OMP_NUM_THREADS: '1' } }, (err, stdout) => {
      if (err && (err as { killed?: boolean }).killed) return resolve({ available: false, reason: `python did not finish within ${TIMEOUT_MS / 1000}s` });
      let parsed: unknown;
      try {
        parsed = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
      } catch {
        return resolve({ available: false, reason: err ? `python failed (${err.message.split('\n')[0]})` : 'python gave no answer' });
      }
      if (parsed && typeof parsed === 'object' && 'unavailable' in parsed) return resolve({ available: false, reason: `torch is not installed for ${python}` });
      resolve({ available: true, files: parsed as TorchSummary[] });
    });
  });
}
