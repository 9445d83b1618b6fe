"""Learning from prep's shards: model, Arrow-shard loader, train loop, ablation driver.

Arrives with the training issue; the pipeline does not depend on it.
"""
