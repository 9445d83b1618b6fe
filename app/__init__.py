"""prep: prepare LLM pre-training data on Ray, and train ablation models on it.

The import package `prep` is the application layer (the command line and the ablation
driver) over four packages, each installed from its own top-level folder:

    prep.core      contracts and plumbing every package shares: the record, the stage
                   contract, the shard format, settings errors, atomic files, byte streams
    prep.stages    what to do to documents (one module or package per stage)
    prep.pipeline  how to run stages on Ray Data: config, passes, accounting, OUT/
    prep.training  how to learn from shards: model, loader, train loop
    prep.sample    the bundled sample corpus (the `sample` extra)

Dependencies point one way (docs/design.md); `tests/test_architecture.py` keeps them so.
This module imports nothing: every package reads `__version__` from here.
"""

__version__ = "0.1.0"
