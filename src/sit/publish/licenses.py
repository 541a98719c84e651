"""The licences of the registered models, and what they oblige a publisher of derived data and models to do.

The Llama obligations are those of Section 1.b of the Llama 3.1 and 3.2 Community License Agreements:
1.b.i (a copy of the agreement, "Built with Llama", "Llama" at the beginning of a derived AI model's name,
including one trained on Llama outputs) and 1.b.iii (the attribution notice in a "Notice" file).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class License:
    hub_id: str  # the Hub's licence identifier (model/dataset card metadata)
    name: str
    url: str
    license_name: str | None = None  # with hub_id "other": the Hub's short name for it
    notice: str | None = None  # attribution text that must ship in a "NOTICE" file with copies
    built_with: str | None = None  # what must be displayed prominently
    model_name_prefix: str | None = None  # derived AI models must start their name with this
    use_policy: str | None = None


def _llama(version: str) -> License:
    return License(
        hub_id=f"llama{version}", name=f"Llama {version} Community License",
        url=f"https://www.llama.com/llama{version.replace('.', '_')}/license/",
        notice=(f"Llama {version} is licensed under the Llama {version} Community License, Copyright © Meta "
                "Platforms, Inc. All Rights Reserved."),
        built_with="Built with Llama", model_name_prefix="Llama",
        use_policy=f"https://www.llama.com/llama{version.replace('.', '_')}/use-policy/")


LICENSES = {
    "meta-llama/Llama-3.1-8B-Instruct": _llama("3.1"),
    "meta-llama/Llama-3.2-3B": _llama("3.2"),
    "mistralai/Mistral-7B-v0.1": License("apache-2.0", "Apache License 2.0",
                                         "https://www.apache.org/licenses/LICENSE-2.0"),
    "Qwen/Qwen2.5-3B": License("other", "Qwen Research License", "https://huggingface.co/Qwen/Qwen2.5-3B/blob/main/LICENSE",
                               license_name="qwen-research"),
    "Qwen/Qwen2.5-7B-Instruct": License("apache-2.0", "Apache License 2.0",
                                        "https://www.apache.org/licenses/LICENSE-2.0"),
    "HuggingFaceTB/SmolLM2-135M-Instruct": License("apache-2.0", "Apache License 2.0",
                                                   "https://www.apache.org/licenses/LICENSE-2.0"),
    "OpenAssistant/reward-model-deberta-v3-large-v2": License("mit", "MIT License",
                                                              "https://opensource.org/license/mit"),
}

# The obligations, in the words of Section 1.b of the Llama 3.1 Community License Agreement.
LLAMA_TERMS = (
    "“If you distribute or make available the Llama Materials (or any derivative works thereof), or a product "
    "or service (including another AI model) that contains any of them, you shall (A) provide a copy of this "
    "Agreement with any such Llama Materials; and (B) prominently display “Built with Llama” on a related "
    "website, user interface, blogpost, about page, or product documentation. If you use the Llama Materials "
    "or any outputs or results of the Llama Materials to create, train, fine tune, or otherwise improve an AI "
    "model, which is distributed or made available, you shall also include “Llama” at the beginning of any "
    "such AI model name.” (Section 1.b.i)"
)


def license_of(model_id: str) -> License:
    """The licence of a registered model; an unknown one is ``other`` and points at its hub page."""
    return LICENSES.get(model_id) or License("other", f"the licence of {model_id}",
                                             f"https://huggingface.co/{model_id}", license_name="see-base-model")


def obligations(model_ids) -> list[License]:
    """The distinct licences among ``model_ids`` that carry attribution or naming obligations."""
    seen, out = set(), []
    for model_id in model_ids:
        lic = license_of(model_id)
        if (lic.notice or lic.model_name_prefix) and lic.hub_id not in seen:
            seen.add(lic.hub_id)
            out.append(lic)
    return out


def notice_text(model_ids) -> str:
    """The NOTICE file shipped in every published folder (empty when no licence asks for one)."""
    lines = [lic.notice for lic in obligations(model_ids) if lic.notice]
    return "\n".join(lines) + ("\n" if lines else "")


def model_name(template: str, base_id: str, stage: str, data_sources) -> str:
    """The published model's name from the ``publish.model_name`` template, with the prefix a licence of the
    base model or of the data's generator demands (e.g. "Llama" for a model trained on Llama 3.1 outputs)."""
    name = template.format(base=base_id.split("/")[-1], stage=stage.upper())
    for lic in obligations([base_id, *data_sources]):
        prefix = lic.model_name_prefix
        if prefix and not name.lower().startswith(prefix.lower()):
            name = f"{prefix}-{name}"
    return name


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` value for ``n`` records."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    return next((label for bound, label in bounds if n < bound), "1M<n<10M")
