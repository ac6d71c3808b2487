"""Cell Painting Batch: SQS job messages -> AWS Batch -> CellProfiler -> results in S3.

The modules the Batch container imports (``layout``, ``pipeline``, ``merge``,
``store``, ``runner``) stay compatible with Python 3.8, the interpreter of the
official CellProfiler 4.2 image: no 3.9+ syntax or run-time generics there.
"""
