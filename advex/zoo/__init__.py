"""The model zoo: the read-only catalogue (``advex.zoo.catalogue``) and the build pipeline (``advex.zoo.build``)."""

from advex.zoo.catalogue import (
    SAMPLE_FILE,
    SAMPLE_SIZE,
    ZOO_MODELS,
    cards_in,
    list_models,
    load_sample,
    load_zoo_model,
    resolve_model,
    select_sample,
    user_models_dir,
    zoo_dir,
)

__all__ = [
    "SAMPLE_FILE", "SAMPLE_SIZE", "ZOO_MODELS", "cards_in", "list_models", "load_sample", "load_zoo_model",
    "resolve_model", "select_sample", "user_models_dir", "zoo_dir",
]
