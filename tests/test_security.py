"""No code path deserializes data with pickle (or its relatives) or evaluates it.

An AST scan of prodcat's own sources (`prodcat/`, `serving/`, `components/`): request and input
data must only ever be parsed as data (JSON, protobuf, CSV, Parquet, safe YAML). Nothing is
allow-listed; an exception would have to be added here with a comment saying why it is safe.
The loopback-by-default binding of `prodcat serve` is tested in tests/serving/test_server_flags.py
(test_the_server_binds_loopback_unless_told_otherwise).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("prodcat", "serving", "components")

# Modules whose only purpose is (de)serializing arbitrary Python objects: not imported at all.
PICKLE_LIKE = frozenset({"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "marshal", "shelve", "jsonpickle", "joblib"})
# Calls that run code or rebuild arbitrary objects from data (fully qualified after import aliases).
BANNED_CALLS = frozenset({
    "eval", "exec", "compile", "__import__", "builtins.eval", "builtins.exec", "builtins.compile",
    "yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load", "yaml.full_load_all",
    "pandas.read_pickle", "torch.load", "os.system", "os.popen", "code.interact", "runpy.run_path", "runpy.run_module",
})
SAFE_YAML_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _imports(tree: ast.AST) -> dict[str, str]:
    """Local name -> what it names ("np" -> "numpy", "loads" -> "pickle.loads")."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _qualified(node: ast.AST, names: dict[str, str]) -> str | None:
    dotted = _dotted(node)
    if dotted is None:
        return None
    head, _, rest = dotted.partition(".")
    head = names.get(head, head)
    return f"{head}.{rest}" if rest else head


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def unsafe_uses(source: str, filename: str = "<source>") -> list[str]:
    """`file:line: what` for every pickle-like import and every call that evaluates or unpickles data."""
    tree = ast.parse(source, filename)
    names = _imports(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in PICKLE_LIKE:
                    found.append(f"{filename}:{node.lineno}: imports {module}")
        if not isinstance(node, ast.Call):
            continue
        name = _qualified(node.func, names)
        if name is None:
            continue
        if name.split(".")[0] in PICKLE_LIKE:
            found.append(f"{filename}:{node.lineno}: calls {name}")
        elif name in BANNED_CALLS:
            found.append(f"{filename}:{node.lineno}: calls {name}")
        elif name in ("yaml.load", "yaml.load_all"):
            loader = _keyword(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
            loader_name = _qualified(loader, names) if loader is not None else None
            if loader_name is None or loader_name.rsplit(".", 1)[-1] not in SAFE_YAML_LOADERS:
                found.append(f"{filename}:{node.lineno}: calls {name} without a safe Loader")
        elif name in ("numpy.load", "tensorflow.experimental.numpy.load"):
            allow = _keyword(node, "allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                found.append(f"{filename}:{node.lineno}: calls {name} with allow_pickle")
        elif name.startswith("subprocess.") and isinstance(_keyword(node, "shell"), ast.Constant) and _keyword(node, "shell").value:
            found.append(f"{filename}:{node.lineno}: calls {name} with shell=True")
    return found


def _sources() -> list[Path]:
    files = sorted(path for top in SCANNED for path in (REPO / top).rglob("*.py"))
    assert len(files) > 20 and all((REPO / top / "__init__.py").exists() for top in SCANNED)
    return files


def test_the_checker_finds_what_it_looks_for() -> None:
    bad = """
import pickle as p
from marshal import loads
import yaml, numpy as np, subprocess
from yaml import load as yl
p.loads(data)
loads(data)
eval(text)
exec(text)
yaml.load(text)
yaml.load(text, Loader=yaml.Loader)
yl(text, yaml.FullLoader)
yaml.full_load(text)
np.load(path, allow_pickle=True)
subprocess.run(command, shell=True)
"""
    found = [line.split(": ", 1)[1] for line in unsafe_uses(bad)]
    assert found.count("imports pickle") == 1 and "imports marshal" in found
    assert {"calls pickle.loads", "calls marshal.loads", "calls eval", "calls exec", "calls yaml.full_load",
            "calls numpy.load with allow_pickle", "calls subprocess.run with shell=True"} <= set(found)
    assert found.count("calls yaml.load without a safe Loader") == 3
    safe = """
import ast, json, re, yaml, numpy as np
yaml.safe_load(text)
yaml.load(text, Loader=yaml.SafeLoader)
yaml.load(text, yaml.CSafeLoader)
json.loads(text)
ast.literal_eval(text)
re.compile(pattern)
np.load(path)
np.load(path, allow_pickle=False)
model.eval()
"""
    assert unsafe_uses(safe) == []


@pytest.mark.parametrize("top", SCANNED)
def test_no_pickle_or_eval_on_data(top: str) -> None:
    files = [path for path in _sources() if path.relative_to(REPO).parts[0] == top]
    assert files
    found = [use for path in files for use in unsafe_uses(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))]
    assert found == []
