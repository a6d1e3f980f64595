"""The metric-name contract and the scaling symbols N, D, C.

Every metric key the trainer logs and the analysis reads is defined here once; no other
module writes a metric name as a string literal. Keys are slash-namespaced so the MLflow UI
groups them.

Scaling symbols (docs/architecture.md, "Definitions"):

* **N** (`num_params`): non-embedding parameters — everything except the token embedding,
  the position embedding and the (untied) output head, as in Kaplan et al. 2020, §2.1.
* **D** (`num_tokens`): training tokens processed (sequences × sequence length).
* **C** (`compute_flops`): training FLOPs, defined once here (see `flops_per_token`):
  C = D · (6·(N + head) + 6·n_layer·seq_len·d_model), head = d_model·vocab_size. The output
  head's FLOPs are counted (Porian et al. 2024, "Resolving discrepancies in compute-optimal
  scaling of language models", §3: leaving out the last layer is one of the causes of the
  Kaplan/Chinchilla discrepancy; at d_model 32 it understates C by ~30 %), and so is the
  attention-score term (Porian et al. 2024, eq. 1). Every producer (the trainer logs
  `size/compute_flops`) and consumer (analysis reads that logged value) uses this one
  definition. `flops_6nd` is the named alternative convention C = 6·N·D, offered only to
  compare with papers that use it (`--flops-convention 6nd` in the CLI).
"""

from __future__ import annotations

# --- training progress -------------------------------------------------------------
TRAIN_LOSS = "train/loss"
LEARNING_RATE = "train/lr"
NUM_TOKENS = "progress/num_tokens"
COMPUTE_FLOPS = "progress/compute_flops"
TOKENS_PER_S = "throughput/tokens_per_s"  # training tokens per second in optimizer steps (see the throughput block)

# --- held-out losses ----------------------------------------------------------------
VAL_LOSS = "val/loss"  # mean of the distortion components
DISTORTION_PREFIX = "distortion/"

# --- composite anchor task ----------------------------------------------------------
TRAIN_ACC = "task/train_acc"
ID_ACC = "task/id_acc"
OOD_ACC = "task/ood_acc"
OOD_ACC_BEST = "task/ood_acc_best"
ID_ACC_BEST = "task/id_acc_best"
OOD_PAIR_ACC_PREFIX = "task/ood_acc/"
COMMUTATIVITY = "task/commutativity"
COMMUTATIVITY_WRONG = "task/commutativity_wrong"
SYMMETRIC_SHARE = "task/symmetric_share"

# --- complexity measures ------------------------------------------------------------
PARAM_NORM = "complexity/param_norm"
EFFECTIVE_NEURONS = "complexity/effective_neurons_l1_wq"

# --- run-level values logged once (as metrics, so analysis reads one namespace) ---------
NUM_PARAMS = "size/num_params"  # N
TOTAL_TOKENS = "size/num_tokens"  # D planned for the whole run
TOTAL_FLOPS = "size/compute_flops"  # C planned for the whole run
ENTROPY_FLOOR = "size/entropy_floor"  # true loss floor of the synthetic language (nats)
WORLD_SIZE = "dist/world_size"  # data-parallel workers of the trial
PARAM_SHARE = "dist/param_share"  # share of the parameter elements rank 0 holds (1/W under ZeRO-3, else 1)

# --- MLflow tags that identify a run (their rules live in configs/runs.py) -------------
TAG_SWEEP = "scalinglab.sweep"
TAG_TRIAL_ID = "scalinglab.trial_id"
TAG_CONFIG_HASH = "scalinglab.config_hash"
TAG_IDENTITY_VERSION = "scalinglab.identity_version"  # rule the config hash follows (configs/identity.py); absent = 1
TAG_MEASUREMENT_HASH = "scalinglab.measurement_hash"  # hash of the eval section (configs/identity.py); absent = logged before
TAG_KIND = "scalinglab.kind"  # "trial" or "analysis" (configs/runs.py)
TAG_OUTCOME = "scalinglab.outcome"  # why a run ended other than finished, e.g. "diverged"
TAG_RESUMED_FROM_STEP = "scalinglab.resumed_from_step"  # step the latest attempt resumed from
TAG_NODE_ID = "scalinglab.node_id"  # Ray node that ran the latest attempt
TAG_ANALYSIS = "scalinglab.analysis"  # which analysis an analysis run holds (phase, fit, ...)
TAG_ANALYSIS_DIGEST = "scalinglab.analysis_digest"  # hash of an analysis run's files, params and sources
TAG_PARENT_RUN_ID = "scalinglab.parent_run_id"  # a cool-down branch's parent trial run
TAG_COOLDOWN_OF_STEP = "scalinglab.cooldown_of_step"  # parent step a cool-down branch left from
TRIAL_CONFIG_ARTIFACT = "trial_config.json"


def distortion_key(domain: str) -> str:
    """Metric key of one component of the distortion vector (held-out CE of `domain`)."""
    return f"{DISTORTION_PREFIX}{domain}"


def ood_pair_key(first: int, second: int) -> str:
    """Metric key of the accuracy on one unseen anchor pair, e.g. ``task/ood_acc/3_4``."""
    return f"{OOD_PAIR_ACC_PREFIX}{first}_{second}"


def num_params(n_layer: int, d_model: int, d_ff: int) -> int:
    """Non-embedding parameter count N of the GPT in `trainers/model.py`.

    Per block: attention W_Q, W_K, W_V, W_O (4·d² weights + 4·d biases), MLP
    (2·d·d_ff weights + d_ff + d biases) and two LayerNorms (2 · 2·d). Plus the final
    LayerNorm (2·d). Embeddings and the output head are excluded (Kaplan et al. 2020).
    """
    attention = 4 * d_model * d_model + 4 * d_model
    mlp = 2 * d_model * d_ff + d_ff + d_model
    norms = 2 * 2 * d_model
    return n_layer * (attention + mlp + norms) + 2 * d_model


FLOPS_CONVENTIONS = ("scalinglab", "6nd")
"""Names of the compute conventions: ours (head + attention, the default) and papers' 6·N·D."""


def head_params(d_model: int, vocab_size: int) -> int:
    """Weights of the untied output head (d_model → vocab, no bias)."""
    return d_model * vocab_size


def flops_per_token(
    n_layer: int, d_model: int, d_ff: int, seq_len: int, vocab_size: int, head_positions: float = 1.0
) -> float:
    """Training FLOPs per token: 6·(N + head·head_positions) + 6·n_layer·seq_len·d_model.

    6 per weight: forward costs 2 FLOPs per weight per token (multiply + add), backward twice
    that. The head counts like any weight (Porian et al. 2024). Attention term: QKᵀ and AV
    each cost 2·seq_len·d_model FLOPs per token per layer forward; causal masking halves the
    average context, leaving 2·seq_len·d_model, and backward triples it.

    Args:
        head_positions: share of positions whose logits are computed. 1 for language
            modelling; 1/seq_len for a task scored at the last position only (the anchor
            task skips the head elsewhere, so those FLOPs are never spent).
    """
    weights = num_params(n_layer, d_model, d_ff) + head_params(d_model, vocab_size) * head_positions
    return 6 * weights + 6 * n_layer * seq_len * d_model


def compute_flops(
    n_layer: int, d_model: int, d_ff: int, seq_len: int, vocab_size: int, num_tokens: int,
    head_positions: float = 1.0,
) -> float:
    """Training compute C in FLOPs for `num_tokens` tokens (D); see `flops_per_token`."""
    return flops_per_token(n_layer, d_model, d_ff, seq_len, vocab_size, head_positions) * num_tokens


def flops_6nd(num_params: float, num_tokens: float) -> float:
    """The papers' convention C = 6·N·D (Kaplan et al. 2020), for comparisons only."""
    return 6.0 * num_params * num_tokens


# --- text task and per-domain floors (issue 8) ---------------------------------------
VAL_BPB = "val/bpb"  # weight-averaged bits per byte over the text domains
BPB_PREFIX = "bpb/"
FLOOR_PREFIX = "floor/"


def bpb_key(domain: str) -> str:
    """Metric key of a domain's held-out bits per byte.

    bpb = (summed nats over the domain's held-out target tokens) / (ln 2 · UTF-8 bytes those
    tokens cover): comparable across tokenizers, since the bytes are the same text's.
    """
    return f"{BPB_PREFIX}{domain}"


def floor_key(domain: str) -> str:
    """Metric key of a domain's true loss floor (nats/token), where it is known exactly.

    The synthetic Markov task logs each source's entropy rate; real text has no known floor.
    """
    return f"{FLOOR_PREFIX}{domain}"


# --- probes of the distortion vector (issue 10; configs/eval.py, trainers/probes/) ---------
PHI_WEIGHT = "stability/phi_weight"  # φ under Gaussian weight noise, in the trial's `eval.phi_form`
PHI_INPUT = "stability/phi_input"  # φ with a share p of input tokens replaced at random, same form
# The raw losses behind φ, so the analysis can compute either form by name (`phi_of`):
PROBE_LOSS = "stability/probe_loss"  # L: clean mean loss on the probe subset
WEIGHT_NOISE_LOSS = "stability/weight_noise_loss"  # L̃ under weight noise (mean over draws)
INPUT_NOISE_LOSS = "stability/input_noise_loss"  # L̃ under input-token noise (mean over draws)
TRAINING_KL_PREFIX = "stability/training_kl/"  # mean KL(p_prev ‖ p_now) between consecutive probes
RATEDIST_PREFIX = "ratedist/"
CALIBRATION_T_OPT_PREFIX = "calibration/t_opt/"
CALIBRATION_LOSS_AT_T_PREFIX = "calibration/loss_at_t/"
CALIBRATION_ECE_PREFIX = "calibration/ece/"


def ratedist_key(bits: int, domain: str) -> str:
    """Metric key of a domain's held-out loss with weights quantized to `bits` bits per row."""
    return f"{RATEDIST_PREFIX}{bits}/{domain}"


def calibration_t_opt_key(domain: str) -> str:
    """Metric key of the temperature T* minimizing a domain's held-out cross-entropy."""
    return f"{CALIBRATION_T_OPT_PREFIX}{domain}"


def calibration_loss_at_t_key(domain: str) -> str:
    """Metric key of a domain's held-out cross-entropy at T* (nats/token)."""
    return f"{CALIBRATION_LOSS_AT_T_PREFIX}{domain}"


def calibration_ece_key(domain: str) -> str:
    """Metric key of a domain's top-1 expected calibration error (at T = 1)."""
    return f"{CALIBRATION_ECE_PREFIX}{domain}"


def domains_of(keys: list[str], prefix: str) -> list[str]:
    """Domain names of the keys `<prefix><domain>` among `keys`, in first-seen order.

    The inverse of `distortion_key`, `floor_key`, `calibration_*_key`; for `ratedist/` the
    "domain" part is `<bits>/<domain>` (split it with `parse_ratedist_key`).
    """
    return list(dict.fromkeys(k[len(prefix):] for k in keys if k.startswith(prefix) and len(k) > len(prefix)))


def parse_ratedist_key(key: str) -> tuple[int, str] | None:
    """(bits, domain) of a `ratedist/<bits>/<domain>` key, else None."""
    if not key.startswith(RATEDIST_PREFIX):
        return None
    bits, _, domain = key[len(RATEDIST_PREFIX):].partition("/")
    return (int(bits), domain) if bits.isdigit() and domain else None


def training_kl_key(domain: str) -> str:
    """Metric key of a domain's training stability: mean KL between consecutive probes' predictions."""
    return f"{TRAINING_KL_PREFIX}{domain}"


# --- what a run's init and decay actually were (step 0 / every evaluation) ------------
# Logged so that comparisons can check which factors really differ between arms
# (docs/architecture.md "Fair comparisons"; analysis/checks.py).
INIT_PROBE_LOSS = "init/probe_loss"  # L₀: the untrained model's mean loss on the probe subset
INIT_VAL_LOSS = "init/val_loss"  # the untrained model's val/loss (full held-out sets)
INIT_DISTORTION_PREFIX = "init/distortion/"  # L₀ per domain on the full held-out set
INIT_SIGMA_PREFIX = "init/sigma/"  # measured std of each weight-matrix kind at step 0
INIT_GAMMA_EFF_PREFIX = "init/gamma_eff/"  # −ln σ / ln d_model of each kind
INIT_GAMMA_EFF = "init/gamma_eff"  # median γ_eff over the kinds: the run's effective init rate
DECAY_SHRINKAGE = "optim/decay_shrinkage"  # Π_t (1 − lr_t·λ) so far: what decay alone leaves of a weight


def init_distortion_key(domain: str) -> str:
    """Metric key of a domain's held-out loss of the untrained model (step 0)."""
    return f"{INIT_DISTORTION_PREFIX}{domain}"


def init_sigma_key(kind: str) -> str:
    """Metric key of the measured init std of one weight-matrix kind (e.g. `attn_qkv`)."""
    return f"{INIT_SIGMA_PREFIX}{kind}"


def init_gamma_eff_key(kind: str) -> str:
    """Metric key of −ln σ / ln d_model of one weight-matrix kind."""
    return f"{INIT_GAMMA_EFF_PREFIX}{kind}"


# --- the two forms of stability φ (docs/architecture.md "Stability φ"; `eval.phi_form`) -------------
PHI_FORMS = ("retained_gain", "relative")


def phi_of(clean: float, perturbed: float, reference: float | None, form: str = "retained_gain") -> float:
    """Stability φ from the clean loss L, the perturbed loss L̃ and the untrained reference L₀.

    * `retained_gain` (default): φ = 1 − (L̃ − L)/(L₀ − L) = (L₀ − L̃)/(L₀ − L), the share of
      what training gained over the untrained model that survives the perturbation. Rules:
      no gain yet (L₀ − L ≤ 0) gives φ = 0 (nothing gained, nothing retained); a perturbation
      that loses more than the whole gain gives 0, not a negative number (so the first
      steps, where L₀ − L is tiny, cannot dominate a mean); φ > 1 is kept (noise lowered the
      loss). An untrained model therefore has φ = 0, and φ can rise and fall with training.
    * `relative` (the earlier form, a named variant): φ = −(L̃ − L)/L. It is largest at
      initialization by construction (ΔL ≈ 0 for a near-uniform model) and divides by L,
      so it cannot test the stability hypothesis; kept for comparison only.

    Raises:
        ValueError: an unknown form, or `retained_gain` without a reference.
    """
    if form == "relative":
        return -(perturbed - clean) / max(clean, 1e-12)
    if form != "retained_gain":
        raise ValueError(f"phi form {form!r} is not one of {PHI_FORMS}")
    if reference is None:
        raise ValueError("the retained-gain φ needs the untrained reference loss L₀ (init/probe_loss)")
    gain = reference - clean
    if not gain > 0:
        return 0.0
    return max(0.0, (reference - perturbed) / gain)


# --- throughput and model FLOPs utilization (issue 20; trainers/throughput.py) ----------
# TOKENS_PER_S (top) is D so far over the wall time spent in optimizer steps so far
# (evaluation, probes and checkpoints excluded), over all workers of the trial.
FLOPS_PER_S = "throughput/flops_per_s"  # C per second: flops_per_token (the one C definition) · tokens/s
MFU = "throughput/mfu"  # FLOPS_PER_S / (peak FLOP/s of one GPU · workers); CUDA devices of known peak only
TIMING_METRICS = (TOKENS_PER_S, FLOPS_PER_S, MFU)
"""Keys that depend on wall-clock time: two runs of one trial differ in these alone."""
