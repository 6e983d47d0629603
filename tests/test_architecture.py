"""The layering of the package: the library never imports the book's layer, and every public name resolves."""

import ast
import importlib
import pkgutil
from pathlib import Path

import sparselab

PACKAGE = Path(sparselab.__file__).parent
FACES = {"cli.py", "__main__.py"}  # the command line is a face on top of both layers


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_library_module_imports_the_chapters():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "chapters" or rel.name in FACES:
            continue
        bad = sorted(n for n in _imports(path) if n == "sparselab.chapters" or n.startswith("sparselab.chapters."))
        if bad:
            offenders.append(f"{rel}: {bad}")
    assert not offenders, offenders


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sparselab"):
                offenders += [
                    f"{path.relative_to(PACKAGE)}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and a.name != "__version__"
                ]
    assert not offenders, offenders


def test_every_name_in_every_all_resolves():
    for info in pkgutil.walk_packages(sparselab.__path__, "sparselab."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{info.name}.{name}"
    for name in sparselab.__all__:
        assert getattr(sparselab, name) is not None, name


def test_public_names_other_code_relies_on():
    from sparselab import factorization, masks, pruning, recovery, sensing, thresholding
    from sparselab.factorization import butterfly

    assert sparselab.SparseLinear is sparselab.nn.SparseLinear and sparselab.SparseMLP is sparselab.nn.SparseMLP
    assert callable(pruning.magnitude_mask) and callable(recovery.iht) and callable(recovery.planted_network)
    assert sensing.iht is not recovery.iht and callable(sensing.ista) and callable(sensing.fista)
    assert butterfly.butterfly_factorize is factorization.butterfly_factorize
    assert masks.topk_mask and thresholding.soft_threshold


def test_library_modules_stay_small():
    big = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).parts[0] != "chapters" and (n := len(p.read_text().splitlines())) > 650
    }
    assert not big, big
