"""The package's shape, read from its source with `ast`: layers, sizes, settings read at call time, imports at the top.

Every rule names the file and line that breaks it. The rules are those of
CONTRIBUTING.md ("Layers", "How the code is written").
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ccdseg"
SCRIPTS = ("image_details", "image_simulation", "load_dataset", "mask", "augmentation", "models", "train", "load_model")
ENTRY_POINTS = (*SCRIPTS, "benchmark")
LIGHT_SCRIPTS = ("mask", "load_dataset", "image_details", "image_simulation")  # must not load TensorFlow

# the subpackages each layer may import, besides itself; `evaluate` may import every other one
LAYERS = {
    "core": set(),
    "measure": {"core"},
    "simulate": {"core", "measure"},
    "io": {"core"},
    "plots": {"core"},
    "model": {"core", "measure", "simulate", "io", "plots"},
    "infer": {"core", "measure", "io", "plots", "model"},
    "evaluate": {"core", "measure", "simulate", "io", "plots", "model", "infer"},
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_SCRIPT_LINES = 300

# UPPER_CASE names a module may import from another by name: conventions shared by all, never a setting to edit
SHARED_CONSTANTS = {
    "ccdseg.core.classes": None,  # every name: the class conventions (ids, names, colours, priority)
    "ccdseg.core.physics": None,  # every name: physical constants of silicon
    "ccdseg.core.checks": {"MIN_FRAME_PX"},
    "ccdseg.io.catalogue": {"COLUMNS", "COLUMN_NAMES"},  # the catalogue's schema
    "ccdseg.model.normalisation": {"NORMALISATION", "MATCHED_NORMALISATION", "ADU_NORMALISATION", "ROW_NORMALISATION",
                                   "MATCHED_ROW_NORMALISATION"},  # named inputs
    "ccdseg.simulate.detector": {"DAMIC_M", "PRESETS"},  # named detectors, as the named normalisations
}
CHOICES = {"PRECISIONS", "RUNTIMES", "LAYOUTS", "WEIGHTINGS", "BORDERS", "FITS_SUFFIXES", "REGIMES"}  # option choices
# (importing module, name): settings still copied at import, in files another piece of work is changing now;
# they are to be read at call time (`module.NAME`) or passed as arguments there
KNOWN_SETTING_IMPORTS = {
    ("ccdseg.model.normalisation", "SIGMAS_PX"),  # MATCHED_NORMALISATION records the matched filter's kernels
    ("ccdseg.measure.background", "RESOLVED_NOISE_PER_GAIN"),
    ("ccdseg.simulate.components", "REFERENCE_AREA_PX"),
    ("ccdseg.simulate.skipper", "REFERENCE_COLUMNS"),
    ("ccdseg.simulate.skipper", "REFERENCE_ROWS"),
}

# third-party libraries slow to import, which may be imported inside the function that needs them
HEAVY_LIBRARIES = {"keras", "tensorflow", "openvino", "dask", "distributed", "uproot", "photutils", "matplotlib",
                   "astropy", "albumentations", "sklearn"}  # distributed: Dask's, also imported as dask.distributed
# (module, project module) imported inside a function, and why
INNER_PROJECT_IMPORTS = {
    # registers the custom loss with Keras, so it loads Keras (5 s): only where a model is loaded
    ("ccdseg.infer.segmenter", "ccdseg.model.loss"),
    # the background of a skipper frame comes from its fit, whose modules import background: in files another
    # piece of work is changing now
    ("ccdseg.measure.background", "ccdseg.measure.calibration"),
    ("ccdseg.measure.background", "ccdseg.measure.defects"),
    ("ccdseg.measure.background", "ccdseg.measure.frame_fit"),
}


# %% Reading the source
def module_name(path: Path) -> str:
    """'ccdseg.infer.tiling' for ccdseg/infer/tiling.py, 'ccdseg.infer' for its __init__.py, 'mask' for mask.py."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def script_paths() -> list[Path]:
    return [ROOT / f"{name}.py" for name in ENTRY_POINTS]


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def imported_modules(node: ast.Import | ast.ImportFrom, path: Path) -> list[str]:
    """The modules an import of `path` names: 'a.b' for `import a.b`, 'a.b' and 'a.b.c' for `from a.b import c`."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolved against the package holding `path`
        package = module_name(path).split(".")
        package = package if path.stem == "__init__" else package[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def imports_in_functions(tree: ast.AST, function: str | None = None) -> list[tuple[str, ast.Import | ast.ImportFrom]]:
    """(innermost function's name, import statement) for every import inside a function."""
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += imports_in_functions(node, node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and function is not None:
            found.append((function, node))
        else:
            found += imports_in_functions(node, function)
    return found


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


# %% Layers
def test_each_layer_imports_only_the_layers_below_it():
    broken = []
    for path in package_modules():
        name = module_name(path)
        parts = name.split(".")
        layer = parts[1] if len(parts) > 1 else None
        for node in ast.walk(parse(path)):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            reached = set()
            for imported in imported_modules(node, path):
                top, *rest = imported.split(".")
                if top in ENTRY_POINTS:
                    reached.add(f"the script {top}.py")
                elif top == "ccdseg" and rest and rest[0] in LAYERS and layer in LAYERS:
                    if rest[0] != layer and rest[0] not in LAYERS[layer]:
                        reached.add(f"the layer {rest[0]}")
            broken += [f"{where(path, node)}: `{ast.unparse(node)}`: {layer or name} imports {what}" for what in reached]
    assert broken == [], "\n".join(broken)


def test_the_layer_rules_name_every_subpackage():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages == set(LAYERS)


# %% Sizes
def test_no_package_module_passes_400_lines_and_no_script_300():
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in package_modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    long += [f"{p.name}: {n} lines" for p in script_paths()
             if p.stem != "benchmark" and (n := len(p.read_text().splitlines())) > MAX_SCRIPT_LINES]
    assert long == [], "\n".join(long)


def test_no_function_passes_60_lines():
    long = []
    for path in package_modules() + script_paths():
        for node in ast.walk(parse(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{where(path, node)}: {node.name} has {lines} lines")
    assert long == [], "\n".join(long)


# %% Settings read at call time
def test_no_module_copies_another_modules_setting_at_import():
    copied = []
    for path in package_modules():
        importer = module_name(path)
        for node in ast.walk(parse(path)):
            if not isinstance(node, ast.ImportFrom) or node.level or not (node.module or "").startswith("ccdseg"):
                continue
            for alias in node.names:
                name = alias.name
                shared = SHARED_CONSTANTS.get(node.module, set())
                if not name.isupper() or shared is None or name in shared or name in CHOICES:
                    continue
                if (importer, name) not in KNOWN_SETTING_IMPORTS:
                    copied.append(f"{where(path, node)}: from {node.module} import {name} (read {node.module}.{name}"
                                  " when it is needed, or pass it as an argument)")
    assert copied == [], "\n".join(copied)


# %% Imports at the top
def test_imports_inside_functions_are_only_of_heavy_libraries():
    hidden = []
    for path in package_modules() + script_paths():
        importer = module_name(path)
        for function, node in imports_in_functions(parse(path)):
            modules = imported_modules(node, path)
            if modules[0].split(".")[0] in HEAVY_LIBRARIES or (importer, modules[0]) in INNER_PROJECT_IMPORTS:
                continue
            hidden.append(f"{where(path, node)}: `{ast.unparse(node)}` inside {function}: import it at the top")
    assert hidden == [], "\n".join(hidden)


@pytest.mark.parametrize("script", LIGHT_SCRIPTS)
def test_light_scripts_load_neither_tensorflow_nor_keras(script):
    code = (f"import sys\nimport {script}\n"
            "print(' '.join(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "", f"importing {script} loads {result.stdout.strip()}"
