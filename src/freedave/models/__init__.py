"""Model adapters, loading and the bundled reference architecture. Only this package imports
transformers."""

from __future__ import annotations


def register_auto_classes() -> None:
    """Register the reference architecture with AutoConfig/AutoModel (no remote code needed)."""
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM

    from freedave.models.reference import ReferenceConfig, ReferenceModel

    try:
        AutoConfig.register(ReferenceConfig.model_type, ReferenceConfig)
        AutoModel.register(ReferenceConfig, ReferenceModel)
        AutoModelForMaskedLM.register(ReferenceConfig, ReferenceModel)
    except ValueError:  # already registered
        pass
