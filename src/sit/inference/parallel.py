"""How many GPUs each copy of a model gets when generation runs on vLLM (and lm-eval on its vLLM backend).

Tensor parallelism splits every layer of one model across devices: it is needed when the weights do
not leave room for a KV cache on one device, and costs communication in every layer. Data parallelism
runs independent replicas, each on a share of the prompts, with no communication. So the rule is the
smallest tensor-parallel degree that fits, and every remaining device a replica. (vLLM runs
data-parallel ranks as separate engines. lm-eval starts them itself from ``data_parallel_size``.)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ConfigError

WEIGHTS_SHARE = 0.5  # at most half a device for the weight shard; the rest is KV cache and activations


@dataclass(frozen=True)
class Parallelism:
    tensor_parallel_size: int
    data_parallel_size: int

    @property
    def gpus(self) -> int:
        return self.tensor_parallel_size * self.data_parallel_size


def vllm_parallelism(weight_bytes: int, device_bytes: int, num_gpus: int, *, heads: int, kv_heads: int,
                     weights_share: float = WEIGHTS_SHARE) -> Parallelism:
    """The smallest power-of-two tensor-parallel degree that divides the attention heads and leaves
    the weight shard within ``weights_share`` of a device; the other devices become replicas."""
    if num_gpus < 1:
        raise ConfigError(f"num_gpus must be at least 1, got {num_gpus}")
    tp = 1
    while tp <= num_gpus:
        # vLLM splits query heads evenly and key/value heads evenly (or replicates them past kv_heads)
        splits = heads % tp == 0 and (kv_heads % tp == 0 or tp % kv_heads == 0)
        if splits and weight_bytes / tp <= weights_share * device_bytes:
            return Parallelism(tp, num_gpus // tp)
        tp *= 2
    raise ConfigError(f"{weight_bytes / 1e9:.1f} GB of weights do not fit {num_gpus} device(s) of "
                      f"{device_bytes / 1e9:.0f} GB with room for a KV cache")


def vllm_engine_kwargs(parallel: Parallelism) -> dict:
    """Keyword arguments for ``vllm.LLM`` (both are vLLM ``EngineArgs`` fields)."""
    kwargs = {"tensor_parallel_size": parallel.tensor_parallel_size}
    if parallel.data_parallel_size > 1:
        kwargs["data_parallel_size"] = parallel.data_parallel_size
    return kwargs


def lm_eval_model_args(pretrained: str, parallel: Parallelism, *, dtype: str = "bfloat16",
                       lora_local_path: str | None = None, max_model_len: int | None = None) -> str:
    """The ``model_args`` string of lm-eval's ``vllm`` model (``lm_eval --model vllm --model_args …``)."""
    args = {"pretrained": pretrained, "tensor_parallel_size": parallel.tensor_parallel_size,
            "data_parallel_size": parallel.data_parallel_size, "dtype": dtype}
    if lora_local_path:
        args.update(enable_lora=True, lora_local_path=lora_local_path)
    if max_model_len:
        args["max_model_len"] = max_model_len
    return ",".join(f"{key}={value}" for key, value in args.items())
