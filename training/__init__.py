"""Learning from prep's shards: `prep train` and, later, the ablation driver.

model.py (a small GPT), data.py (memory-mapped shard loader, packing, validation sets),
train.py (the loop, DDP, checkpoints), metrics.py (MFU, logs, plots), config.py and
cli.py (settings and the command line). The pipeline does not depend on this package.
"""
