"""Prediction API: the breast-cancer classifier over HTTP, without scikit-learn at run time.

``messages`` (request/response shapes and validation), ``model`` (the tree
ensemble evaluated in plain Python), ``pickles`` (a restricted joblib/pickle
reader), ``tables`` (batch file formats), ``service`` (the routes' steps).
``training`` and ``bench`` need scikit-learn and are used by the CLI only.
"""

# Content types the predict routes accept (the seed's clients send JSON as any of them).
BODY_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded"]
