"""scikit-learn estimators: a topnet network (and a topnet ensemble) in pipelines and searches.

``NetClassifier`` / ``NetRegressor`` build a registered model (``topnet.nn.create_model``) for
the data's width and train it with ``topnet.fit``; they store their constructor arguments as-is
(so ``clone``, ``GridSearchCV`` and ``StackingClassifier`` work) and pass scikit-learn's estimator
checks (see tests/test_sklearn.py for the few that are skipped, and why). ``EnsembleClassifier``
/ ``EnsembleRegressor`` (topnet.ensemble.estimator) combine any estimators with the ensemble's
combiners, fitted on out-of-fold predictions.

Training is reproducible from ``seed`` (see topnet.net_estimator, where the network estimators
are defined).

Example:
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> X, y = np.random.default_rng(0).normal(size=(60, 3)), np.repeat(["a", "b"], 30)
    >>> pipe = make_pipeline(StandardScaler(), NetClassifier(model_kwargs={"hidden": [8]}, epochs=2))
    >>> pipe.fit(X, y).predict(X[:2]).tolist() in (["a", "a"], ["a", "b"], ["b", "a"], ["b", "b"])
    True
"""
from __future__ import annotations

# net_estimator first: without scikit-learn, its import error says how to install it
from topnet.net_estimator import NetClassifier, NetRegressor
from topnet.ensemble.estimator import EnsembleClassifier, EnsembleRegressor

__all__ = ["NetClassifier", "NetRegressor", "EnsembleClassifier", "EnsembleRegressor"]
