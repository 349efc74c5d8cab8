"""Package layout (the metadata and dependencies are in pyproject.toml).

The model files stay at the top of the repository, in ``models/``, and are shipped as
the package ``lifbridge.models`` (read with ``importlib.resources``), subdirectories
included; the report's templates ship with ``lifbridge.validation``. The package list
is found here rather than written out in pyproject.toml because a static list there
cannot both find lifbridge's subpackages and map ``models/`` into the package.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def model_packages():
    """``lifbridge.models`` and one package per subdirectory of ``models/`` (e.g. ``models/synapses``)."""
    mapping = {"lifbridge.models": "models"}
    for path in sorted((HERE / "models").rglob("*")):
        if path.is_dir() and path.name != "__pycache__" and any(path.rglob("*.toml")):
            rel = path.relative_to(HERE)
            mapping["lifbridge." + ".".join(rel.parts)] = rel.as_posix()
    return mapping


def template_packages():
    """Directories of non-Python files inside lifbridge (report templates) as data packages."""
    found = []
    for path in sorted((HERE / "lifbridge").rglob("templates")):
        if path.is_dir():
            found.append(".".join(path.relative_to(HERE).parts))
    return found


MODELS = model_packages()

setup(
    packages=find_packages(include=["lifbridge", "lifbridge.*"]) + template_packages() + list(MODELS),
    package_dir=MODELS,
    package_data={**{name: ["*.toml"] for name in MODELS},
                  **{name: ["*.j2", "*.html", "*.css"] for name in template_packages()}},
)
