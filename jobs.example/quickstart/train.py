"""A dependency-free stand-in for a training loop: fits y = 3x + 1 by gradient descent,
prints JSON metric lines, writes a checkpoint every 50 steps and resumes from one."""
import argparse, json, os, random, time

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--batch-size", type=int, default=16)
p.add_argument("--steps", type=int, default=200)
p.add_argument("--resume", default=None)
args = p.parse_args()

ckpt_dir = os.environ.get("TRAINCTL_CHECKPOINT_DIR", "checkpoints")
os.makedirs(ckpt_dir, exist_ok=True)
w, b, start = 0.0, 0.0, 0
if args.resume:
    with open(args.resume) as f:
        state = json.load(f)
    w, b, start = state["w"], state["b"], state["step"]

rng = random.Random(1234)
for step in range(start + 1, args.steps + 1):
    xs = [rng.uniform(-1, 1) for _ in range(args.batch_size)]
    grads_w = grads_b = loss = 0.0
    for x in xs:
        err = (w * x + b) - (3 * x + 1)
        loss += err * err / len(xs)
        grads_w += 2 * err * x / len(xs)
        grads_b += 2 * err / len(xs)
    w -= args.lr * grads_w
    b -= args.lr * grads_b
    if step % 10 == 0:
        print(json.dumps({"step": step, "loss": round(loss, 6)}), flush=True)
    if step % 50 == 0:
        path = os.path.join(ckpt_dir, f"step-{step:06d}.json")
        with open(path + ".tmp", "w") as f:
            json.dump({"w": w, "b": b, "step": step}, f)
        os.replace(path + ".tmp", path)
    time.sleep(0.01)
