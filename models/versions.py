"""Library versions a model was trained with, and the check the service runs when it loads one.

Training logs `library_versions()` as tags of every MLflow run; serving compares those tags with
what is installed (`version_mismatches`) so a model trained under another numpy, scikit-learn or
onnxruntime is reported at start-up (logged, and shown by `/v1/versions`) instead of failing
silently later.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib import metadata

LIBRARIES = (
    "returns-triage",
    "numpy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "torch",
    "transformers",
    "onnxruntime",
    "mlflow",
)
"""Distributions whose versions are logged with each model (plus the Python version)."""

ABSENT = "absent"


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Installed versions of `names` and Python (`absent` for one not installed)."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = ABSENT
    return versions


def version_mismatches(
    trained: Mapping[str, str], installed: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """Libraries whose installed version differs from the one the model was trained with.

    Only libraries named in `trained` are compared (older runs may log fewer); the Python
    version and this project's own version are compared on major.minor only, since a patch
    release never changes a model's behaviour.
    """
    current = dict(installed) if installed is not None else library_versions()
    mismatches: dict[str, dict[str, str]] = {}
    for name in ("python", *LIBRARIES):
        if name not in trained:
            continue
        was, now = str(trained[name]), current.get(name, ABSENT)
        if name in ("python", "returns-triage"):
            was, now = _major_minor(was), _major_minor(now)
        if was != now:
            installed_version = current.get(name, ABSENT)
            mismatches[name] = {"trained": str(trained[name]), "installed": installed_version}
    return mismatches


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])
