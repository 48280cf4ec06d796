"""A dependency-free stand-in for a training loop: fits y = 3x + 1 (plus noise) by gradient descent,
prints JSON metric lines, writes a checkpoint every 50 steps and on SIGTERM, and resumes."""
import argparse, json, os, random, signal, time

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

stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)

def save(step):
    path = os.path.join(ckpt_dir, f"step-{step:06d}.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"w": w, "b": b, "step": step}, f)
    os.replace(path + ".tmp", path)

for step in range(start + 1, args.steps + 1):
    # data depends on the step only, so a resumed run sees what an uninterrupted one would
    rng = random.Random(step)
    xs = [rng.uniform(-1, 1) for _ in range(args.batch_size)]
    noise = [rng.gauss(0, 0.1) for _ in xs]
    grads_w = grads_b = loss = 0.0
    for x, n in zip(xs, noise):
        err = (w * x + b) - (3 * x + 1 + n)
        loss += err * err / len(xs)
        grads_w += 2 * err * x / len(xs)
        grads_b += 2 * err / len(xs)
    w -= args.lr * grads_w
    b -= args.lr * grads_b
    if step % 10 == 0:
        print(json.dumps({"step": step, "loss": round(loss, 6)}), flush=True)
    if step % 50 == 0 or stop:
        save(step)
    if stop:
        break
    time.sleep(0.02)
