"""Evaluation: the distortion vector, bits per byte, task accuracies and complexity measures.

Per domain: `distortion/<d>` = held-out cross-entropy in nats per target token; for text,
`bpb/<d>` = the same summed nats / (ln 2 · bytes those targets cover), comparable across
tokenizers; for the Markov task, `floor/<d>` = the source's exact entropy rate. `val/loss`
(and `val/bpb`) average the domains with the task's domain weights (a plain mean when it has
none).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from configs import metrics as M
from trainers.condensation import effective_neurons
from trainers.data.anchor import OOD_PAIRS
from trainers.data.tasks import EvalSet, TaskData
from trainers.distributed import full_parameters
from trainers.model import GPT, first_query_weight, param_norm
from trainers.task_metrics import anchor_accuracy, ood_metrics

EVAL_BATCH = 2048
LOGITS_BUDGET = 2**24  # logits held at once (64 MB of fp32): T·vocab decides the batch
LN2 = math.log(2.0)


def sequence_loss(model: GPT, inputs: torch.Tensor, targets: torch.Tensor, loss_on: str) -> torch.Tensor:
    """Mean cross-entropy (nats/token): on the last position, or on every position."""
    if loss_on == "last":
        logits = model(inputs, last_only=True)  # (B, vocab)
        return F.cross_entropy(logits, targets)
    logits = model(inputs)  # (B, T, vocab)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def _eval_batch(data: EvalSet, loss_on: str, vocab_size: int) -> int:
    """Sequences per forward pass: at most EVAL_BATCH, and within the logits budget."""
    positions = 1 if loss_on == "last" else data.inputs.shape[1]
    return max(1, min(EVAL_BATCH, LOGITS_BUDGET // (positions * vocab_size)))


@torch.no_grad()
def _summed_loss(model: GPT, data: EvalSet, loss_on: str, device: str, vocab_size: int) -> tuple[float, np.ndarray]:
    """Summed cross-entropy (nats) over every target of `data`, and the argmax predictions."""
    total, preds = 0.0, []
    step = _eval_batch(data, loss_on, vocab_size)
    for lo in range(0, len(data.inputs), step):
        x = torch.from_numpy(data.inputs[lo : lo + step]).to(device)
        y = torch.from_numpy(data.targets[lo : lo + step]).to(device)
        logits = model(x, last_only=loss_on == "last")
        flat_logits = logits if loss_on == "last" else logits.flatten(0, 1)
        total += float(F.cross_entropy(flat_logits.float(), y.flatten(), reduction="sum"))
        preds.append(logits.argmax(-1).cpu().numpy())
    return total, np.concatenate(preds)


def _weighted_mean(values: dict[str, float], weights: dict[str, float] | None) -> float:
    if weights is None:
        return float(np.mean(list(values.values())))
    return float(sum(weights[d] * v for d, v in values.items()) / sum(weights[d] for d in values))


def evaluate(model: GPT, task: TaskData, device: str) -> dict[str, float]:
    """All held-out metrics of one evaluation, keyed by `configs.metrics` names."""
    was_training = model.training
    model.eval()
    values: dict[str, float] = {}
    distortion, bpb, predictions = {}, {}, {}
    for domain, data in task.domains.items():
        total, predictions[domain] = _summed_loss(model, data, task.loss_on, device, task.vocab_size)
        distortion[domain] = total / data.targets.size
        values[M.distortion_key(domain)] = distortion[domain]
        if task.domain_bytes is not None:
            # (total / bytes) / ln 2: for bytes == tokens (byte tokenizer) exactly distortion / ln 2.
            bpb[domain] = total / task.domain_bytes[domain] / LN2
            values[M.bpb_key(domain)] = bpb[domain]
    values[M.VAL_LOSS] = _weighted_mean(distortion, task.domain_weights)
    if bpb:
        values[M.VAL_BPB] = _weighted_mean(bpb, task.domain_weights)
    values.update({M.floor_key(domain): floor for domain, floor in task.floors.items()})
    if task.anchor is not None:
        values.update(_anchor_metrics(model, task, predictions, device))
    values.update(complexity_metrics(model))
    model.train(was_training)
    return values


def _anchor_metrics(model: GPT, task: TaskData, predictions: dict[str, np.ndarray], device: str) -> dict[str, float]:
    assert task.anchor is not None and task.ood_swapped is not None
    train_probe = EvalSet(task.anchor.train.inputs[:2048], task.anchor.train.targets[:2048])
    _, train_pred = _summed_loss(model, train_probe, "last", device, task.vocab_size)
    _, swapped_pred = _summed_loss(model, task.ood_swapped, "last", device, task.vocab_size)
    ood = ood_metrics(predictions["ood"], swapped_pred, task.anchor.ood_test.targets, task.anchor.ood_test.pairs)
    values = {
        M.TRAIN_ACC: anchor_accuracy(train_pred, train_probe.targets),
        M.ID_ACC: anchor_accuracy(predictions["id"], task.anchor.id_test.targets),
        M.OOD_ACC: ood["accuracy"],
        M.COMMUTATIVITY: ood["commutativity"],
        M.COMMUTATIVITY_WRONG: ood["commutativity_wrong"],
        M.SYMMETRIC_SHARE: ood["symmetric_share"],
    }
    for first, second in OOD_PAIRS:
        values[M.ood_pair_key(first, second)] = ood[f"{first}_{second}"]
    return values


def complexity_metrics(model: GPT) -> dict[str, float]:
    """Parameter norm and effective neurons (condensation) of layer-1 W_Q (whole, under ZeRO-3 too)."""
    with full_parameters(model):
        w_q = first_query_weight(model).numpy()  # (d_model out, d_model in)
        norm = param_norm(model)
    return {M.PARAM_NORM: norm, M.EFFECTIVE_NEURONS: float(effective_neurons(w_q))}
