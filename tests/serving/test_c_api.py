"""The pushed model outside Python: TF Serving runs SavedModels through TensorFlow's C++ runtime
with tensorflow-text's ops linked in. A small C program (c_api/load_saved_model.c), built with the
system compiler against the C API the TensorFlow wheel ships, loads the pushed version, runs
`serving_default` on serialized tf.Examples of real products, and must answer as `prodcat predict`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from prodcat import features as F
from prodcat.contract.examples import products_to_serialized
from prodcat.contract.signatures import EXAMPLES_SIGNATURE, predictions_from_outputs
from prodcat.readers import read_products
from prodcat.serving.predict import Predictor, resolve_model_dir
from prodcat.serving.server.servable import read_signature_defs

C_SOURCE = Path(__file__).parent / "c_api" / "load_saved_model.c"
REPO = Path(__file__).resolve().parents[2]
TF_DIR = Path(tf.__file__).parent
N_PRODUCTS = 40


def c_compiler() -> str | None:
    """The system C compiler; when missing, the repo's system-package script (run as root by `make
    test` and CI) is tried once, so a skip means it really could not be installed."""
    found = shutil.which("cc") or shutil.which("gcc")
    if found:
        return found
    subprocess.run(["bash", str(REPO / "scripts" / "system-packages.sh")], check=False)
    return shutil.which("cc") or shutil.which("gcc")


def text_op_libraries() -> list[Path]:
    """tensorflow-text's kernels, the ones TF Serving links in; the model's tokenizer needs them."""
    import tensorflow_text

    libraries = sorted((Path(tensorflow_text.__file__).parent / "python" / "ops").glob("_*.so"))
    assert libraries, "tensorflow-text ships no op libraries?"
    return libraries


def build_program(compiler: str, out_dir: Path) -> Path:
    """Compiles the C program against the wheel's headers, libtensorflow_cc and libtensorflow_framework."""
    binary = out_dir / "load_saved_model"
    done = subprocess.run(
        [compiler, "-O1", "-Wall", "-Werror", f"-I{TF_DIR / 'include'}", "-o", str(binary), str(C_SOURCE),
         str(TF_DIR / "libtensorflow_cc.so.2"), str(TF_DIR / "libtensorflow_framework.so.2"),
         f"-Wl,-rpath,{TF_DIR}"],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, f"{compiler} could not build {C_SOURCE.name}:\n{done.stderr[-4000:]}"
    return binary


def parse_outputs(stdout: str, names: list[str], dtypes: list[int]) -> dict[str, np.ndarray]:
    """The program's `shape`/`value` lines as numpy arrays, keyed by the signature's output names."""
    shapes: dict[int, tuple[int, ...]] = {}
    values: dict[int, list[object]] = {k: [] for k in range(len(names))}
    for line in stdout.splitlines():
        kind, k, *rest = line.split(" ")
        if kind == "shape":
            shapes[int(k)] = tuple(int(d) for d in rest)
        elif kind == "value":
            index, value = int(rest[0]), rest[1] if len(rest) > 1 else ""
            assert index == len(values[int(k)])
            dtype = tf.dtypes.as_dtype(dtypes[int(k)])
            values[int(k)].append(bytes.fromhex(value) if dtype == tf.string
                                  else float(value) if dtype.is_floating else int(value))
    return {name: np.array(values[k], dtype=object if tf.dtypes.as_dtype(dtypes[k]) == tf.string else None
                           ).reshape(shapes[k]) for k, name in enumerate(names)}


def run_in_c(binary: Path, version: Path, serialized: list[bytes], work: Path) -> dict[str, np.ndarray]:
    """`serving_default` of the version, run by the C program; tensor names come from its signature_def."""
    signature = read_signature_defs(version)[EXAMPLES_SIGNATURE]
    (input_info,) = signature.inputs.values()
    names = sorted(signature.outputs)
    examples = work / "examples.hex"
    examples.write_text("".join(s.hex() + "\n" for s in serialized), encoding="ascii")
    libraries = [arg for lib in text_op_libraries() for arg in ("-l", str(lib))]
    done = subprocess.run(
        [str(binary), *libraries, str(version), str(examples), input_info.name,
         *(signature.outputs[n].name for n in names)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"the C program failed ({done.returncode}):\n{done.stderr[-4000:]}"
    return parse_outputs(done.stdout, names, [signature.outputs[n].dtype for n in names])


@pytest.fixture(scope="module")
def c_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = c_compiler()
    if compiler is None:
        pytest.skip("no C compiler (cc/gcc) and scripts/system-packages.sh could not install gcc "
                    "(it needs root or password-less sudo and apt-get)")
    return build_program(compiler, tmp_path_factory.mktemp("c_api"))


@pytest.mark.e2e
def test_the_pushed_model_answers_through_the_c_api_as_prodcat_predict(demo_run, c_program, tmp_path: Path) -> None:
    version = resolve_model_dir(demo_run.serving_base)
    products = read_products(demo_run.products_path)[:N_PRODUCTS]
    assert len(products) == N_PRODUCTS
    serialized = products_to_serialized(products)

    from_c = run_in_c(c_program, version, serialized, tmp_path)
    assert from_c[F.OUT_DEPTH].shape == (N_PRODUCTS,), "the C program did not answer every product"

    # The same signature in Python: every output, the confidences to float round-off.
    python = {k: v.numpy() for k, v in tf.saved_model.load(str(version)).signatures[EXAMPLES_SIGNATURE](
        examples=tf.constant(serialized)).items()}
    assert set(from_c) == set(python)
    for key, expected in python.items():
        if expected.dtype.kind == "f":
            np.testing.assert_allclose(from_c[key].astype(expected.dtype), expected, atol=1e-5, err_msg=key)
        else:
            assert from_c[key].shape == expected.shape and (from_c[key] == expected).all(), key

    # What `prodcat predict` answers for the same products (its Predictor, the raw signature).
    expected_predictions = Predictor(version).predict(products)
    got = predictions_from_outputs([p.id for p in products], from_c)
    assert len(got) == len(expected_predictions) == N_PRODUCTS
    assert sum(p.depth for p in got) > 0, "no product got a category: nothing was compared"
    for mine, theirs in zip(got, expected_predictions):
        assert (mine.id, mine.category_path, mine.category_id, mine.depth) == \
            (theirs.id, theirs.category_path, theirs.category_id, theirs.depth)
        assert [level.id for level in mine.levels] == [level.id for level in theirs.levels]
        np.testing.assert_allclose([level.confidence for level in mine.levels],
                                   [level.confidence for level in theirs.levels], atol=1e-5, err_msg=mine.id)
