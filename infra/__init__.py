"""Infrastructure code for what Chalice cannot express (AWS CDK in Python), and its checks."""

import os

# Node 20 still runs jsii (the CDK's bridge to Node.js); its end-of-life banner would
# drown every synth's output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
