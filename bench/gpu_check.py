"""The GPU check of issue 20: bf16 parity, MFU of a GPT-2-small-shaped model, a reference trial.

Three checks, each through the trainer's own code (`trainers.run_trial`, or its engine and
`train_step`), with no Ray and no MLflow (an in-memory tracker):

(a) parity: one small text model trained twice for the same steps from the same seed and
    batches, fp32 and bf16 (the CUDA default: ZeRO-1, BF16_Optimizer, fp32 gradient
    accumulation over 2 micro-batches). Pass when the mean train loss of the last quarter
    of the steps, and the final held-out loss, of bf16 are within 2 % of fp32's, and fp32
    learned (that mean is below 80 % of the first step's loss). Why 2 %: bf16 rounds every
    matmul input to 8 significant bits (relative error 2^-9 ≈ 0.2 %), so two trajectories
    drift apart chaotically yet stay statistically alike; a quarter of the steps averages
    the batch noise out. The bugs this guards against are far larger: gradients divided by
    an unapplied 65536 loss scale (DeepSpeed #7837) leave the loss near ln(vocab), and
    drift from bf16 accumulation grows with steps.
(b) throughput: tokens/s and MFU (`trainers.throughput`: C's FLOPs per token over the
    device's dense peak) of the GPT-2-small shape — 12 layers, d_model 768, 12 heads,
    seq_len 1024, BPE vocabulary 50304 on the built-in English prose. The head is untied
    (163M parameters; GPT-2's 124M ties it to the embedding, with the same FLOPs per
    token). bf16 through the trial's DeepSpeed engine and `trainers.loop.train_step`, with
    SDPA forced to flash attention (eager), and again after `engine.compile()`. Warm-up
    steps are not timed; CUDA is synchronized around the timed steps.
(c) reference: the first trial of `configs/sweeps/complexity_control_reference.yaml`, cut
    to a fixed number of steps, through `run_trial`; tokens/s and MFU as the trial logs them.

On a machine without CUDA every check runs a tiny version (small models, byte tokenizer, a
few steps, the compile check with the `eager` backend, no flash forcing, no MFU) so the
code paths can be exercised anywhere; its numbers mean nothing.

Output: one table, then `parity: pass|FAIL`, and as the last line `gpu_mfu: <value>` — the
higher of the eager and compiled bf16 MFU of (b); `n/a` without a GPU. A check that raises
becomes a `failed` row (traceback on stderr), so one broken path does not cost the others'
numbers. Exit status 1 when parity fails or any check raised.

Usage:
    python bench/gpu_check.py          # here: the tiny CPU version (about a minute)
    bash bench/gpu_check.sh            # on the GPU machine: installs the carried wheels first

The GPU machine has Python 3.12 and torch (CUDA) but no deepspeed, pydantic, ray or mlflow;
the missing wheels travel in bench/wheels/ (git-ignored, about 5 MB; ray and mlflow would
not fit the 64 MiB carry and are not needed). Build that folder here once:

    python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \\
        --platform manylinux2014_x86_64 -d bench/wheels \\
        pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \\
        typing-extensions==4.16.0 hjson==3.1.0
    python -m pip wheel --no-deps -w bench/wheels deepspeed==0.19.8   # pure Python: py3-none-any

bench/gpu_check.sh installs them with `pip install --no-index --no-deps --target /tmp/site`
and puts that folder on PYTHONPATH (the device notes' recipe: nothing is resolved there, so
the folder must hold every missing package, one version each; typing-extensions travels
because pydantic needs ≥ 4.16).

Everything else the trainer imports (numpy, scipy, pyyaml, tokenizers, filelock, pyarrow,
matplotlib, psutil, einops, msgpack, ninja, py-cpuinfo) is already on that machine.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from configs import TrialConfig  # noqa: E402
from configs import metrics as M  # noqa: E402
from configs.load import load_sweep  # noqa: E402
from trainers import Hook, InMemoryTracker, StepInfo, run_trial  # noqa: E402
from trainers.batches import next_batch  # noqa: E402
from trainers.data.tasks import build_task  # noqa: E402
from trainers.engine import create_engine, resolve_device  # noqa: E402
from trainers.loop import train_step  # noqa: E402
from trainers.model import build_model  # noqa: E402
from trainers.optim import loss_spec  # noqa: E402
from trainers.throughput import device_peak, throughput_metrics  # noqa: E402

PARITY_TOLERANCE = 0.02  # relative; see the module docstring, (a)
LEARNED = 0.8  # fp32's late loss must fall below this share of its first loss


@dataclass(frozen=True)
class Plan:
    """Sizes of the three checks on one kind of device."""

    text: dict[str, Any]  # the data section of the text trials
    parity_model: dict[str, Any]
    parity_train: dict[str, Any]  # seq_len rides in `text`; batch and steps here
    parity_lr: float
    big_model: dict[str, Any]
    big_seq_len: int
    big_batch: tuple[int, int]  # (batch_size, micro_batch_size)
    big_steps: tuple[int, int]  # (warm-up, timed)
    compile_backend: str
    reference_steps: int
    reference_overrides: dict[str, dict[str, Any]]  # CPU: smaller batch and data


def text_data(tokenizer: dict[str, Any], seq_len: int, num_test_tokens: int) -> dict[str, Any]:
    """A one-domain text data section on the built-in English prose (no download)."""
    return {"task": "text", "seq_len": seq_len, "tokenizer": tokenizer, "num_test_tokens": num_test_tokens,
            "domains": [{"name": "prose", "source": "builtin:python_prose"}]}


GPT2_SMALL = {"n_layer": 12, "n_head": 12, "d_model": 768, "d_ff": 3072}
PLANS = {
    "cuda": Plan(
        text=text_data({"kind": "bpe", "vocab_size": 50304}, 256, 16384),
        parity_model={"n_layer": 4, "n_head": 4, "d_model": 256, "d_ff": 1024},
        parity_train={"num_steps": 200, "batch_size": 32, "micro_batch_size": 16, "eval_every": 50},
        parity_lr=1e-3, big_model=GPT2_SMALL, big_seq_len=1024, big_batch=(32, 16), big_steps=(5, 20),
        compile_backend="inductor", reference_steps=300, reference_overrides={},
    ),
    "cpu": Plan(
        text=text_data({"kind": "byte"}, 32, 2048),
        parity_model={"n_layer": 1, "n_head": 2, "d_model": 32, "d_ff": 128},
        parity_train={"num_steps": 24, "batch_size": 16, "micro_batch_size": 8, "eval_every": 12},
        parity_lr=1e-2, big_model={"n_layer": 2, "n_head": 2, "d_model": 64, "d_ff": 256}, big_seq_len=64,
        big_batch=(8, 4), big_steps=(2, 4), compile_backend="eager", reference_steps=4,
        reference_overrides={"data": {"num_train": 4096, "num_test": 256}, "train": {"batch_size": 64}},
    ),
}


@dataclass(frozen=True)
class Row:
    """One line of the output table."""

    check: str
    setting: str
    tokens_per_s: float
    mfu: float | None
    loss: float | None  # (a): late mean train loss; (c): final val loss
    note: str = ""
    passed: bool | None = None  # the verdict of a comparison row


def trial_of(tree: dict[str, Any]) -> TrialConfig:
    """A trial from `tree` with every probe off: the checks time training, not probes."""
    probes_off = {"phi_weight_every": 0, "phi_input_every": 0, "training_kl_every": 0, "ratedist_bits": [],
                  "calibration_at_last_step": False}
    return TrialConfig.model_validate({**tree, "eval": {**probes_off, **tree.get("eval", {})}})


def parity_trial(plan: Plan, precision: str) -> TrialConfig:
    """The small text trial of (a) at `precision`; one checkpoint cadence past its end."""
    train = {**plan.parity_train, "precision": precision, "checkpoint_every": plan.parity_train["num_steps"]}
    return trial_of({"model": plan.parity_model, "data": plan.text, "train": train,
                     "optim": {"lr": plan.parity_lr, "warmup_steps": 10, "schedule": "cosine"}})


def train_recorded(trial: TrialConfig) -> tuple[list[float], dict[str, float]]:
    """`run_trial` in memory; every step's train loss and the final metrics."""
    losses: list[float] = []
    record = Hook(1, lambda info: losses.append(info.loss), name="record loss")
    result = run_trial(trial, tracking=InMemoryTracker(), extra_hooks=[record])
    return losses, result.final


def check_parity(plan: Plan) -> list[Row]:
    """(a): fp32 and bf16 runs of one trial, and a row saying whether they agree (module docstring)."""
    late: dict[str, float] = {}
    final: dict[str, dict[str, float]] = {}
    first = math.nan
    for precision in ("fp32", "bf16"):
        losses, final[precision] = train_recorded(parity_trial(plan, precision))
        late[precision] = statistics.fmean(losses[-max(len(losses) // 4, 1):])
        first = losses[0] if precision == "fp32" else first
    gap = abs(late["bf16"] - late["fp32"]) / late["fp32"]
    val_gap = abs(final["bf16"][M.VAL_LOSS] - final["fp32"][M.VAL_LOSS]) / final["fp32"][M.VAL_LOSS]
    learned = late["fp32"] < LEARNED * first
    ok = gap <= PARITY_TOLERANCE and val_gap <= PARITY_TOLERANCE and learned
    steps = plan.parity_train["num_steps"]
    rows = [Row("a parity", f"{p}, {steps} steps", final[p][M.TOKENS_PER_S], final[p].get(M.MFU), late[p],
                f"val {final[p][M.VAL_LOSS]:.4f}") for p in ("fp32", "bf16")]
    verdict = "pass" if ok else "FAIL"
    rows.append(Row("a parity", "bf16 vs fp32", math.nan, None, None,
                    f"{verdict}: late {gap:.2%}, val {val_gap:.2%} (≤ {PARITY_TOLERANCE:.0%}); "
                    f"fp32 {first:.3f} → {late['fp32']:.3f}", passed=ok))
    return rows


def big_trial(plan: Plan) -> TrialConfig:
    """The GPT-2-small-shaped trial of (b), bf16 at the default ZeRO stage."""
    batch, micro = plan.big_batch
    train = {"num_steps": sum(plan.big_steps), "batch_size": batch, "micro_batch_size": micro,
             "eval_every": sum(plan.big_steps), "checkpoint_every": sum(plan.big_steps), "precision": "bf16"}
    data = {**plan.text, "seq_len": plan.big_seq_len}
    return trial_of({"model": plan.big_model, "data": data, "train": train,
                     "optim": {"lr": 6e-4, "warmup_steps": 2}})


def flash_only(device: str) -> AbstractContextManager[Any]:
    """SDPA restricted to flash attention on CUDA (an error, not a silent fallback, if unusable)."""
    if device != "cuda":
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION])


def synchronize(device: str) -> None:
    """Wait for queued CUDA work, so a clock reading covers it."""
    if device == "cuda":
        torch.cuda.synchronize()


def timed_steps(trial: TrialConfig, engine: Any, task: Any, device: str, steps: tuple[int, int]) -> float:
    """Run warm-up then timed optimizer steps through `train_step`; seconds of the timed ones."""
    layout, spec = trial.train.layout(1), loss_spec(engine.module, trial.optim, task.loss_on)
    warm, timed = steps
    batches = [next_batch(task, s, trial.train.batch_size, trial.seed) for s in range(warm + timed)]
    for batch in batches[:warm]:
        train_step(engine, batch, trial.optim.lr, layout, spec)
    synchronize(device)
    started = time.perf_counter()
    for batch in batches[warm:]:
        train_step(engine, batch, trial.optim.lr, layout, spec)
    synchronize(device)
    return time.perf_counter() - started


def measure_big(plan: Plan, device: str, compiled: bool) -> Row:
    """(b): tokens/s and MFU of the big model, eager with flash attention or compiled."""
    trial = big_trial(plan)
    task = build_task(trial.data, trial.train, trial.seed)
    model = build_model(trial.model, trial.init, task.vocab_size, task.seq_len, trial.seed)
    engine = create_engine(trial, model, device)
    if compiled:
        engine.compile(backend=plan.compile_backend)
    with nullcontext() if compiled else flash_only(device):
        seconds = timed_steps(trial, engine, task, device, plan.big_steps)
    tokens = plan.big_steps[1] * trial.train.batch_size * trial.data.seq_len
    values = throughput_metrics(trial, tokens, seconds, device_peak(device, "bf16"))
    params = sum(p.numel() for p in model.parameters())
    setting = f"bf16, {'torch.compile (' + plan.compile_backend + ')' if compiled else 'eager'}"
    attention = "SDPA" if compiled else ("SDPA flash (forced)" if device == "cuda" else "SDPA")
    note = f"{params / 1e6:.3g}M params, {attention}, {values[M.FLOPS_PER_S] / 1e12:.3g} TFLOP/s"
    del engine, model
    if device == "cuda":
        torch.cuda.empty_cache()
    return Row("b throughput", setting, values[M.TOKENS_PER_S], values.get(M.MFU), None, note)


def reference_trial(plan: Plan) -> TrialConfig:
    """The first trial of the complexity_control_reference sweep, cut to `reference_steps`."""
    tree = load_sweep("complexity_control_reference").trials()[0].model_dump()
    steps = plan.reference_steps
    tree["train"].update(num_steps=steps, eval_every=steps, checkpoint_every=steps)
    tree["optim"]["warmup_steps"] = max(steps // 10, 1)
    for section, values in plan.reference_overrides.items():
        tree[section].update(values)
    return TrialConfig.model_validate(tree)  # its probes stay on: they run outside the timed steps


def check_reference(plan: Plan) -> Row:
    """(c): the reference trial through `run_trial`; its logged tokens/s and MFU."""
    trial = reference_trial(plan)
    result = run_trial(trial, tracking=InMemoryTracker())
    final = result.final
    setting = f"{trial.train.num_steps} steps, batch {trial.train.batch_size}, N {trial.num_params / 1e6:.1f}M"
    return Row("c reference", setting, final[M.TOKENS_PER_S], final.get(M.MFU), final[M.VAL_LOSS], "val loss")


def render(rows: list[Row]) -> str:
    """The rows as an aligned text table."""
    def cell(value: float | None, fmt: str) -> str:
        return "—" if value is None or math.isnan(value) else format(value, fmt)

    lines = [("check", "setting", "tokens/s", "MFU", "loss", "note")]
    lines += [(r.check, r.setting, cell(r.tokens_per_s, ",.0f"), cell(r.mfu, ".1%"), cell(r.loss, ".4f"), r.note)
              for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line[:5], widths)) + "  " + line[5] for line in lines)


def guarded(check: str, run: Callable[[], list[Row]]) -> tuple[list[Row], bool]:
    """`run()`'s rows and True; or, if it raises, one `failed` row and False (traceback on stderr)."""
    try:
        return run(), True
    except Exception as err:  # report and go on: a GPU lease is too short to rerun for one error
        traceback.print_exc()
        return [Row(check, "failed", math.nan, None, None, f"{type(err).__name__}: {err}"[:160])], False


def main() -> int:
    """Run the three checks on this machine's device, print the table and the headline."""
    device = resolve_device()
    plan = PLANS[device]
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"device: {name}, torch {torch.__version__}", flush=True)
    parity_rows, _ = guarded("a parity", lambda: check_parity(plan))
    big = [guarded("b throughput", lambda c=compiled: [measure_big(plan, device, c)]) for compiled in (False, True)]
    reference_rows, reference_ran = guarded("c reference", lambda: [check_reference(plan)])
    print(render([*parity_rows, *(r for rows, _ in big for r in rows), *reference_rows]))
    ok = any(r.passed for r in parity_rows)
    print(f"parity: {'pass' if ok else 'FAIL'}")
    mfus = [r.mfu for rows, _ in big for r in rows if r.mfu is not None]
    print(f"gpu_mfu: {max(mfus):.4f}" if mfus else "gpu_mfu: n/a")
    return 0 if ok and reference_ran and all(done for _, done in big) else 1


if __name__ == "__main__":
    sys.exit(main())
