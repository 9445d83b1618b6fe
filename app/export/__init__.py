"""`prep export`: a run's Arrow shards in the formats other trainers read.

The shards stay prep's own format (`prep train` memory-maps them); an export turns each shard
into the files of one trainer's loader, shard by shard on Ray, so that nothing holds more
than one shard (`mix.shard_tokens` tokens) at a time. Every document keeps its end-of-text
token, so document boundaries survive in every format; the split is in each file's name.

- `megatron`: Megatron-LM / NeMo indexed datasets, a `.bin` + `.idx` pair per shard
  (one sequence per document, `megatron.core.datasets.indexed_dataset.IndexedDataset`);
- `llmc`: llm.c / nanoGPT token files, a 256-int32 header then the tokens;
- `hf`: a Hugging Face `datasets` folder of Parquet files (`input_ids` and provenance);
- `litdata`: LitData folders (`train/`, `val/`) of token chunks, what LitGPT pre-trains from
  with `StreamingDataset(..., item_loader=TokensLoader(block_size))`.

`DIR/export.json` lists every file with its split, documents, tokens and sha256, and the
tokenizer (copied beside it) that the token ids belong to.
"""
