"""hiddennet: find hidden exploitation networks in police records, score their harm, say whom to
disrupt first, and make sure every child found is safeguarded, not targeted.

The public API is small: load settings, run the pipeline, generate a synthetic force.
"""

__version__ = "0.1.0"

from hiddennet.errors import HiddennetError, InputContractError, SettingsError  # noqa: E402
from hiddennet.settings import Settings, load_settings  # noqa: E402

__all__ = [
    "HiddennetError", "InputContractError", "Settings", "SettingsError", "__version__", "load_settings", "run_pipeline",
]


def run_pipeline(*args, **kwargs):
    """Run the whole pipeline (see `hiddennet.pipeline.run_pipeline`)."""
    from hiddennet.pipeline import run_pipeline as _run

    return _run(*args, **kwargs)
