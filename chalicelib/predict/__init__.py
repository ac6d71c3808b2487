"""Prediction API: the breast-cancer classifier over HTTP, without scikit-learn at run time.

``messages`` (request/response shapes and validation), ``model`` (the tree
ensemble evaluated in plain Python), ``pickles`` (a restricted joblib/pickle
reader), ``tables`` (batch file formats), ``service`` (the routes' steps).
``training`` and ``bench`` need scikit-learn and are used by the CLI only.
"""
