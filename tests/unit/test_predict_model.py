"""The plain-Python tree ensemble: parity with scikit-learn, and a model document it refuses."""

from __future__ import annotations

import copy
import json
from array import array
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.predict.handlers import ARTIFACTS, read_model
from chalicelib.predict.model import ModelFormatError, Tree, TreeEnsemble, expit
from tests.conftest import ROOT
from tests.predict_data import FEATURES


@pytest.fixture(scope="module")
def committed() -> TreeEnsemble:
    return read_model(check_digest=True).ensemble


def test_parity_with_scikit_learn_on_all_569_rows(committed: TreeEnsemble) -> None:
    joblib = pytest.importorskip("joblib")
    from devtools.training import load_dataset

    classifier = joblib.load(ROOT / "models" / "breast-cancer.joblib")
    data = load_dataset()
    assert data.X.shape == (569, 5)
    rows = data.X.tolist()

    ours = committed.predict(rows)
    assert [p.value for p in ours] == classifier.predict(data.X).tolist()
    proba = classifier.predict_proba(data.X)
    for prediction, expected in zip(ours, proba.tolist(), strict=True):
        # probability of the predicted class; both columns of predict_proba agree
        assert abs(prediction.probability - expected[prediction.value]) <= 1e-9
        assert abs((1.0 - prediction.probability) - expected[1 - prediction.value]) <= 1e-9
    # stronger than asked: the raw scores are the same floats
    assert committed.decision_function(rows) == classifier.decision_function(data.X).tolist()


def test_served_model_matches_its_metadata(committed: TreeEnsemble) -> None:
    metadata = json.loads((ARTIFACTS / "metadata.json").read_text())
    assert list(committed.features) == metadata["features"] == FEATURES
    assert committed.labels == ("malignant", "benign") and committed.classes == (0, 1)
    assert len(committed.trees) == metadata["hyperparameters"]["n_estimators"]
    assert metadata["metrics"]["held_out"]["accuracy"] > 0.9
    assert metadata["metrics"]["held_out"]["roc_auc"] > 0.95


def test_document_round_trip(committed: TreeEnsemble) -> None:
    again = TreeEnsemble.from_document(json.loads(json.dumps(committed.to_document())))
    assert again == committed
    sample = [[0.05, 15.0, 25.0, 700.0, 0.12], [0.15, 25.0, 30.0, 2000.0, 0.25]]
    assert again.decision_function(sample) == committed.decision_function(sample)


def _stump(threshold: float) -> TreeEnsemble:
    tree = Tree((0, -2, -2), (threshold, -2.0, -2.0), (1, -1, -1), (2, -1, -1), (0.0, -1.0, 1.0))
    return TreeEnsemble(("a",), (0, 1), ("no", "yes"), 0.0, 1.0, (tree,))


def test_rows_are_compared_as_float32_like_scikit_learn() -> None:
    threshold = array("f", [0.1])[0]  # thresholds lie between float32 values
    above = threshold + 1e-12  # above the threshold as a float64 ...
    assert above > threshold and array("f", [above])[0] == threshold  # ... not as a float32
    model = _stump(threshold)
    assert model.decision_function([[above]]) == [-1.0]  # float32(x) <= threshold: left
    assert model.decision_function([[threshold + 1e-7]]) == [1.0]


def test_row_of_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="1 values; the model takes 2"):
        TreeEnsemble(("a", "b"), (0, 1), ("n", "y"), 0.0, 1.0, _stump(0.5).trees).predict([[1.0]])


def test_expit_is_stable() -> None:
    assert expit(0.0) == 0.5
    assert expit(-1e6) == 0.0 and expit(1e6) == 1.0


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target: Any = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target: Any = document
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


TREE = ("trees", 0)
BREAKAGES = {
    "format": _set(("format",), "onnx"),
    "cycle": _set((*TREE, "left", 0), 0),
    "child out of range": _set((*TREE, "right", 0), 7),
    "feature out of range": _set((*TREE, "feature", 0), 3),
    "nan threshold": _set((*TREE, "threshold", 0), float("nan")),
    "string feature": _set((*TREE, "feature", 0), "0"),
    "ragged arrays": _drop((*TREE, "value", 2)),
    "no trees": _set(("trees",), []),
    "three classes": _set(("classes",), [0, 1, 2]),
    "inf leaf": _set((*TREE, "value", 2), float("inf")),
    "missing key": _drop(("init",)),
}


@pytest.mark.parametrize("change", BREAKAGES)
def test_invalid_documents_are_refused(change: str) -> None:
    document = copy.deepcopy(_stump(0.5).to_document())
    BREAKAGES[change](document)
    with pytest.raises(ModelFormatError):
        TreeEnsemble.from_document(document)


def test_too_deep_tree_is_refused() -> None:
    depth = 70
    left = [i + 1 for i in range(depth)] + [-1] * (depth + 1)
    right = [depth + 1 + i for i in range(depth)] + [-1] * (depth + 1)
    size = 2 * depth + 1
    tree = Tree((0,) * size, (0.5,) * size, tuple(left), tuple(right), (0.0,) * size)
    with pytest.raises(ModelFormatError, match="deeper than"):
        TreeEnsemble(("a",), (0, 1), ("n", "y"), 0.0, 1.0, (tree,))


def test_tampered_model_file_is_refused(tmp_path: Any) -> None:
    for name in ("model.json", "metadata.json"):
        (tmp_path / name).write_bytes((ARTIFACTS / name).read_bytes())
    (tmp_path / "model.json").write_bytes((ARTIFACTS / "model.json").read_bytes() + b" ")
    with pytest.raises(ModelFormatError, match="sha256"):
        read_model(tmp_path, check_digest=True)
