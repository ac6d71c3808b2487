"""Train the seed's breast-cancer classifier and export what the API serves.

``lab train`` runs this. It is the only module of the
Prediction API that uses scikit-learn, NumPy and joblib; the serving Lambda
never imports it. Everything is seeded, so a rerun writes identical files.

Writes
    ``chalicelib/predict/artifacts/model.json``  the tree ensemble as data (served)
    ``chalicelib/predict/artifacts/metadata.json``  features, classes, metrics,
    library versions, sha256 of both model files (served by ``GET /model``)
    ``models/breast-cancer.joblib``  the fitted scikit-learn model (not packaged)
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy
import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

from chalicelib.config import PROJECT_DIR
from chalicelib.errors import LabError
from chalicelib.predict.handlers import ARTIFACTS, METADATA_FILE, MODEL_FILE
from chalicelib.predict.model import Tree, TreeEnsemble

# The seed's five features: the API's name -> scikit-learn's feature name.
FEATURES = {
    "meanConcavePoints": "mean concave points",
    "worstRadius": "worst radius",
    "worstTexture": "worst texture",
    "worstArea": "worst area",
    "worstConcavePoints": "worst concave points",
}
HYPERPARAMETERS = {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 3, "random_state": 0}
TEST_SIZE = 0.25
SPLIT_SEED = 0
JOBLIB_FILE = PROJECT_DIR / "models" / "breast-cancer.joblib"
PARITY_TOLERANCE = 1e-9


class ParityError(LabError):
    """The exported ensemble does not reproduce scikit-learn's predictions."""


@dataclass(frozen=True)
class Dataset:
    X: Any  # (569, 5) float64, columns in FEATURES order
    y: Any  # (569,) int, 0 = malignant, 1 = benign
    labels: tuple[str, ...]  # label of class value i


@dataclass(frozen=True)
class TrainingResult:
    classifier: Any
    ensemble: TreeEnsemble
    metadata: dict[str, Any]
    files: dict[str, Path]


def load_dataset() -> Dataset:
    """scikit-learn's breast-cancer data (shipped in its wheel), the seed's five columns."""
    data = load_breast_cancer()
    names = list(data.feature_names)
    columns = [names.index(source) for source in FEATURES.values()]
    return Dataset(data.data[:, columns], data.target, tuple(str(n) for n in data.target_names))


def export(classifier: Any, features: list[str], labels: tuple[str, ...]) -> TreeEnsemble:
    """The fitted binary ``GradientBoostingClassifier`` as a ``TreeEnsemble``."""
    if classifier.n_classes_ != 2 or classifier.estimators_.shape[1] != 1:
        raise ValueError("only binary gradient boosting is exported")
    # The init estimator's raw score (the log-odds prior) is the same for every row.
    init = float(classifier._raw_predict_init(np.zeros((1, len(features))))[0, 0])
    trees = []
    for regressor in classifier.estimators_[:, 0]:
        nodes = regressor.tree_
        trees.append(
            Tree(
                feature=tuple(int(v) for v in nodes.feature),
                threshold=tuple(float(v) for v in nodes.threshold),
                left=tuple(int(v) for v in nodes.children_left),
                right=tuple(int(v) for v in nodes.children_right),
                value=tuple(float(v) for v in nodes.value[:, 0, 0]),
            )
        )
    classes = tuple(int(c) for c in classifier.classes_)
    return TreeEnsemble(
        features=tuple(features),
        classes=(classes[0], classes[1]),
        labels=(labels[classes[0]], labels[classes[1]]),
        init=init,
        learning_rate=float(classifier.learning_rate),
        trees=tuple(trees),
    )


def parity(classifier: Any, ensemble: TreeEnsemble, X: Any) -> dict[str, Any]:
    """Compare the ensemble with scikit-learn on ``X``: equal predictions, close probabilities."""
    expected_class = classifier.predict(X)
    expected_proba = classifier.predict_proba(X)
    ours = ensemble.predict(X.tolist())
    predicted = [p.value for p in ours]
    positive = [
        p.probability if p.value == ensemble.classes[1] else 1.0 - p.probability for p in ours
    ]
    difference = float(np.max(np.abs(np.asarray(positive) - expected_proba[:, 1])))
    return {
        "rows": len(predicted),
        "predictions_equal": bool(np.array_equal(np.asarray(predicted), expected_class)),
        "max_probability_difference": difference,
    }


def train(
    artifacts: Path = ARTIFACTS, joblib_file: Path = JOBLIB_FILE, project_dir: Path = PROJECT_DIR
) -> TrainingResult:
    """Fit, evaluate on a held-out split, export, check parity, write the artifacts."""
    data = load_dataset()
    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=data.y
    )
    classifier = GradientBoostingClassifier(**HYPERPARAMETERS).fit(X_train, y_train)
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, classifier.predict(X_test))), 6),
        "roc_auc": round(float(roc_auc_score(y_test, classifier.predict_proba(X_test)[:, 1])), 6),
    }
    ensemble = export(classifier, list(FEATURES), data.labels)
    check = parity(classifier, ensemble, data.X)
    if not check["predictions_equal"] or check["max_probability_difference"] > PARITY_TOLERANCE:
        raise ParityError(f"the exported model disagrees with scikit-learn: {check}")

    artifacts.mkdir(parents=True, exist_ok=True)
    joblib_file.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(classifier, joblib_file)
    model_bytes = json.dumps(ensemble.to_document(), separators=(",", ":")).encode()
    (artifacts / MODEL_FILE).write_bytes(model_bytes)
    metadata = {
        "name": "breast-cancer-gradient-boosting",
        "estimator": "sklearn.ensemble.GradientBoostingClassifier",
        "hyperparameters": HYPERPARAMETERS,
        "features": list(FEATURES),
        "feature_sources": FEATURES,
        "classes": [
            {"value": value, "label": label}
            for value, label in zip(ensemble.classes, ensemble.labels, strict=True)
        ],
        "probability": "the model's probability of the predicted class",
        # POST /predict flags values far outside these (chalicelib/predict/messages.py)
        "feature_ranges": {
            name: [float(np.min(X_train[:, i])), float(np.max(X_train[:, i]))]
            for i, name in enumerate(FEATURES)
        },
        "training": {
            "dataset": "sklearn.datasets.load_breast_cancer (Wisconsin diagnostic)",
            "rows": len(data.y),
            "train_rows": len(y_train),
            "test_rows": len(y_test),
            "split": f"stratified, test_size={TEST_SIZE}, random_state={SPLIT_SEED}",
        },
        "metrics": {"held_out": metrics},
        "parity": check,
        "versions": {
            "python": ".".join(platform.python_version_tuple()[:2]),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "joblib": joblib.__version__,
        },
        "artifacts": {
            MODEL_FILE: _describe(model_bytes, None),
            joblib_file.name: _describe(
                joblib_file.read_bytes(), _relative(joblib_file, project_dir)
            ),
        },
    }
    (artifacts / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    files = {
        MODEL_FILE: artifacts / MODEL_FILE,
        METADATA_FILE: artifacts / METADATA_FILE,
        joblib_file.name: joblib_file,
    }
    return TrainingResult(classifier, ensemble, metadata, files)


def _describe(data: bytes, path: str | None) -> dict[str, Any]:
    described: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if path is not None:
        described["path"] = path
    return described


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return path.name


def report(result: TrainingResult) -> str:
    """What ``lab train`` prints."""
    meta = result.metadata
    held_out, check = meta["metrics"]["held_out"], meta["parity"]
    lines = [
        f"trained {meta['estimator'].rsplit('.', 1)[-1]} on {meta['training']['train_rows']} rows, "
        f"{len(meta['features'])} features ({', '.join(meta['features'])})",
        f"held-out ({meta['training']['test_rows']} rows): accuracy {held_out['accuracy']:.4f}, "
        f"ROC AUC {held_out['roc_auc']:.4f}",
        f"parity with scikit-learn on all {check['rows']} rows: predictions equal "
        f"{check['predictions_equal']}, max |probability difference| "
        f"{check['max_probability_difference']:.3g}",
    ]
    for name, path in result.files.items():
        described = meta["artifacts"].get(name)
        digest = f"  sha256 {described['sha256'][:16]}…" if described else ""
        lines.append(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB){digest}")
    return "\n".join(lines)
