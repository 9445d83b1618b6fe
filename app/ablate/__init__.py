"""`prep ablate`: many mixtures of one cleaned corpus, a proxy model each, ranked and regressed.

It orchestrates both the pipeline (re-mixing the base config's cached tokenized pass per
variant) and the trainer (a proxy per variant as a Ray task), which is why it lives in the
application layer: `config.py` (the ablation YAML), `driver.py` (re-mix, train, collect),
`summary.py` and `regression.py` (ranking and the RegMix-style fit), `report.py`
(terminal table and report.html), `command.py` (the command line).
"""
