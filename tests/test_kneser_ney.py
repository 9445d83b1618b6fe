"""Kneser-Ney estimation (stages/quality/kneser_ney.py): hand-computed values, normalisation,
agreement with a plain dict restatement of the estimate, and agreement with kenlm on the ARPA."""

from __future__ import annotations

import math
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from prep.stages.quality.kneser_ney import (
    FALLBACK_DISCOUNTS,
    count_ngrams,
    estimate,
    write_arpa,
)

# --------------------------------------------------------------------------------------------
# Helpers: real English text, an ARPA reader and the textbook ARPA backoff query.
# --------------------------------------------------------------------------------------------


def pydoc_sentences() -> list[list[str]]:
    """The Python reference manual's topic pages, split into sentences and whitespace tokens."""
    import pydoc_data.topics

    sentences = []
    for key in sorted(pydoc_data.topics.topics):
        for para in re.split(r"\n\s*\n", pydoc_data.topics.topics[key]):
            text = " ".join(para.split())
            sentences += [s.split() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if s]
    return sentences


def train_arpa(sentences, order: int, path: Path):
    """Count, estimate and write `path` in one go, as `prep lm train` does after tokenizing."""
    model = estimate(count_ngrams(sentences, order))
    write_arpa(model, path)
    return model


def read_arpa(path: Path) -> tuple[dict[int, int], dict[tuple[str, ...], tuple[float, float]]]:
    """Header counts and {n-gram: (log10 prob, log10 backoff)} of an ARPA file."""
    header, grams, section = {}, {}, 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := re.fullmatch(r"ngram (\d+)=(\d+)", line):
            header[int(m[1])] = int(m[2])
        elif m := re.fullmatch(r"\\(\d+)-grams:", line):
            section = int(m[1])
        elif section and line and not line.startswith("\\"):
            fields = line.split("\t")
            assert len(fields) == (2 if section == len(header) else 3), line
            words = tuple(fields[1].split(" "))
            assert len(words) == section, line
            grams[words] = (float(fields[0]), float(fields[2]) if len(fields) == 3 else 0.0)
    return header, grams


def arpa_logprob(grams: dict, order: int, word: str, context: tuple[str, ...]) -> float:
    """Textbook ARPA: P(w|h) = p(h w) if stored, else b(h) * P(w|h minus its oldest word)."""
    vocab_word = word if (word,) in grams else "<unk>"
    context = tuple(w if (w,) in grams else "<unk>" for w in context)[-(order - 1) :] if order > 1 else ()
    if (*context, vocab_word) in grams:
        return grams[(*context, vocab_word)][0]
    backoff = grams[context][1] if context in grams else 0.0
    return backoff + arpa_logprob(grams, order, vocab_word, context[1:])


# --------------------------------------------------------------------------------------------
# A corpus small enough to estimate by hand.
# --------------------------------------------------------------------------------------------

TOY = [["b", "b"], ["a", "a", "b"], ["a", "c", "b"], ["a", "b"], ["b", "a"]]
# With boundaries:  <s> b b </s> | <s> a a b </s> | <s> a c b </s> | <s> a b </s> | <s> b a </s>
#
# Bigram raw counts: <s> a 3, <s> b 2, a a 1, a b 2, a c 1, a </s> 1, b b 1, b a 1, b </s> 4, c b 1
# Unigram continuation counts (distinct left neighbours):
#   a: {<s>, a, b} = 3    b: {<s>, a, b, c} = 4    c: {a} = 1    </s>: {a, b} = 2
#   <s> and <unk>: 0 (never predicted / never seen).  Sum = 10.
# Vocabulary for the uniform distribution: a, b, c, </s>, <unk>  → |V| = 5.


def test_toy_bigram_discounts_by_hand():
    model = estimate(count_ngrams(TOY, 2))
    # Order 2 (raw counts): n1 = 6 (a a, a c, a </s>, b b, b a, c b), n2 = 2 (<s> b, a b),
    # n3 = 1 (<s> a), n4 = 1 (b </s>).  Y = 6 / (6 + 2*2) = 0.6
    #   D1  = 1 - 2 * 0.6 * 2/6 = 0.6
    #   D2  = 2 - 3 * 0.6 * 1/2 = 1.1
    #   D3+ = 3 - 4 * 0.6 * 1/1 = 0.6
    assert model.discounts[1] == pytest.approx((0.6, 1.1, 0.6))
    # Order 1 (continuation counts 3, 4, 1, 2): n1 = n2 = n3 = n4 = 1.  Y = 1 / (1 + 2) = 1/3
    #   D1 = 1 - 2/3 = 1/3,  D2 = 2 - 3 * 1/3 = 1,  D3+ = 3 - 4 * 1/3 = 5/3
    assert model.discounts[0] == pytest.approx((1 / 3, 1.0, 5 / 3))
    assert model.fallback_orders == ()


def test_toy_unigram_probabilities_by_hand():
    model = estimate(count_ngrams(TOY, 2))
    # gamma() = (D1*n1 + D2*n2 + D3+*n3+) / 10 with n1 = 1 (c), n2 = 1 (</s>), n3+ = 2 (a, b)
    #         = (1/3 + 1 + 2 * 5/3) / 10 = 7/15;  uniform share gamma/|V| = 7/75
    # p(a)    = (3 - 5/3) / 10 + 7/75 = 10/75 + 7/75 = 17/75
    # p(c)    = (1 - 1/3) / 10 + 7/75 =  5/75 + 7/75 = 12/75
    # p(</s>) = (2 - 1)   / 10 + 7/75 = 29/150
    # p(<unk>) = 7/75 (uniform share only)
    assert model.logprob("a") == pytest.approx(math.log10(17 / 75), abs=1e-9)
    assert model.logprob("c") == pytest.approx(math.log10(12 / 75), abs=1e-9)
    assert model.logprob("</s>") == pytest.approx(math.log10(29 / 150), abs=1e-9)
    assert model.logprob("<unk>") == pytest.approx(math.log10(7 / 75), abs=1e-9)
    assert model.logprob("never-seen") == model.logprob("<unk>")
    assert model.logprob("<s>") == -99.0


def test_toy_bigram_probabilities_by_hand(tmp_path):
    model = train_arpa(TOY, 2, tmp_path / "toy.arpa")
    p_b = (4 - 5 / 3) / 10 + 7 / 75  # = 49/150, unigram as above
    # Context a: a a 1, a b 2, a c 1, a </s> 1 → denominator 5, n1 = 3, n2 = 1.
    #   gamma(a) = (0.6*3 + 1.1*1) / 5 = 0.58
    #   P(b | a) = (2 - 1.1) / 5 + 0.58 * 49/150 = 0.18 + 0.189466... = 0.369466...
    assert p_b == pytest.approx(49 / 150)
    assert model.logprob("b", ("a",)) == pytest.approx(math.log10(0.18 + 0.58 * p_b), abs=1e-9)
    # Context <s>: <s> a 3, <s> b 2 → gamma(<s>) = (1.1 + 0.6) / 5 = 0.34
    #   P(b | <s>) = (2 - 1.1) / 5 + 0.34 * 49/150
    assert model.logprob("b", ("<s>",)) == pytest.approx(math.log10(0.18 + 0.34 * p_b), abs=1e-9)
    # Unseen bigram c a: context c has only c b (count 1) → gamma(c) = 0.6 / 1, so
    #   P(a | c) = 0.6 * p(a) = 0.6 * 17/75, i.e. the ARPA backoff of c is log10(0.6)
    assert model.logprob("a", ("c",)) == pytest.approx(math.log10(0.6 * 17 / 75), abs=1e-9)
    header, grams = read_arpa(tmp_path / "toy.arpa")
    assert header == {1: 6, 2: 10}
    assert grams[("a",)][1] == pytest.approx(math.log10(0.58), abs=1e-6)
    assert grams[("c",)][1] == pytest.approx(math.log10(0.6), abs=1e-6)
    assert grams[("a", "b")][0] == pytest.approx(math.log10(0.18 + 0.58 * p_b), abs=1e-6)
    assert grams[("<s>",)][0] == -99.0
    # Sentence score = sum of its conditional probabilities, </s> included.
    expected = model.logprob("a", ("<s>",)) + model.logprob("b", ("<s>", "a"))
    expected += model.logprob("</s>", ("<s>", "a", "b"))
    assert model.score(["a", "b"]) == pytest.approx(expected)


def test_toy_trigram_keeps_raw_counts_after_bos_and_falls_back_per_order():
    model = estimate(count_ngrams(TOY, 3))
    # Bigrams are now a lower order: continuation counts, except those starting with <s>,
    # which keep their raw counts (<s> a 3, <s> b 2):
    #   a a 1 ({<s>}), a b 2 ({<s>, a}), a c 1, a </s> 1 ({b}), b a 1, b b 1, c b 1,
    #   b </s> 3 ({a, b, c}) → n1 = 6, n2 = 2, n3 = 2, n4 = 0.  Y = 0.6
    #   D1 = 1 - 2*0.6*2/6 = 0.6,  D2 = 2 - 3*0.6*2/2 = 0.2,  D3+ = 3 - 4*0.6*0/2 = 3
    # (with continuation counts for <s> a and <s> b, n2 and n3 would both be 1).
    assert model.discounts[1] == pytest.approx((0.6, 0.2, 3.0))
    # Trigrams: ten seen once, a b </s> twice, none three times → n3 = 0 → fallback there only.
    assert model.fallback_orders == (3,)
    assert model.used_fallback
    assert model.discounts[2] == FALLBACK_DISCOUNTS
    # P(b | <s> a): <s> a a, <s> a b, <s> a c once each → (1 - 0.5)/3, gamma = 0.5*3/3 = 0.5.
    # Lower order, context a with the order-3 bigram discounts: a a 1, a b 2, a c 1, a </s> 1
    #   gamma(a) = (0.6*3 + 0.2*1) / 5 = 0.4;  P(b | a) = (2 - 0.2)/5 + 0.4 * 49/150
    p_b_a = 1.8 / 5 + 0.4 * 49 / 150
    assert model.logprob("b", ("<s>", "a")) == pytest.approx(math.log10(0.5 / 3 + 0.5 * p_b_a), abs=1e-9)


# --------------------------------------------------------------------------------------------
# Real text.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> tuple[list[list[str]], list[list[str]]]:
    """(train, held-out): every tenth sentence of the reference manual is held out."""
    sentences = pydoc_sentences()
    return [s for i, s in enumerate(sentences) if i % 10], [s for i, s in enumerate(sentences) if not i % 10]


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """An order-4 model of the training part, its ARPA path, and the ARPA read back."""
    path = tmp_path_factory.mktemp("lm") / "pydoc.4.arpa"
    model = train_arpa(corpus[0], 4, path)
    return model, path, read_arpa(path)


def test_real_text_trains_without_fallback(trained, corpus):
    model, _, (header, grams) = trained
    assert sum(map(len, corpus[0])) > 50_000
    assert model.fallback_orders == ()
    assert header == dict(enumerate(model.sizes(), start=1))
    assert len(grams) == sum(model.sizes())
    for d1, d2, d3 in model.discounts:
        assert 0 < d1 < 1 < d2 < 2 and 0 < d3 < 3


def test_distribution_sums_to_one_for_every_context(trained):
    """Every stored context (orders 1..3) and the empty one: sum over the vocabulary is 1.

    Exact for all contexts through the backoff identity
        sum_w P(w|h) = sum_{w seen after h} p(h w) + b(h) * (1 - sum_{w seen after h} P(w|h'))
    given that h' (h without its oldest word) already sums to 1; by brute force over the whole
    vocabulary for a seeded sample of contexts."""
    model, _, (_, grams) = trained
    vocab = [g[0] for g in grams if len(g) == 1 and g[0] != "<s>"]
    unigram_sum = sum(10 ** grams[(w,)][0] for w in vocab)
    assert unigram_sum == pytest.approx(1.0, abs=1e-4)

    extensions = defaultdict(list)
    for gram in grams:
        if len(gram) > 1:
            extensions[gram[:-1]].append(gram[-1])
    contexts = [g for g in grams if len(g) < model.order]
    assert len(contexts) > 50_000
    worst = (0.0, ())
    for context in contexts:
        seen = extensions.get(context, [])
        kept = sum(10 ** grams[(*context, w)][0] for w in seen)
        lower = sum(10 ** arpa_logprob(grams, model.order, w, context[1:]) for w in seen)
        total = kept + 10 ** grams[context][1] * (1.0 - lower)
        worst = max(worst, (abs(total - 1.0), context))
    assert worst[0] < 1e-4, worst

    rng = random.Random(1234)
    sample = [(), *rng.sample([c for c in contexts if extensions.get(c)], 9)]
    for context in sample:
        total = sum(10 ** arpa_logprob(grams, model.order, w, context) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-4), context


def reference_estimate(sentences: list[list[str]], order: int):
    """The same estimate restated with dicts of word tuples, one formula at a time."""
    raw = [Counter() for _ in range(order)]
    for sentence in sentences:
        words = ["<s>", *sentence, "</s>"]
        for k in range(1, order + 1):
            raw[k - 1].update(tuple(words[i : i + k]) for i in range(len(words) - k + 1))
    adjusted = []
    for k in range(1, order + 1):
        if k == order:
            adjusted.append(dict(raw[k - 1]))
        else:
            left = Counter(gram[1:] for gram in raw[k])  # distinct left extensions
            adjusted.append({g: c if g[0] == "<s>" else left[g] for g, c in raw[k - 1].items()})
    adjusted[0][("<s>",)] = 0
    adjusted[0].setdefault(("<unk>",), 0)
    vocab_size = len(adjusted[0]) - 1  # without <s>

    discounts = []
    for counts in adjusted:
        n = Counter(counts.values())
        d = FALLBACK_DISCOUNTS
        if n[1] and n[2] and n[3]:
            y = n[1] / (n[1] + 2 * n[2])
            guess = tuple(j - (j + 1) * y * n[j + 1] / n[j] for j in (1, 2, 3))
            if all(0 <= guess[j - 1] <= j for j in (1, 2, 3)):
                d = guess
        discounts.append(d)

    prob, backoff = {}, {}
    for k in range(1, order + 1):
        d = discounts[k - 1]

        def discount(c: int, d=d) -> float:
            return 0.0 if c == 0 else d[min(c, 3) - 1]

        denominator, mass = defaultdict(float), defaultdict(float)
        for gram, c in adjusted[k - 1].items():
            denominator[gram[:-1]] += c
            mass[gram[:-1]] += discount(c)
        for gram, c in adjusted[k - 1].items():
            gamma = mass[gram[:-1]] / denominator[gram[:-1]]
            lower = 1 / vocab_size if k == 1 else prob[gram[1:]]
            prob[gram] = (c - discount(c)) / denominator[gram[:-1]] + gamma * lower
        if k > 1:
            backoff.update({h: mass[h] / denominator[h] for h in denominator})
    return prob, backoff, discounts


def test_matches_dict_restatement_of_the_estimate(corpus, tmp_path):
    sentences = corpus[0][:2000]
    model = train_arpa(sentences, 4, tmp_path / "ref.arpa")
    prob, backoff, discounts = reference_estimate(sentences, 4)
    _, grams = read_arpa(tmp_path / "ref.arpa")
    assert set(grams) == set(prob)
    for got, want in zip(model.discounts, discounts, strict=True):
        assert got == pytest.approx(want)
    worst = (0.0, ())
    for gram, (lp, lb) in grams.items():
        want_p = -99.0 if gram == ("<s>",) else math.log10(prob[gram])
        worst = max(worst, (abs(lp - want_p), gram), (abs(lb - math.log10(backoff.get(gram, 1.0))), gram))
    assert worst[0] < 2e-6, worst


def test_kenlm_agrees_on_held_out_text(trained, corpus):
    kenlm = pytest.importorskip("kenlm")
    model, path, _ = trained
    lm = kenlm.Model(str(path))
    assert lm.order == 4
    held_out = [*corpus[1][:300], ["Zyxwv", "qwertyuiop", "is", "not", "a", "word."], []]
    oov = 0
    for sentence in held_out:
        history = ["<s>"]
        scored = zip(lm.full_scores(" ".join(sentence)), [*sentence, "</s>"], strict=True)
        for (k_prob, _, k_oov), word in scored:
            assert model.logprob(word, tuple(history)) == pytest.approx(k_prob, abs=1e-4), (sentence, word)
            oov += k_oov
            history.append(word)
        for bos, eos in ((True, True), (False, True), (True, False), (False, False)):
            want = lm.score(" ".join(sentence), bos=bos, eos=eos)
            assert model.score(sentence, bos=bos, eos=eos) == pytest.approx(
                want, abs=1e-4 * (1 + len(sentence))
            )
    assert oov > 20  # the comparison covered unknown words


def test_kenlm_state_after_unknown_word_matches(trained):
    """Context containing an unknown word: nothing stored spans it, so the model backs off past it."""
    kenlm = pytest.importorskip("kenlm")
    model, path, _ = trained
    lm = kenlm.Model(str(path))
    words = ["the", "Zyxwv", "of", "the", "object"]
    scores = [p for p, _, _ in lm.full_scores(" ".join(words), bos=False, eos=False)]
    ours = [model.logprob(w, tuple(words[:i])) for i, w in enumerate(words)]
    assert ours == pytest.approx(scores, abs=1e-4)
    assert model.logprob("of", ("the", "Zyxwv")) == pytest.approx(model.logprob("of", ("<unk>",)))


# --------------------------------------------------------------------------------------------
# Edge cases.
# --------------------------------------------------------------------------------------------


def test_tiny_corpus_uses_and_flags_fallback_discounts():
    model = estimate(count_ngrams([["a", "b"], ["b", "a"]], 2))
    # Bigrams <s> a, a b, b </s>, <s> b, b a, a </s> are all seen once: n2 = 0.
    assert model.fallback_orders == (1, 2)
    assert model.used_fallback
    assert model.discounts == (FALLBACK_DISCOUNTS, FALLBACK_DISCOUNTS)
    vocab = ["a", "b", "</s>", "<unk>"]
    for context in ((), ("a",), ("b",), ("<s>",)):
        assert sum(10 ** model.logprob(w, context) for w in vocab) == pytest.approx(1.0)


def test_order_one(tmp_path):
    model = train_arpa([["a", "b", "a"], ["c"]], 1, tmp_path / "uni.arpa")
    # Raw counts a 2, b 1, c 1, </s> 2 (order 1 is the top order); <s> gets nothing.
    assert model.sizes() == [6]
    assert sum(10 ** model.logprob(w) for w in ("a", "b", "c", "</s>", "<unk>")) == pytest.approx(1.0)
    assert model.logprob("a", ("b",)) == model.logprob("a")
    assert model.score(["a", "c"]) == pytest.approx(
        model.logprob("a") + model.logprob("c") + model.logprob("</s>")
    )
    header, grams = read_arpa(tmp_path / "uni.arpa")
    assert header == {1: 6}
    assert grams[("a",)][0] == pytest.approx(model.logprob("a"), abs=1e-6)
    # (kenlm's query code refuses order-1 models; SRILM-style readers take them.)


@pytest.mark.parametrize("sentences", [[], [[], []]], ids=["no-sentences", "only-empty-sentences"])
def test_empty_input_is_a_clear_error(sentences):
    with pytest.raises(ValueError, match="no tokens"):
        count_ngrams(sentences, 3)
    with pytest.raises(ValueError, match="no tokens"):
        count_ngrams(iter(sentences), 3)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="order"):
        count_ngrams([["a"]], 0)
    with pytest.raises(ValueError, match="<s>"):
        count_ngrams([["a", "<s>", "b"]], 2)
    with pytest.raises(ValueError, match="whitespace"):
        count_ngrams([["a b"]], 2)
    with pytest.raises(ValueError, match="whitespace"):
        count_ngrams([["a", ""]], 2)
    with pytest.raises(TypeError, match="list of tokens"):
        count_ngrams(["a b c"], 2)


def test_orders_longer_than_every_sentence(tmp_path):
    model = train_arpa([["a"], ["b"], ["a"]], 5, tmp_path / "short.arpa")
    assert model.sizes()[3:] == [0, 0]
    assert read_arpa(tmp_path / "short.arpa")[0] == {1: 5, 2: 4, 3: 2, 4: 0, 5: 0}
    assert sum(10 ** model.logprob(w, ("<s>",)) for w in ("a", "b", "</s>", "<unk>")) == pytest.approx(1.0)


def test_write_is_atomic(tmp_path, monkeypatch):
    from prep.stages.quality import kneser_ney

    model = estimate(count_ngrams(TOY, 2))
    path = tmp_path / "lm.arpa"
    path.write_text("old")

    def broken(model, out):
        out.write("\\data\\\n")
        raise OSError("disk full")

    monkeypatch.setattr(kneser_ney, "_write_body", broken)
    with pytest.raises(OSError, match="disk full"):
        write_arpa(model, path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["lm.arpa"]
    monkeypatch.undo()
    write_arpa(model, path)
    assert read_arpa(path)[0] == {1: 6, 2: 10}
    assert [p.name for p in tmp_path.iterdir()] == ["lm.arpa"]
