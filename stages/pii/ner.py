"""PERSON, LOCATION, ORGANIZATION with an installed spaCy NER model (never downloaded).

Only what NER needs runs (tok2vec and ner; tagger, parser and lemmatizer are disabled),
over the batch with `nlp.pipe`, on documents in the model's language (the `lang` column
of a langid stage before this one; every document when there is none). Labels map to
Presidio's entity names with Presidio's own table and default score.
"""

from __future__ import annotations

from presidio_analyzer.nlp_engine import NerModelConfiguration

from prep.stages.pii.config import ner_model_installed

#: Pipes NER depends on in spaCy's trained pipelines.
NER_PIPES = ("tok2vec", "transformer", "ner")


class NerModel:
    def __init__(self, name: str, entities: list[str]):
        import spacy

        if not ner_model_installed(name):  # validation says so first; never fall back to a download
            raise FileNotFoundError(f"pii.ner_model: spaCy model {name!r} is not installed")
        self.nlp = spacy.load(name)
        disabled = [p for p in self.nlp.pipe_names if p not in NER_PIPES]
        self.nlp.select_pipes(disable=disabled)
        if "ner" not in self.nlp.pipe_names:
            raise ValueError(f"pii.ner_model: {name!r} has no 'ner' component")
        self.lang = self.nlp.lang
        ner_config = NerModelConfiguration()
        self.mapping = ner_config.model_to_presidio_entity_mapping
        self.score = ner_config.default_score
        self.entities = set(entities)

    def find(
        self, texts: list[str], langs: list[str | None] | None
    ) -> list[list[tuple[str, int, int, float]]]:
        """(entity, start, end, score) per document; documents in other languages get none."""
        todo = [i for i, _ in enumerate(texts) if langs is None or langs[i] == self.lang]
        out: list[list[tuple[str, int, int, float]]] = [[] for _ in texts]
        longest = max((len(texts[i]) for i in todo), default=0)
        self.nlp.max_length = max(self.nlp.max_length, longest + 1)
        for i, doc in zip(todo, self.nlp.pipe(texts[i] for i in todo), strict=True):
            for ent in doc.ents:
                entity = self.mapping.get(ent.label_)
                if entity in self.entities:
                    out[i].append((entity, ent.start_char, ent.end_char, self.score))
        return out
