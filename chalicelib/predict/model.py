"""Gradient-boosted decision trees as plain data, evaluated in plain Python.

Training (``training.py``, scikit-learn) exports a fitted binary
``GradientBoostingClassifier`` into a JSON document; this module reads that
document and scores observations without NumPy or scikit-learn, so the
serving Lambda stays a small zip.

The document (``FORMAT``)::

    {"format": "gradient-boosted-trees/1",
     "features": [name, ...],            # the order of a row's values
     "classes": [c0, c1], "labels": [l0, l1],
     "init": raw score before the first tree (the log-odds prior),
     "learning_rate": float,
     "trees": [{"feature": [...], "threshold": [...], "left": [...],
                "right": [...], "value": [...]}, ...]}

Each tree is scikit-learn's node arrays (``tree_.feature``,
``tree_.threshold``, ``tree_.children_left``, ``tree_.children_right``,
``tree_.value[:, 0, 0]``); a leaf has ``left == right == -1``.

Parity with scikit-learn is exact, not approximate: like scikit-learn, the
row is cast to float32 before it is compared with the (float64) thresholds,
and the raw score is accumulated tree by tree as ``raw += learning_rate *
leaf_value``, in the same order and in float64. Only the logistic function
may differ in the last bit from SciPy's ``expit``.

The trees are compiled once into one Python function of nested conditional
expressions (about 3 µs for 100 trees of depth 3), generated from the
validated numbers only: no text from the document reaches the code.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import LabError

FORMAT = "gradient-boosted-trees/1"
# scikit-learn casts inputs to float32 and rejects what does not fit.
FLOAT32_MAX = 3.4028234663852886e38
MAX_DEPTH = 64  # deeper trees would exceed Python's parser nesting limit
LEAF = -1


class ModelFormatError(LabError):
    """The model document is not a valid tree ensemble (a deployment error, not the caller's)."""


@dataclass(frozen=True)
class Tree:
    """One regression tree in scikit-learn's node-array layout (node 0 is the root)."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Prediction:
    """The predicted class of one row and the model's probability for that class."""

    value: int
    label: str
    probability: float


@dataclass(frozen=True)
class TreeEnsemble:
    """A binary gradient-boosted tree classifier (log-loss), as exported by training.

    Parameters
    ----------
    features : tuple of str
        Names of the row values, in order.
    classes : (2,) tuple of int
        Class values; ``classes[1]`` is predicted when the raw score is >= 0.
    labels : (2,) tuple of str
        Human-readable names of ``classes``.
    init : float
        Raw score (log-odds) before the first tree.
    learning_rate : float
        Weight of every tree's leaf values.
    trees : tuple of Tree
        The boosting stages, in order.

    Examples
    --------
    One stump on the second feature:

    >>> stump = Tree(feature=(1, -2, -2), threshold=(2.5, -2.0, -2.0),
    ...              left=(1, -1, -1), right=(2, -1, -1), value=(0.0, -4.0, 4.0))
    >>> model = TreeEnsemble(("a", "b"), (0, 1), ("no", "yes"), 0.0, 0.5, (stump,))
    >>> model.decision_function([(0.0, 1.0), (0.0, 3.0)])
    [-2.0, 2.0]
    >>> [p.label for p in model.predict([(0.0, 1.0), (0.0, 3.0)])]
    ['no', 'yes']
    >>> round(model.predict([(0.0, 3.0)])[0].probability, 4)
    0.8808
    """

    features: tuple[str, ...]
    classes: tuple[int, int]
    labels: tuple[str, str]
    init: float
    learning_rate: float
    trees: tuple[Tree, ...]
    _score: Callable[..., float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_ensemble(self)
        object.__setattr__(self, "_score", compile_score(self))

    @classmethod
    def from_document(cls, document: Any) -> TreeEnsemble:
        """Read the JSON document written by training (see the module docstring)."""
        if not isinstance(document, Mapping) or document.get("format") != FORMAT:
            raise ModelFormatError(f"not a {FORMAT} document")
        try:
            return cls(
                features=tuple(str(name) for name in document["features"]),
                classes=_pair(document["classes"], int),
                labels=_pair(document["labels"], str),
                init=_finite(document["init"]),
                learning_rate=_finite(document["learning_rate"]),
                trees=tuple(_tree(tree) for tree in document["trees"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"invalid model document: {exc!r}") from exc

    def to_document(self) -> dict[str, Any]:
        """The JSON-ready document; ``from_document(to_document())`` is an identical model."""
        return {
            "format": FORMAT,
            "features": list(self.features),
            "classes": list(self.classes),
            "labels": list(self.labels),
            "init": self.init,
            "learning_rate": self.learning_rate,
            "trees": [
                {
                    "feature": list(tree.feature),
                    "threshold": list(tree.threshold),
                    "left": list(tree.left),
                    "right": list(tree.right),
                    "value": list(tree.value),
                }
                for tree in self.trees
            ],
        }

    def decision_function(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Raw scores (log-odds of ``classes[1]``), as scikit-learn's ``decision_function``.

        Parameters
        ----------
        rows : (N, F) sequence of float
            Finite values within float32 range, in the order of ``features``
            (``messages.observation_values`` checks this for requests).

        Returns
        -------
        scores : list of N float
        """
        score, width = self._score, len(self.features)
        scores = []
        for row in rows:
            if len(row) != width:
                raise ValueError(f"a row has {len(row)} values; the model takes {width}")
            scores.append(score(*array("f", row)))
        return scores

    def predict_proba(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Probability of ``classes[1]`` per row (``predict_proba(X)[:, 1]`` in scikit-learn)."""
        return [expit(score) for score in self.decision_function(rows)]

    def predict(self, rows: Sequence[Sequence[float]]) -> list[Prediction]:
        """Each row's class (``classes[1]`` where the raw score is >= 0) and its probability."""
        (c0, c1), (l0, l1) = self.classes, self.labels
        predictions = []
        for score in self.decision_function(rows):
            positive = expit(score)
            if score >= 0:
                predictions.append(Prediction(c1, l1, positive))
            else:
                predictions.append(Prediction(c0, l0, 1.0 - positive))
        return predictions


def expit(x: float) -> float:
    """The logistic function ``1 / (1 + exp(-x))``, without overflow.

    >>> expit(0.0)
    0.5
    >>> expit(-1000.0)
    0.0
    """
    if x < -700.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def compile_score(model: TreeEnsemble) -> Callable[..., float]:
    """One Python function ``score(x0, …, xF-1) -> raw score`` for the whole ensemble.

    The source holds only integers (feature indices) and ``repr`` of finite
    floats, so it is safe to compile whatever the document said.
    """
    lines = [f"def score({', '.join(f'x{i}' for i in range(len(model.features)))}):"]
    lines.append(f"    r = {model.init!r}")
    for tree in model.trees:
        lines.append(f"    r += {_expression(tree, 0, model.learning_rate, 0)}")
    lines.append("    return r")
    namespace: dict[str, Any] = {"__builtins__": {}}
    exec(compile("\n".join(lines), "<tree-ensemble>", "exec"), namespace)
    return namespace["score"]  # type: ignore[no-any-return]


def _expression(tree: Tree, node: int, rate: float, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise ModelFormatError(f"a tree is deeper than {MAX_DEPTH}")
    if tree.left[node] == LEAF:
        return repr(rate * tree.value[node])  # the product scikit-learn adds
    return (
        f"({_expression(tree, tree.left[node], rate, depth + 1)}"
        f" if x{tree.feature[node]} <= {tree.threshold[node]!r}"
        f" else {_expression(tree, tree.right[node], rate, depth + 1)})"
    )


def _check_ensemble(model: TreeEnsemble) -> None:
    if len(model.features) == 0 or len(set(model.features)) != len(model.features):
        raise ModelFormatError("features must be distinct names, at least one")
    if len(model.classes) != 2 or len(model.labels) != 2:
        raise ModelFormatError("a binary classifier has two classes and two labels")
    if not model.trees:
        raise ModelFormatError("the ensemble has no trees")
    for number in (model.init, model.learning_rate):
        _finite(number)
    for tree in model.trees:
        _check_tree(tree, len(model.features))


def _check_tree(tree: Tree, n_features: int) -> None:
    size = len(tree.left)
    arrays = (tree.feature, tree.threshold, tree.right, tree.value)
    if size == 0 or any(len(values) != size for values in arrays):
        raise ModelFormatError("a tree's node arrays must be non-empty and of equal length")
    for node in range(size):
        if tree.left[node] == LEAF and tree.right[node] == LEAF:
            _finite(tree.value[node])
            continue
        # Children after their parent: no cycles, evaluation always ends.
        if not (node < tree.left[node] < size and node < tree.right[node] < size):
            raise ModelFormatError(f"node {node} has invalid children")
        if not 0 <= tree.feature[node] < n_features:
            raise ModelFormatError(f"node {node} splits on feature {tree.feature[node]}")
        _finite(tree.threshold[node])


def _tree(document: Mapping[str, Any]) -> Tree:
    feature, left, right = (tuple(document[k]) for k in ("feature", "left", "right"))
    for values in (feature, left, right):
        if not all(type(v) is int for v in values):
            raise ModelFormatError(f"node indices and features must be integers: {values!r:.80}")
    return Tree(
        feature=feature,
        threshold=tuple(map(float, document["threshold"])),
        left=left,
        right=right,
        value=tuple(map(float, document["value"])),
    )


def _finite(value: Any) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ModelFormatError(f"expected a finite number, got {value!r}")
    return float(value)


def _pair(values: Any, kind: type[Any]) -> Any:
    pair = tuple(values)
    if len(pair) != 2 or not all(type(v) is kind for v in pair):
        raise ModelFormatError(f"expected two {kind.__name__} values, got {values!r}")
    return pair
