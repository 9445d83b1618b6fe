"""MinHash kernel: bit-exact with datasketch (affine64), normalisation, Jaccard, LSH parameters.

Real English prose comes from ``pydoc_data.topics`` (the Python reference docs shipped with the
interpreter); no Ray, no network.
"""

from __future__ import annotations

import itertools
import pickle
import random
import subprocess
import sys
import unicodedata
from pydoc_data.topics import topics

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from prep.stages.dedup.banding import band_hashes, optimal_bands_rows
from prep.stages.dedup.hashes import MAX_HASH, shingle_hash, word_hash
from prep.stages.dedup.minhash import MinHasher
from prep.stages.dedup.normalise import Normalizer, unstable_code_points

TOPICS = [topics[k] for k in sorted(topics)]


def estimate_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Fraction of equal signature values (datasketch's estimator), row-wise for 2-D inputs."""
    return (np.asarray(a) == np.asarray(b)).mean(axis=-1)


# Short and odd documents next to real prose: fewer words than n, long tokens, non-ASCII,
# nothing left after normalisation.
ODD = [
    "for loop",
    "Hello, World!",
    "x" * 100 + " " + "y" * 17 + " then a tail of words",
    "Ünïcödé straße — “quoted” ﬁne ① ② Ωmega ΟΔΟΣ…",
    "!!! ... ---",
    "",
]


def datasketch_signature(mh: MinHasher, text: str) -> np.ndarray:
    m = MinHash(num_perm=mh.num_perm, seed=mh.seed, hashfunc=shingle_hash, scheme="affine64")
    m.update_batch(mh.shingles(text))
    return m.hashvalues


def reference_words(text: str, form: str = "NFKC") -> list[str]:
    """The default normalisation spelt out character by character."""
    out = []
    for ch in unicodedata.normalize(form, text):
        cat = unicodedata.category(ch)
        if ch.isspace():
            out.append(" ")
        elif cat[0] not in "PS" and cat not in ("Cc", "Cf", "Cs"):
            out.append(ch.lower()[0])
    return "".join(out).split()


def mutate(text: str, fraction: float, seed: int) -> str:
    """Replace a fraction of the words of ``text`` by words of other reference topics."""
    rng = random.Random(seed)
    words = text.split()
    vocab = topics["typesseq"].split() + topics["specialnames"].split()
    for i in rng.sample(range(len(words)), int(fraction * len(words))):
        words[i] = rng.choice(vocab)
    return " ".join(words)


@pytest.mark.parametrize(("num_perm", "seed", "ngram"), [(112, 1, 5), (64, 7, 3), (128, 42, 1), (17, 3, 9)])
def test_signatures_equal_datasketch(num_perm: int, seed: int, ngram: int) -> None:
    texts = TOPICS[::3] + ODD
    mh = MinHasher(num_perm=num_perm, ngram=ngram, seed=seed)
    sigs, counts = mh.signatures(texts)
    assert sigs.shape == (len(texts), num_perm) and sigs.dtype == np.uint64
    for text, sig, count in zip(texts, sigs, counts, strict=True):
        assert count == len(mh.shingles(text))
        np.testing.assert_array_equal(sig, datasketch_signature(mh, text))
    assert counts[-len(ODD)] == max(1, 3 - ngram)  # "for loop": one shingle of both words if ngram >= 2


def test_datasketch_kwargs_reproduce_signature() -> None:
    mh = MinHasher()
    m = MinHash(**mh.datasketch_kwargs)
    m.update_batch(mh.shingles(TOPICS[0]))
    np.testing.assert_array_equal(m.hashvalues, mh.signature(TOPICS[0]))


def test_shingle_hashes_equal_scalar_hash() -> None:
    mh = MinHasher(ngram=4)
    for text in TOPICS[:10] + ODD:
        assert mh.shingle_hashes(text).tolist() == [shingle_hash(s) for s in mh.shingles(text)]


def test_chunks_and_groups_do_not_change_signatures() -> None:
    """Documents longer than a permutation chunk or a hashing group are folded in exactly."""
    texts = [*TOPICS[:20], "\n".join(TOPICS[20:40]), *ODD]
    tiny = MinHasher()
    tiny.chunk_shingles, tiny.group_bytes, tiny.perm_group = 100, 500, 3
    sigs, counts = MinHasher().signatures(texts)
    tiny_sigs, tiny_counts = tiny.signatures(texts)
    np.testing.assert_array_equal(sigs, tiny_sigs)
    np.testing.assert_array_equal(counts, tiny_counts)
    np.testing.assert_array_equal(sigs[20], datasketch_signature(tiny, texts[20]))


def test_estimated_jaccard_tracks_true_jaccard() -> None:
    mh = MinHasher(num_perm=112)
    base = "\n".join(TOPICS[:6])
    copies = [mutate(base, f, seed=i) for i, f in enumerate([0.0, 0.01, 0.03, 0.08, 0.15, 0.3, 0.6])]
    sigs, _ = mh.signatures([base, *copies])
    true = [mh.jaccard(base, c) for c in copies]
    est = estimate_jaccard(sigs[0], sigs[1:])
    assert true[0] == 1.0 and est[0] == 1.0
    assert all(a > b for a, b in itertools.pairwise(true))  # spans similarity levels
    assert true[-1] < 0.1
    np.testing.assert_allclose(est, true, atol=0.1)


def test_normalisation_variants_give_identical_signatures() -> None:
    text = TOPICS[5][:3000]
    variants = [
        text.upper(),
        "  " + "\n\t ".join(text.split()) + " \r\n",
        text.replace(".", "!").replace(" the ", " the, "),
        text.replace(" ", "\u00a0"),  # no-break spaces (NFKC -> space)
        text.replace("a", "\uff41"),  # full-width a (NFKC -> a)
        text.replace("in", "i\u00adn"),  # soft hyphen is invisible
        text.replace("'", "\u2019"),  # typographic apostrophe is punctuation too
    ]
    mh = MinHasher()
    sigs, counts = mh.signatures([text, *variants])
    for sig, count in zip(sigs[1:], counts[1:], strict=True):
        np.testing.assert_array_equal(sig, sigs[0])
        assert count == counts[0]
    words = text.split()
    edited = " ".join([*words[:40], "xylophone", *words[41:]])
    edited_sig = mh.signature(edited)
    assert not np.array_equal(edited_sig, sigs[0])
    assert 0.5 < estimate_jaccard(edited_sig, sigs[0]) < 1.0


def test_empty_and_whitespace_only_documents() -> None:
    mh = MinHasher(num_perm=32)
    empties = ["", "   \n\t  ", "!!! ... ---", "\u200b\u00ad", "\u3000\u2028"]
    texts = [TOPICS[1], *empties, TOPICS[2]]
    sigs, counts = mh.signatures(texts)
    assert counts[1:-1].tolist() == [0] * len(empties)
    assert (sigs[1:-1] == MAX_HASH).all()
    np.testing.assert_array_equal(sigs[1], MinHash(num_perm=32, scheme="affine64").hashvalues)
    np.testing.assert_array_equal(sigs[0], mh.signature(TOPICS[1]))
    np.testing.assert_array_equal(sigs[-1], mh.signature(TOPICS[2]))
    assert mh.shingle_hashes("  ").size == 0 and mh.shingles("  ") == []
    assert mh.jaccard("", "  ") == 1.0 and mh.jaccard("", "one") == 0.0
    assert mh.signatures([])[0].shape == (0, 32)


def test_hashes_are_frozen_and_unsalted() -> None:
    """Fixed values: a change to the hashing or the permutations must be deliberate."""
    assert word_hash("hello") == 7247708755373971554
    assert shingle_hash("hello world") == 17091679637038897786
    text = "The quick brown fox jumps over the lazy dog."
    expected = [6567140850757873958, 4998111819565144082, 2690716508773341603, 315881101351402210]
    assert MinHasher().signature(text)[:4].tolist() == expected
    code = (
        "from prep.stages.dedup.minhash import MinHasher; "
        f"print(MinHasher().signature({text!r})[:4].tolist())"
    )
    for hash_seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
        ).stdout
        assert out.strip() == str(expected)


def test_normaliser_matches_reference() -> None:
    crafted = (
        "Ünïcödé STRASSE straße — “quoted” ﬁne ①② İstanbul ΟΔΟΣ… e\u0301 a\u0308\u0323 가\u11a8 x\u2028y"
    )
    texts = [*[t for t in TOPICS if not t.isascii()][:10], crafted]
    norm = Normalizer()
    for text in texts:
        assert norm.words(text) == reference_words(text)


@pytest.mark.parametrize(
    "norm",
    [
        Normalizer(),
        Normalizer(punctuation="space", digits="zero"),
        Normalizer(lowercase=False, digits="remove", strip_invisible=False),
        Normalizer(punctuation="keep", unicode_form=None),
    ],
)
def test_ascii_fast_path_agrees_with_unicode_path(norm: Normalizer) -> None:
    every_ascii = "".join(map(chr, range(128)))
    for text in [every_ascii, every_ascii[::-1], TOPICS[0], "Don't stop: 3.14, x_y@z.com"]:
        assert text.isascii()
        assert norm.words(text + " \u00e9") == [*norm.words(text), "\u00e9"]


def test_partial_normalisation_equals_whole() -> None:
    """NFKC/NFD of only the stretches around unstable characters equals normalising it all."""
    rng = random.Random(0)
    tricky = [chr(c) for c in range(0x300, 0x370)] + [chr(c) for c in range(0x1100, 0x1113)]
    tricky += [chr(c) for c in (*range(0x1161, 0x1176), *range(0x11A8, 0x11C3))]
    tricky += list("\u2026½ﬁ①가\u0bc6\u0bbe\u0b47\u0b3e\u09c7\u09be\u212b\u1e9b\u0344ｱﾞ")
    for form in ("NFKC", "NFC", "NFD", "NFKD"):
        norm = Normalizer(unicode_form=form)
        flags = unstable_code_points(form)
        for _ in range(300):
            middle = "".join(rng.choice(tricky if rng.random() < 0.6 else "aeo nA") for _ in range(8))
            text = "plain words " * 20 + middle + " and more" * 20
            cps = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
            assert norm._normalize_unstable(text, flags[cps]) == unicodedata.normalize(form, text)


def test_pickle_leaves_tables_out() -> None:
    mh = MinHasher()
    sig = mh.signature(TOPICS[3] + " é")  # builds the 4.4 MB code point table
    blob = pickle.dumps(mh)
    assert len(blob) < 20_000
    np.testing.assert_array_equal(pickle.loads(blob).signature(TOPICS[3] + " é"), sig)


@pytest.mark.parametrize(
    ("threshold", "num_perm"), [(0.5, 64), (0.8, 112), (0.7, 128), (0.9, 100), (0.3, 32)]
)
def test_optimal_bands_rows_equals_datasketch(threshold: float, num_perm: int) -> None:
    assert optimal_bands_rows(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_optimal_bands_rows_weights() -> None:
    assert optimal_bands_rows(0.8, 128, 0.2, 0.8) == _optimal_param(0.8, 128, 0.2, 0.8)


def test_band_hashes() -> None:
    sig = np.arange(12, dtype=np.uint64).reshape(2, 6)
    keys = band_hashes(sig, bands=3, rows=2)
    assert keys.dtype == np.uint64 and keys.shape == (2, 3)
    assert keys[0].tolist() == [7488661294739227847, 16465341696952355422, 14413171777402147107]
    same = np.zeros((2, 4), dtype=np.uint64)
    same[1, 0] = 1
    k = band_hashes(same, bands=2, rows=2)
    assert k[0, 0] != k[0, 1]  # equal values in different bands: different keys
    assert k[0, 1] == k[1, 1] and k[0, 0] != k[1, 0]
    with pytest.raises(ValueError):
        band_hashes(sig, bands=4, rows=2)


def test_lsh_keys_find_near_duplicates() -> None:
    mh = MinHasher()
    b, r = optimal_bands_rows(0.8, mh.num_perm)
    base = TOPICS[10]
    sigs, _ = mh.signatures([base, mutate(base, 0.01, seed=1), TOPICS[11]])
    keys = band_hashes(sigs, b, r)
    assert (keys[0] == keys[1]).any()
    assert not (keys[0] == keys[2]).any()
