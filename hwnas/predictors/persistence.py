"""Safe storage of scikit-learn models inside predictor files, as skops bytes.

scikit-learn models are stored as `skops <https://skops.readthedocs.io>`_ bytes (base64 in
the JSON file, with a SHA-256 checksum), never as pickle. Loading checks every type named
anywhere in the payload against :data:`ALLOWED_TYPES` (and every node kind against
:data:`ALLOWED_NODES`) *before* deserialising, then passes exactly the non-default types
skops reports as ``trusted``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import zipfile
from typing import Any

from hwnas.errors import HwnasError

#: Every type a stored scikit-learn model may contain (``module.qualname``).
ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.NoneType",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.float64",
        "numpy.float32",
        "numpy.int64",
        "numpy.int32",
        "numpy.intp",
        "numpy.random.mtrand.RandomState",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn.compose._target.TransformedTargetRegressor",
        "sklearn.dummy.DummyRegressor",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.gaussian_process._gpr.GaussianProcessRegressor",
        "sklearn.gaussian_process.kernels.ConstantKernel",
        "sklearn.gaussian_process.kernels.DotProduct",
        "sklearn.gaussian_process.kernels.Product",
        "sklearn.gaussian_process.kernels.RBF",
        "sklearn.gaussian_process.kernels.Sum",
        "sklearn.gaussian_process.kernels.WhiteKernel",
        "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._tree.Tree",
    }
)
#: The skops node kinds a stored model may use (no functions, methods or reduce calls).
ALLOWED_NODES: frozenset[str] = frozenset(
    {
        "DictNode",
        "DTypeNode",
        "JsonNode",
        "ListNode",
        "LossNode",
        "NdArrayNode",
        "ObjectNode",
        "RandomStateNode",
        "TreeNode",
        "TupleNode",
        "TypeNode",
    }
)


def dump_skops(estimator: Any) -> dict[str, Any]:
    """The stored fields of a fitted estimator: versions, ``sha256`` and base64 ``data``.

    Args:
        estimator: A fitted scikit-learn estimator made only of :data:`ALLOWED_TYPES`.
    """
    import sklearn
    import skops
    import skops.io as sio

    raw = sio.dumps(estimator, compression=zipfile.ZIP_DEFLATED)
    return {
        "sklearn_version": sklearn.__version__,
        "skops_version": skops.__version__,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "data": base64.b64encode(raw).decode("ascii"),
    }


def _schema_types(raw: bytes, where: str) -> tuple[set[str], set[str]]:
    """All ``module.class`` names and node kinds in a skops payload's schema."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise HwnasError(f"{where}.data: expected a skops archive ({error})") from None
    types: set[str] = set()
    nodes: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node or "__module__" in node:
                types.add(f"{node.get('__module__')}.{node.get('__class__')}")
            if "__loader__" in node:
                nodes.add(str(node["__loader__"]))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return types, nodes


def load_skops(data: dict[str, Any], expected_class: str, where: str) -> Any:
    """Deserialise the skops payload of a model entry, after checking it against the allowlist.

    Args:
        data: ``{"data": base64, "sha256": hex, ...}``.
        expected_class: ``module.qualname`` the top-level object must have.
        where: The entry's place in the file, for messages.

    Raises:
        HwnasError: Bad base64, a checksum mismatch, a payload that is not a skops archive,
            any type or node kind outside the allowlist, or an unexpected top-level class.
    """
    import skops.io as sio

    text = data.get("data")
    if not isinstance(text, str):
        raise HwnasError(f"{where}.data: expected base64 text, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise HwnasError(f"{where}.data: expected base64 text") from None
    digest = data.get("sha256")
    if digest != hashlib.sha256(raw).hexdigest():
        raise HwnasError(
            f"{where}.sha256: the model bytes do not match their checksum (file corrupted "
            "or edited)"
        )
    types, nodes = _schema_types(raw, where)
    bad = sorted(types - ALLOWED_TYPES)
    if bad:
        raise HwnasError(f"{where}: refusing to load types outside the allowlist: {bad}")
    bad = sorted(nodes - ALLOWED_NODES)
    if bad:
        raise HwnasError(f"{where}: refusing to load skops node kinds {bad}")
    try:
        untrusted = sio.get_untrusted_types(data=raw)
    except Exception as error:  # skops raises assorted errors on malformed input
        raise HwnasError(f"{where}.data: unreadable skops payload ({error})") from None
    bad = sorted(set(untrusted) - ALLOWED_TYPES)
    if bad:
        raise HwnasError(f"{where}: refusing to load types outside the allowlist: {bad}")
    try:
        obj = sio.loads(raw, trusted=list(untrusted))
    except Exception as error:
        raise HwnasError(f"{where}.data: could not load the skops payload ({error})") from None
    got = f"{type(obj).__module__}.{type(obj).__qualname__}"
    if got != expected_class:
        raise HwnasError(f"{where}: expected a {expected_class}, got a {got}")
    return obj
