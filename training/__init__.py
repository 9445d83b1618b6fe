"""Learning from prep's shards: the trainer behind `prep train` and the ablation proxies.

model.py (a small GPT), data.py (memory-mapped shard loader, packing, validation sets),
train.py (the loop, DDP, checkpoints), metrics.py (MFU, logs, plots), config.py (settings).
It reads shards through `prep.core.shards`, the format's one home, and never imports the
pipeline; the command line is `prep.train_command`. Needs the `train` extra (torch).
"""
