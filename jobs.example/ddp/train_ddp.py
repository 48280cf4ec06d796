"""Tiny data-parallel training with torch DDP over gloo on CPU: a linear regression on synthetic
data, so 1 node x 2 processes and 2 nodes x 1 process give the same losses. Rank 0 writes
checkpoints (temp + rename) every --ckpt-every steps and on SIGTERM; --resume continues."""
import argparse, json, os, signal, time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--steps", type=int, default=60)
p.add_argument("--ckpt-every", type=int, default=20)
p.add_argument("--sleep", type=float, default=0.02)
p.add_argument("--resume", default=None)
args = p.parse_args()

dist.init_process_group(backend=os.environ.get("TRAINCTL_DDP_BACKEND", "gloo"))
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
model = DDP(torch.nn.Linear(8, 1))
opt = torch.optim.SGD(model.parameters(), lr=args.lr)
ckpt_dir = os.environ.get("TRAINCTL_CHECKPOINT_DIR", "checkpoints")
os.makedirs(ckpt_dir, exist_ok=True)

start = 0
resume = args.resume or os.environ.get("TRAINCTL_RESUME_FROM")
if resume:
    state = torch.load(resume)
    model.module.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    start = state["step"]

stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)

def save(step):
    if rank != 0:
        return
    path = os.path.join(ckpt_dir, f"step-{step:06d}.pt")
    torch.save({"model": model.module.state_dict(), "opt": opt.state_dict(), "step": step}, path + ".tmp")
    os.replace(path + ".tmp", path)

# the global batch is the same whatever the layout: each rank takes its slice
true_w = torch.arange(8, dtype=torch.float32)
step = start
for step in range(start + 1, args.steps + 1):
    g = torch.Generator().manual_seed(step)
    x = torch.randn(64, 8, generator=g)
    y = x @ true_w + 0.5
    xs, ys = x.chunk(world)[rank], y.chunk(world)[rank]
    opt.zero_grad()
    loss = ((model(xs).squeeze(1) - ys) ** 2).mean()
    loss.backward()
    opt.step()
    total = loss.detach().clone()
    dist.all_reduce(total)
    if rank == 0:
        print(json.dumps({"step": step, "loss": round(total.item() / world, 6)}), flush=True)
    if step % args.ckpt_every == 0:
        save(step)
    flags = torch.tensor([1.0 if stop else 0.0])
    dist.all_reduce(flags)
    if flags.item() > 0:
        save(step)
        break
    time.sleep(args.sleep)
dist.barrier()
dist.destroy_process_group()
