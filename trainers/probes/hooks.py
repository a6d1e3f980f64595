"""The probe hooks of a trial, built from its `eval` section (`configs/eval.py`).

`trainers.loop.default_hooks` places them right after evaluation, so what they write into
`info.metrics` is logged at the evaluation's step and reported with it. Each probe's noise
is seeded by (trial seed, `eval.probe_seed`, step, draw): a resumed trial logs the values an
uninterrupted one would have.
"""

from __future__ import annotations

from collections.abc import Callable

from configs import TrialConfig
from configs import metrics as M
from configs.eval import EvalConfig
from trainers.hooks import Hook, StepInfo
from trainers.probes.calibration import calibration
from trainers.probes.quantize import rate_distortion
from trainers.probes.stability import Perturbation, antithetic_draws, input_perturbation, weight_perturbation
from trainers.probes.subsets import ProbeSubsets, eval_mode, seed_of
from trainers.probes.training_kl import training_kl_hook

ProbeFn = Callable[[StepInfo], None]
# Distinct seed streams per probe kind, so φ_weight and φ_input never share noise.
WEIGHT_STREAM, INPUT_STREAM, CALIBRATION_STREAM = 1, 2, 3


def _draw_seeds(info: StepInfo, cfg: EvalConfig, stream: int, num_draws: int) -> list[int]:
    return [seed_of(info.run.trial.seed, cfg.probe_seed, stream, info.step, k) for k in range(num_draws)]


def _log_perturbation(info: StepInfo, cfg: EvalConfig, key: str, noisy_key: str, result: Perturbation) -> None:
    """φ in the trial's form, plus the raw L and L̃ behind it (the analysis recomputes either form)."""
    reference = info.run.state.reference.get(M.INIT_PROBE_LOSS)
    info.metrics[M.PROBE_LOSS] = result.clean
    info.metrics[noisy_key] = result.perturbed
    if reference is not None or cfg.phi_form == "relative":
        info.metrics[key] = result.phi(reference, cfg.phi_form)


def weight_probe(cfg: EvalConfig, subsets: ProbeSubsets) -> ProbeFn:
    """Hook body logging `stability/phi_weight` and its losses."""

    def probe(info: StepInfo) -> None:
        run = info.run
        pairs = _draw_seeds(info, cfg, WEIGHT_STREAM, (cfg.phi_weight_draws + 1) // 2)
        draws = antithetic_draws(pairs, cfg.phi_weight_draws)
        result = weight_perturbation(run.model, run.task, subsets.of(run.task), run.device, cfg.phi_weight_epsilon, draws)
        _log_perturbation(info, cfg, M.PHI_WEIGHT, M.WEIGHT_NOISE_LOSS, result)

    return probe


def input_probe(cfg: EvalConfig, subsets: ProbeSubsets) -> ProbeFn:
    """Hook body logging `stability/phi_input` and its losses."""

    def probe(info: StepInfo) -> None:
        run = info.run
        seeds = _draw_seeds(info, cfg, INPUT_STREAM, cfg.phi_input_draws)
        result = input_perturbation(run.model, run.task, subsets.of(run.task), run.device, cfg.phi_input_fraction, seeds)
        _log_perturbation(info, cfg, M.PHI_INPUT, M.INPUT_NOISE_LOSS, result)

    return probe


def calibration_probe(cfg: EvalConfig) -> ProbeFn:
    """Hook body logging T*, the loss at T* and the ECE of every domain, on chosen steps."""
    steps = set(cfg.calibration_steps)

    def probe(info: StepInfo) -> None:
        if info.step not in steps and not (info.is_last and cfg.calibration_at_last_step):
            return
        run, task = info.run, info.run.task
        with eval_mode(run.model):
            for i, (domain, data) in enumerate(task.domains.items()):
                seed = seed_of(run.trial.seed, cfg.probe_seed, CALIBRATION_STREAM, i)
                t_opt, loss, ece = calibration(run.model, data, task.loss_on, run.device, task.vocab_size,
                                               cfg.calibration_examples, cfg.calibration_bins, seed)
                info.metrics[M.calibration_t_opt_key(domain)] = t_opt
                info.metrics[M.calibration_loss_at_t_key(domain)] = loss
                info.metrics[M.calibration_ece_key(domain)] = ece

    return probe


def ratedist_probe(cfg: EvalConfig) -> ProbeFn:
    """Hook body logging `ratedist/<bits>/<domain>` (meant for the last step)."""

    def probe(info: StepInfo) -> None:
        run = info.run
        for bits, losses in rate_distortion(run.model, run.task, run.device, cfg.ratedist_bits).items():
            info.metrics.update({M.ratedist_key(bits, domain): loss for domain, loss in losses.items()})

    return probe


def phi_weight_hooks(trial: TrialConfig, subsets: ProbeSubsets) -> list[Hook]:
    """`phi_weight`: weight-perturbation φ at `eval.phi_weight_every` (0 = off)."""
    every = trial.eval.cadence(trial.eval.phi_weight_every, trial.train.eval_every)
    return [Hook(every, weight_probe(trial.eval, subsets), name="phi_weight")] if every else []


def phi_input_hooks(trial: TrialConfig, subsets: ProbeSubsets) -> list[Hook]:
    """`phi_input`: input-perturbation φ at `eval.phi_input_every` (0 = off)."""
    every = trial.eval.cadence(trial.eval.phi_input_every, trial.train.eval_every)
    return [Hook(every, input_probe(trial.eval, subsets), name="phi_input")] if every else []


def calibration_hooks(trial: TrialConfig, subsets: ProbeSubsets) -> list[Hook]:
    """`calibration`: T*, loss at T* and ECE at `eval.calibration_steps` and/or the last step."""
    cfg, train = trial.eval, trial.train
    if not (cfg.calibration_steps or cfg.calibration_at_last_step):
        return []
    at_last = cfg.calibration_at_last_step or train.num_steps in cfg.calibration_steps
    return [Hook(1, calibration_probe(cfg), at_last_step=at_last, name="calibration")]


def ratedist_hooks(trial: TrialConfig, subsets: ProbeSubsets) -> list[Hook]:
    """`ratedist`: quantized held-out losses at the last step (every = num_steps: due only then)."""
    if not trial.eval.ratedist_bits:
        return []
    return [Hook(trial.train.num_steps, ratedist_probe(trial.eval), name="rate-distortion")]
