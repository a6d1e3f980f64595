"""Does the best lr move with width? One lr for every parameter against μP's lr rule.

Method. A 2-layer GPT (d_ff = 4·d, 2 heads) on the markov task (seq_len 32, batch 32) is trained
with `run_trial` (the real DeepSpeed engine, no Ray) for `--steps` steps at every width in
`--widths` and every lr in `--lrs`, weight decay 0, 10 % warm-up, cosine, init the default
(fan_in, γ 0.5). `sp` runs every parameter at the lr; `mup` sets `optim.mup_d_model_ref` to the
smallest width, so hidden and output matrices run at lr · d_ref / d (trainers/optim.py; the
initialization is not μP's). At the reference width both are the same run, so `mup` starts one
width up. Each cell is the held-out loss at the last step, averaged over `--seeds`.

The last line is `mup_lr_transfer: <best lr at the widest / best lr at the reference width,
sp> vs <same, mup>`; 1.0 means the best lr (on the grid) did not move.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from pathlib import Path

import numpy as np

import trainers.artifacts
from configs import TrialConfig
from configs import metrics as M
from trainers import InMemoryTracker, run_trial


@functools.cache  # at the reference width both modes are one run
def final_loss(mode: str, d: int, lr: float, seed: int, steps: int, d_ref: int) -> float:
    trial = TrialConfig.model_validate({
        "seed": seed,
        "model": {"n_layer": 2, "n_head": 2, "d_model": d, "d_ff": 4 * d},
        "data": {"task": "markov", "seq_len": 32},
        "optim": {"lr": lr, "warmup_steps": steps // 10, "weight_decay": 0.0,
                  **({"mup_d_model_ref": d_ref} if mode == "mup" else {})},
        "train": {"num_steps": steps, "batch_size": 32, "eval_every": steps, "checkpoint_every": steps},
    })
    tracker = InMemoryTracker()
    run_trial(trial, lambda metrics, checkpoint: None, tracking=tracker, checkpoint_root=Path(tempfile.mkdtemp()))
    return float(tracker.history[M.VAL_LOSS][steps])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--widths", default="32,64,128")
    parser.add_argument("--lrs", default="1e-3,3e-3,1e-2,3e-2,1e-1")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    widths, lrs = [int(w) for w in args.widths.split(",")], [float(x) for x in args.lrs.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    trainers.artifacts.write_run_figures = lambda model, directory: []  # type: ignore[assignment]  # figures cost time, show nothing here
    best: dict[str, list[float]] = {}
    for mode in ("sp", "mup"):
        print(f"{mode}: held-out loss (nats) at step {args.steps}, mean over seeds {seeds}")
        print("d_model  " + "  ".join(f"{lr:>8.0e}" for lr in lrs))
        for d in widths:
            run_mode = "sp" if d == widths[0] else mode  # at the reference width μP is the plain run
            losses = [np.mean([final_loss(run_mode, d, lr, s, args.steps, widths[0]) for s in seeds]) for lr in lrs]
            print(f"{d:>7}  " + "  ".join(f"{v:8.3f}" for v in losses), flush=True)
            best.setdefault(mode, []).append(lrs[int(np.argmin(losses))])
        print(f"{mode}: best lr per width {dict(zip(widths, best[mode]))}")
    ratios = {mode: lr[-1] / lr[0] for mode, lr in best.items()}
    print(f"mup_lr_transfer: {ratios['sp']:.3g} vs {ratios['mup']:.3g}")


if __name__ == "__main__":
    main()
