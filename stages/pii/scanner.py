"""Finding PII in one document: Presidio recognizers on candidate windows, then scores,
the allow-list and overlaps resolved into disjoint spans to replace."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass

from prep.stages.pii.allow import AllowList
from prep.stages.pii.config import Config
from prep.stages.pii.context import ContextWords, boosted
from prep.stages.pii.recognizers import (
    FreePhoneRecognizer,
    PhoneContextRecognizer,
    PhoneRecognizer,
    build_recognizers,
    silence_presidio,
)
from prep.stages.pii.windows import (
    CANDIDATES,
    MIN_DIGITS,
    URL_ANY,
    compile_candidate,
    count_digits,
    find_spans,
    free_phone_shaped,
    phone_shaped,
    windows,
)

#: The highest score an entity gets with no context word in the 5 words before it; others
#: reach 1.0 (a checksum or domain check passed). A phone number is 0.4 (phonenumbers) unless a
#: phone word is near (then 0.75, or 0.5 from the phone-word recognizer).
SCORE_CEILING = {"PHONE_NUMBER": PhoneRecognizer.SCORE}
#: Phone numbers with no phone word nearby are looked for only among runs of this many digits
#: that are not year ranges or IPv4 addresses (when the threshold lets such a number count at
#: all): phonenumbers accepts some 4-6 digit numbers (German ones), which in text are years
#: and counts, and every region it tries on each of them made phone detection without phone
#: words 19x naive Presidio instead of 70x.
FREE_PHONE_DIGITS = 7
#: Windows joined into one recognizer call (phonenumbers gives up after 65,535 candidates).
WINDOWS_PER_CALL = 2000


@dataclass(frozen=True)
class Gate:
    """Which candidates of a context-dependent entity are worth a recognizer call."""

    entity: str
    free_digits: int | None  # candidates with this many digits need no context word; None: all do
    written_as_phone: bool = False  # only candidates written like phone numbers, context or not

    def passes(self, text: str, span: tuple[int, int], context: ContextWords) -> bool:
        if self.written_as_phone:  # (most digit runs are years: 4 characters)
            return span[1] - span[0] >= 6 and free_phone_shaped(text, *span)
        if self.free_digits is not None and phone_shaped(text, *span, self.free_digits):
            return True
        return context.found_before(text, span[0])


@dataclass(frozen=True, slots=True)
class Hit:
    entity: str
    start: int
    end: int
    score: float
    phone_word: bool = False  # counts only right after a phone word (PhoneContextRecognizer)


@dataclass
class Found:
    """What a scan of one document found: disjoint spans to replace, and allowed values."""

    spans: list[tuple[int, int, str]]  # (start, end, entity), sorted, disjoint
    allowed: Counter  # entity -> allowed values left in place


def resolve(hits: list[Hit]) -> list[tuple[int, int, str]]:
    """Overlapping detections become one span (their union), named after the widest one.

    A URL with credentials also holds an e-mail-shaped "password@host"; a phone number
    may overlap an SSN. Replacing the union leaves no piece of either behind.
    """
    clusters: list[list[Hit]] = []
    end = -1
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        if clusters and hit.start < end:
            clusters[-1].append(hit)
        else:
            clusters.append([hit])
        end = max(end, hit.end) if len(clusters[-1]) > 1 else hit.end
    spans = []
    for cluster in clusters:
        widest = max(cluster, key=lambda h: (h.end - h.start, h.score))
        spans.append((cluster[0].start, max(h.end for h in cluster), widest.entity))
    return spans


class Scanner:
    """The requested recognizers, built once (per Ray actor), and the per-document scan."""

    def __init__(self, config: Config, context_gate: bool = True):
        """`context_gate=False` analyses every candidate (tests compare that with Presidio)."""
        silence_presidio()
        self.config = config
        entities = config.pattern_entities
        self.recognizers = build_recognizers(entities, config.phone_regions, config.url)
        everything = [*entities, *config.ner_entities]
        self.context = {e: ContextWords(e, config.languages) for e in everything}
        self.phone_words = ContextWords("PHONE_NUMBER", config.languages, strong_only=True)
        self.thresholds = {e: config.threshold_for(e) for e in everything}
        self.allow = AllowList(config.allow)
        groups: dict[tuple, list[str]] = {}
        #: (patterns, gate, name) -> entity -> recognizers, for groups that run others than the
        #: entity's own (name: which ones; None for the entity's own)
        self.group_recognizers: dict[tuple, dict[str, list]] = {}
        for entity in entities:
            patterns = CANDIDATES[entity] + ((URL_ANY,) if entity == "URL" and config.url == "all" else ())
            ceiling, threshold = SCORE_CEILING.get(entity, 1.0), self.thresholds[entity]
            if boosted(ceiling) < threshold:
                continue  # can never be reported: not worth a look
            # a match that needs a context word to pass: look only where one is near
            gate = None
            if context_gate and ceiling < threshold:
                gate = Gate(entity, None)
            elif context_gate and entity == "PHONE_NUMBER":
                gate = Gate(entity, FREE_PHONE_DIGITS)
            groups.setdefault((patterns, gate, None), []).append(entity)
            # phone numbers written as such count without a phone word (FreePhoneRecognizer) when
            # the threshold needs one for phonenumbers' 0.4 but not for the free recognizer's 0.5
            if entity == "PHONE_NUMBER" and ceiling < threshold <= FreePhoneRecognizer.SCORE:
                free = Gate(entity, None, written_as_phone=True) if context_gate else None
                key = (patterns, free, FreePhoneRecognizer.NAME)
                groups.setdefault(key, []).append(entity)
                recognizer = FreePhoneRecognizer(config.phone_regions)
                self.group_recognizers[key] = {entity: [recognizer]}
        #: entities sharing a candidate regex (card, SSN: digit runs) share windows
        self.groups = [
            (
                p,
                gate,
                names,
                min(MIN_DIGITS.get(n, 0) for n in names),
                self.group_recognizers.get((p, gate, name), self.recognizers),
            )
            for (p, gate, name), names in groups.items()
        ]
        self.patterns = {p: compile_candidate(p) for patterns, _, _ in groups for p in patterns}
        self.counters: Counter = Counter()  # windows and characters analysed, for metrics

    def detect(self, texts: list[str]) -> list[list[Hit]]:
        """Raw recognizer results of the pattern entities per document, in its offsets.

        The windows of every document of the batch are joined with newlines (no match
        crosses one, and a newline looks like a string edge to every lookaround), so each
        recognizer runs once per batch instead of once per window: Presidio's per-call cost
        (explanations, timestamps, one phonenumbers matcher per region) is paid once.
        """
        hits: list[list[Hit]] = [[] for _ in texts]
        found: list[dict[str, list[tuple[int, int]]]] = [{} for _ in texts]  # scanned once per pattern
        for patterns, gate, names, min_digits, recognizers in self.groups:
            chunks: list[str] = []
            where: list[tuple[int, int]] = []  # (document, offset of the window in it) per chunk
            for i, text in enumerate(texts):
                spans: list[tuple[int, int]] = []
                for p in patterns:
                    if p not in found[i]:
                        found[i][p] = find_spans(text, self.patterns[p])
                    spans.extend(found[i][p])
                if not spans:
                    continue
                if len(patterns) > 1:
                    spans.sort()
                if min_digits > 4:
                    spans = [s for s in spans if count_digits(text, *s) >= min_digits]
                if gate is not None:
                    context = self.context[gate.entity]
                    spans = [s for s in spans if gate.passes(text, s, context)]
                for start, end in windows(text, spans):
                    chunks.append(text[start:end])
                    where.append((i, start))
            for lo in range(0, len(chunks), WINDOWS_PER_CALL):
                self._analyze(
                    chunks[lo : lo + WINDOWS_PER_CALL],
                    where[lo : lo + WINDOWS_PER_CALL],
                    names,
                    recognizers,
                    hits,
                )
        return hits

    def _analyze(
        self, chunks: list[str], where: list[tuple[int, int]], names: list[str], recognizers, hits
    ) -> None:
        joined = "\n".join(chunks)
        starts, pos = [], 0
        for chunk in chunks:
            starts.append(pos)
            pos += len(chunk) + 1
        self.counters["windows"] += len(chunks)
        self.counters["window_chars"] += len(joined) - len(chunks) + 1
        for entity in names:
            for recognizer in recognizers[entity]:
                phone_word = isinstance(recognizer, PhoneContextRecognizer)
                for r in recognizer.analyze(joined, [entity], None):
                    k = bisect_right(starts, r.start) - 1
                    doc, offset = where[k]
                    shift = offset - starts[k]
                    hits[doc].append(Hit(r.entity_type, r.start + shift, r.end + shift, r.score, phone_word))

    def scan(self, texts: list[str], extra: list[list[Hit]] | None = None) -> list[Found]:
        """Scored, allow-listed, resolved detections of each text (`extra`: NER results)."""
        raw = self.detect(texts)
        return [
            self._decide(text, hits + (extra[i] if extra else []))
            for i, (text, hits) in enumerate(zip(texts, raw, strict=True))
        ]

    def _decide(self, text: str, raw: list[Hit]) -> Found:
        keep: list[Hit] = []
        allowed: dict[tuple[int, int], str] = {}
        for hit in raw:
            # numbers no numbering plan accepts count only after a phone word on their line
            # ("Traceback (most recent call last):" is followed by numbers in code and docs)
            if hit.phone_word and not self.phone_words.found_before(text, hit.start, same_line=True):
                continue
            threshold = self.thresholds[hit.entity]
            score = hit.score
            if score < threshold and self.context[hit.entity].found_before(text, hit.start):
                score = boosted(score)
            if score < threshold:
                continue
            if self.allow.allows(hit.entity, text[hit.start : hit.end]):
                allowed[(hit.start, hit.end)] = hit.entity
            else:
                keep.append(hit)
        return Found(resolve(keep), Counter(allowed.values()))
