"""prep's pipeline: config, CLI, Ray Data runner, readers, checkpoints and accounting.

`pipeline` knows how to run stages; `stages` knows what to do to documents.
"""

__version__ = "0.1.0"
