"""Save and restore a trial's full state through DeepSpeed's own checkpointing.

DeepSpeed stores model and optimizer state; everything else the loop needs to continue
exactly where it stopped (step, running loss sums, best-so-far metrics, RNG states and the
MLflow run id) travels in `client_state`.

Loads are `torch.load(weights_only=True)`: unpickling a checkpoint cannot run code. DeepSpeed
0.19.8's `TorchCheckpointEngine.load` hard-codes `weights_only=False`, and every file
`engine.load_checkpoint` reads (model states, ZeRO optimizer states) goes through
`engine.checkpoint_engine.load`; `load_checkpoint` replaces that one method. The only
non-tensor types DeepSpeed pickles are allowlisted by name (`DEEPSPEED_STATE_TYPES`), and
our own client state is plain: the numpy RNG state is saved with a list of ints, not an
ndarray.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEEPSPEED_STATE_TYPES = (
    "deepspeed.runtime.fp16.loss_scaler.LossScaler",  # ZeRO 1–3 optimizer states, fp32 and bf16
    "deepspeed.runtime.zero.config.ZeroStageEnum",  # ZeRO 1–3 optimizer states
    "deepspeed.utils.tensor_fragment.fragment_address",  # ZeRO 1–2 `param_slice_mappings`
)
"""Classes DeepSpeed 0.19.8 pickles into its checkpoint files (found with
`torch.serialization.get_unsafe_globals_in_checkpoint` on ZeRO 0–3, fp32 and bf16)."""


@dataclass
class TrainState:
    """Mutable loop state that must survive a restart."""

    step: int = 0  # optimizer steps completed
    loss_sum: float = 0.0  # train loss summed since the last evaluation
    loss_count: int = 0
    best: dict[str, float] = field(default_factory=dict)  # best-over-training metrics
    run_id: str | None = None  # MLflow run to continue logging into
    train_seconds: float = 0.0  # wall time spent in optimizer steps (excludes eval)
    reference: dict[str, float] = field(default_factory=dict)  # the untrained model's losses (trainers.probes.reference)


def save_checkpoint(engine: Any, directory: Path, state: TrainState) -> Path:
    """Write a checkpoint of `engine` and `state` into `directory` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    client_state = {
        "train_state": asdict(state),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": numpy_rng_state(),  # legacy global RNG, for third parties
    }
    engine.save_checkpoint(str(directory), tag=f"step{state.step}", client_state=client_state)
    return directory


def load_checkpoint(engine: Any, directory: Path) -> TrainState:
    """Restore `engine` in place from the latest checkpoint in `directory`; return the state.

    Raises:
        FileNotFoundError: `directory` holds no DeepSpeed checkpoint.
        pickle.UnpicklingError: a checkpoint file holds anything but tensors, plain Python
            values and `DEEPSPEED_STATE_TYPES` (torch's weights-only unpickler refused it).
    """
    _load_weights_only(engine)
    path, client_state = engine.load_checkpoint(str(directory))
    if path is None:
        raise FileNotFoundError(f"no DeepSpeed checkpoint under {directory} (missing 'latest' file?)")
    torch.set_rng_state(client_state["torch_rng"])
    np.random.set_state(client_state["numpy_rng"])
    return TrainState(**client_state["train_state"])


def numpy_rng_state() -> dict[str, Any]:
    """numpy's global MT19937 state in plain values (`np.random.set_state` takes it as is)."""
    saved = np.random.get_state(legacy=False)
    plain = {"key": [int(k) for k in saved["state"]["key"]], "pos": int(saved["state"]["pos"])}
    return {"bit_generator": str(saved["bit_generator"]), "state": plain,
            "has_gauss": int(saved["has_gauss"]), "gauss": float(saved["gauss"])}


def load_file(path: str, map_location: Any = None) -> Any:
    """`torch.load` with `weights_only=True`, allowing only `DEEPSPEED_STATE_TYPES` beyond its defaults."""
    with torch.serialization.safe_globals(_state_types()):
        return torch.load(path, map_location=map_location, weights_only=True)


def _load_weights_only(engine: Any) -> None:
    """Route every checkpoint file `engine.load_checkpoint` reads through `load_file`."""
    from deepspeed.runtime.checkpoint_engine import TorchCheckpointEngine

    checkpoint_engine = engine.checkpoint_engine
    if type(checkpoint_engine) is not TorchCheckpointEngine:  # the only one our DeepSpeed configs select
        raise TypeError(f"weights-only loading is wired for DeepSpeed's TorchCheckpointEngine, "
                        f"not {type(checkpoint_engine).__name__}; extend trainers/checkpoint.py for it")
    checkpoint_engine.load = load_file  # an instance attribute shadows the weights_only=False method


def _state_types() -> list[Any]:
    import importlib

    found = []
    for name in (*DEEPSPEED_STATE_TYPES, *_LEGACY_NUMPY_RNG_TYPES):
        module, _, attribute = name.rpartition(".")
        found.append(getattr(importlib.import_module(module), attribute))
    return found


# Checkpoints written before the numpy RNG state was saved as plain values hold it as a
# uint32 ndarray; these four rebuild exactly that (no code runs: `_reconstruct` only
# allocates an array of an allowlisted dtype class).
_LEGACY_NUMPY_RNG_TYPES = (
    "numpy._core.multiarray._reconstruct",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.dtypes.UInt32DType",
)
