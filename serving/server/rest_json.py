"""TF Serving's REST JSON: a predict body ("instances" rows or "inputs" columns) to numpy, and outputs back.

Binary strings travel as `{"b64": ...}`; outputs whose names end in `_bytes` are always sent that
way, other strings as UTF-8 text when they decode.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from prodcat import features as F
from prodcat.contract.signatures import RAW_SIGNATURE, default_raw_input_names
from prodcat.serving.server.errors import invalid
from prodcat.serving.server.options import MAX_TENSOR_ELEMENTS
from prodcat.serving.server.servable import DEFAULT_SIGNATURE, Signature, check_names, check_rows

if TYPE_CHECKING:
    from prodcat.serving.server.model_server import ModelServer

_JSON_MAX_DEPTH = 16
PRODUCT_INPUTS = frozenset(default_raw_input_names())


def rest_predict(server: ModelServer, name: str, version: int | None, label: str | None, body: bytes) -> dict:
    """`POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict`: the response body as TF Serving writes it."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise invalid(f"JSON Parse error: {err}") from None
    if not isinstance(payload, dict):
        raise invalid("JSON Value: the request body must be an object")
    servable = server.resolve(name, version, label)
    signature_name = payload.get("signature_name") or _signature_for(payload.get("instances"))
    if not isinstance(signature_name, str):
        raise invalid("'signature_name' must be a string")
    signature = servable.signature(signature_name)
    has_instances, has_inputs = "instances" in payload, "inputs" in payload
    if has_instances == has_inputs:
        raise invalid("JSON Value: must have exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    arrays = _instances_to_arrays(signature, payload["instances"]) if has_instances else _inputs_to_arrays(signature, payload["inputs"])
    check_rows({name: array.shape for name, array in arrays.items()}, server.options.max_batch_rows)
    outputs = servable.predict(signature, arrays, ())
    if has_instances:
        rows = {n: v.shape[0] if v.ndim else None for n, v in outputs.items()}
        if len(set(rows.values())) != 1 or None in rows.values():
            raise invalid(f"outputs have different batch sizes {rows}; use the columnar 'inputs' format")
        if len(outputs) == 1:
            (value,) = outputs.values()
            return {"predictions": [_to_json(row, _is_bytes_name(next(iter(outputs)))) for row in value]}
        names = list(outputs)
        return {"predictions": [{n: _to_json(outputs[n][i], _is_bytes_name(n)) for n in names} for i in range(next(iter(rows.values())))]}
    if len(outputs) == 1:
        (output_name, value), = outputs.items()
        return {"outputs": _to_json(value, _is_bytes_name(output_name))}
    return {"outputs": {n: _to_json(v, _is_bytes_name(n)) for n, v in outputs.items()}}


def _signature_for(instances: Any) -> str:
    """The signature a request without `signature_name` means: `serving_raw` for instances that
    name product fields (`{"instances": [{"title": "dog bed"}]}`), else TF Serving's default."""
    if isinstance(instances, list) and instances and all(
            isinstance(row, dict) and row and not _is_b64(row) and set(row) <= PRODUCT_INPUTS for row in instances):
        return RAW_SIGNATURE
    return DEFAULT_SIGNATURE


def _is_bytes_name(name: str) -> bool:
    return name.endswith("_bytes")


def _to_json(value: Any, as_b64: bool) -> Any:
    if isinstance(value, np.ndarray):
        return [_to_json(v, as_b64) for v in value] if value.ndim else _to_json(value.item(), as_b64)
    if isinstance(value, bytes):
        if not as_b64:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")
    return value


def _instances_to_arrays(signature: Signature, instances: Any) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise invalid("'instances' must be a non-empty list")
    named = all(isinstance(row, dict) and not _is_b64(row) for row in instances)
    if not named:
        if any(isinstance(row, dict) and not _is_b64(row) for row in instances):
            raise invalid("'instances' mixes named (object) and unnamed values")
        if len(signature.inputs) != 1:
            raise invalid(f"unnamed 'instances' need a signature with one input; {signature.name} takes {sorted(signature.inputs)}")
        (input_name,) = signature.inputs
        return {input_name: _json_to_array(input_name, instances, signature.inputs[input_name])}
    keys = set(instances[0])
    if signature.name == RAW_SIGNATURE:
        keys, instances = set().union(*instances), _padded_products(instances)
    for index, row in enumerate(instances):
        if set(row) != keys:
            raise invalid(f"instance {index} has inputs {sorted(row)}, instance 0 has {sorted(keys)}; all instances must name the same inputs")
    check_names(signature, keys)
    return {name: _json_to_array(name, [row[name] for row in instances], signature.inputs[name]) for name in keys}


def _padded_products(instances: list[dict]) -> list[dict]:
    """Product rows for `serving_raw`: every row names the same fields (a missing one is empty) and
    each list field is padded with "" to the request's longest list (the model drops the padding)."""
    names = set().union(*instances)
    widths = {name: max([1] + [len(row[name]) for row in instances if isinstance(row.get(name), list)])
              for name in names & set(F.LIST_FIELDS)}
    rows = []
    for row in instances:
        filled = {name: row.get(name, "") for name in names - set(widths)}
        for name, width in widths.items():
            value = row.get(name, [])
            filled[name] = value + [""] * (width - len(value)) if isinstance(value, list) else value
        rows.append(filled)
    return rows


def _inputs_to_arrays(signature: Signature, inputs: Any) -> dict[str, np.ndarray]:
    if isinstance(inputs, dict) and not _is_b64(inputs):
        check_names(signature, inputs.keys())
        return {name: _json_to_array(name, value, signature.inputs[name]) for name, value in inputs.items()}
    if len(signature.inputs) != 1:
        raise invalid(f"unnamed 'inputs' need a signature with one input; {signature.name} takes {sorted(signature.inputs)}")
    (input_name,) = signature.inputs
    return {input_name: _json_to_array(input_name, inputs, signature.inputs[input_name])}


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _json_to_array(name: str, value: Any, spec: Any) -> np.ndarray:
    """A (nested) JSON list as a numpy array of the input's dtype; shapes must be rectangular."""
    import tensorflow as tf

    shape: list[int] = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if len(shape) > _JSON_MAX_DEPTH:
            raise invalid(f"input {name!r} is nested too deeply")
        probe = probe[0] if probe else None
    leaves: list[Any] = []

    def walk(node: Any, depth: int) -> None:
        if depth == len(shape):
            if isinstance(node, list):
                raise invalid(f"input {name!r} is not a rectangular tensor (shape {shape} expected)")
            leaves.append(node)
            return
        if not isinstance(node, list) or len(node) != shape[depth]:
            raise invalid(f"input {name!r} is not a rectangular tensor (shape {shape} expected); pad lists to equal length")
        for child in node:
            walk(child, depth + 1)

    walk(value, 0)
    if len(leaves) > MAX_TENSOR_ELEMENTS:
        raise invalid(f"input {name!r} has {len(leaves)} elements (at most {MAX_TENSOR_ELEMENTS})")
    if spec.dtype == tf.string:
        out = np.empty(len(leaves), dtype=object)
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, str):
                try:
                    out[i] = leaf.encode("utf-8")
                except UnicodeEncodeError as err:  # JSON's "\ud800": a lone surrogate is not text
                    raise invalid(f"input {name!r}: not valid Unicode ({err.reason} at character {err.start}); "
                                  "send text as UTF-8, or bytes as {\"b64\": ...}") from None
            elif _is_b64(leaf) and isinstance(leaf["b64"], str):
                try:
                    out[i] = base64.b64decode(leaf["b64"], validate=True)
                except (binascii.Error, ValueError):
                    raise invalid(f"input {name!r}: invalid base64 in a b64 value") from None
            else:
                raise invalid(f"input {name!r} expects strings (or {{\"b64\": ...}}), got {type(leaf).__name__}")
        return out.reshape(shape)
    np_dtype = spec.dtype.as_numpy_dtype
    for leaf in leaves:
        ok = isinstance(leaf, bool) if spec.dtype == tf.bool else isinstance(leaf, (int, float)) and not isinstance(leaf, bool)
        if not ok or (isinstance(leaf, float) and spec.dtype.is_integer):
            raise invalid(f"input {name!r} expects {spec.dtype.name} values, got {leaf!r:.40}")
    try:
        return np.array(leaves, dtype=np_dtype).reshape(shape)
    except (OverflowError, ValueError) as err:
        raise invalid(f"input {name!r}: {err}") from None
