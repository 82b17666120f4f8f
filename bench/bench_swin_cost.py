"""What one epoch of Swin costs on this machine: the CPU-sized preset at 64 px and the paper's at 224 px.

Builds the ``swin`` family's network exactly as a training does (:meth:`lcml.families.swin.SwinFamily.build`:
``demo`` preset at 64×64, ``paper`` preset ``swin_tiny_patch4_window7_224`` at 224×224, 11 classes and
the 6 scalar features), times forward + backward + AdamW step on random batches of |CWT|-sized images,
and extrapolates to an epoch over Catalina SSS's training split (9,300 stars) and to the 20 epochs of
profile ``survey``'s Swin search. No data is read: the cost of a step does not depend on the pixels.

Results go to ``bench/results/swin_cost.json``.

Usage::

    .venv/bin/python bench/bench_swin_cost.py [--batch 32] [--steps 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time

from _common import ROOT  # noqa: E402  (bench/ is on sys.path when run)
from _common import git as _git  # noqa: E402

#: Catalina SSS training-split stars (the release's 70%): one epoch's images
CATALINA_TRAIN = 9_300


def step_seconds(preset: str, img_size: int, batch: int, steps: int) -> dict:
    import torch

    from lcml.families.swin import SwinFamily

    options = {"preset": preset, "img_size": img_size}
    model = SwinFamily().build({"lr": 5e-4, "drop_rate": 0.1}, n_classes=11, x_shape=(img_size, img_size), n_aux=6,
                               options=options)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
    x, aux = torch.rand(batch, img_size, img_size), torch.randn(batch, 6)
    y = torch.randint(0, 11, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for k in range(steps + 1):  # the first step pays one-off allocations: not counted
        started = time.perf_counter()
        opt.zero_grad()
        loss_fn(model(x, aux), y).backward()
        opt.step()
        if k:
            times.append(time.perf_counter() - started)
    per_step = sum(times) / len(times)
    per_epoch = per_step * CATALINA_TRAIN / batch
    return {"preset": preset, "img_size": img_size, "parameters": sum(p.numel() for p in model.parameters()),
            "batch": batch, "seconds_per_step": round(per_step, 3), "catalina_epoch_seconds": round(per_epoch),
            "catalina_20_epochs_hours": round(20 * per_epoch / 3600, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "swin_cost.json"))
    args = ap.parse_args()
    import torch

    rows = [step_seconds("demo", 64, args.batch, args.steps), step_seconds("paper", 224, args.batch, args.steps)]
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "git_commit": _git("rev-parse", "--short", "HEAD"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
                          "device": "cpu"},
              "catalina_train_stars": CATALINA_TRAIN, "runs": rows}
    with open(args.output, "w") as fh:
        fh.write(json.dumps(result, indent=2) + "\n")
    for r in rows:
        print(f"{r['preset']} {r['img_size']} px, {r['parameters']:,} parameters: {r['seconds_per_step']} s a step of "
              f"{r['batch']}, {r['catalina_epoch_seconds']} s a Catalina epoch, {r['catalina_20_epochs_hours']} h for 20")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
