"""The bundled model files, one TOML file per model (shipped as the package ``lifbridge.models``).

This file only makes the directory a package, so that ``importlib.resources`` finds the
model files in an installed lifbridge; see ``lifbridge.spec.models_dir``.
"""
