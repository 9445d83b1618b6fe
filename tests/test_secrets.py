"""Secrets in code (`pii.secrets`): real-looking credentials planted in real code (standard
library and installed packages' sources), each type found and replaced by <SECRET>, private
keys as whole blocks, clean code left alone, the domain gate, config errors naming the key,
no value in counts, errors or logs, and the stage end to end through Ray."""

from __future__ import annotations

import base64
import gzip
import json
import random
import sysconfig
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pytest
from conftest import write_config

from prep.cli import main
from prep.pipeline.config import load_config
from prep.pipeline.runner import run
from prep.stages.pii import Config, Stage
from prep.stages.pii.config import SECRET_TYPES
from prep.stages.pii.engine import Scrubber
from prep.stages.pii.rejected import ScrubRejected
from prep.stages.pii.secrets import TYPES, SecretsDetector, entity


def _jwt() -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
    claims = json.dumps({"sub": "4821937", "iat": 1716239022, "role": "admin"}).encode()
    return f"{part(header)}.{part(claims)}.{part(bytes(range(7, 39)))}"


JWT = _jwt()
#: (type, a line of code as people write it, the secret in it): values in each type's real format.
PLANTED = [
    ("aws_key", 'AWS_ACCESS_KEY_ID = "AKIAZ7Q4M2XK9PLR3TYB"', "AKIAZ7Q4M2XK9PLR3TYB"),
    (
        "aws_key",
        'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8kR2nT5v"',
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8kR2nT5v",
    ),
    (
        "github_token",
        'gh = Github(login_or_token="ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8")',
        "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    ),
    (
        "gitlab_token",
        'gl = gitlab.Gitlab(URL, private_token="glpat-xY3kP9qR2mN8vL5tW1zB")',
        "glpat-xY3kP9qR2mN8vL5tW1zB",
    ),
    (
        "slack_token",
        'SLACK_BOT_TOKEN = "xoxb-109454187955-2583593334485-TtLaQEq3QYojp3kfqzmik0J9"',
        "xoxb-109454187955-2583593334485-TtLaQEq3QYojp3kfqzmik0J9",
    ),
    (
        "slack_token",
        'WEBHOOK = "https://hooks.slack.com/services/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"',
        "https://hooks.slack.com/services/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",
    ),
    ("stripe_key", 'stripe.api_key = "sk_live_dBMmho2SEylRioNgSwuGCZX3"', "sk_live_dBMmho2SEylRioNgSwuGCZX3"),
    (
        "twilio_key",
        'TWILIO_ACCOUNT_SID = "ACcfe37b12756d4ccb21eb9bab03c981f8"',
        "ACcfe37b12756d4ccb21eb9bab03c981f8",
    ),
    (
        "google_api_key",
        'GOOGLE_API_KEY = "AIzaSyB3xK9pQ2mN7vL4tW8zR1cF6hJ0dG5sE2y"',
        "AIzaSyB3xK9pQ2mN7vL4tW8zR1cF6hJ0dG5sE2y",
    ),
    ("jwt", f'session = {{"user": "app", "jwt": "{JWT}"}}', JWT),
    ("basic_auth", 'BROKER = "amqp://worker:Vq3xTz9LpWk2@mq.internal:5672//"', "Vq3xTz9LpWk2"),
    ("keyword", 'conn = connect(host="db.internal", user="app", password="Tr0ub4dor&3")', "Tr0ub4dor&3"),
    (
        "high_entropy",
        'auth_token = "531731fb57f1deb856f7ea635513d36c7c2dbeed"',
        "531731fb57f1deb856f7ea635513d36c7c2dbeed",
    ),
]
#: Standard-library modules whose source the PII stage leaves as it is (no e-mail, no IP):
#: planted secrets are the only change expected in them.
MODULES = ("heapq", "bisect", "keyword", "colorsys", "fnmatch", "shlex", "glob", "queue")


def _batch(texts: list[str], domain: str = "code", **columns) -> pa.Table:
    n = len(texts)
    data = {"id": [f"d{i}" for i in range(n)], "text": texts, "source": ["s"] * n, "domain": [domain] * n}
    return pa.table({**data, **columns})


def _stage(**cfg) -> Stage:
    stage = Stage(Config(**cfg))
    stage.setup()
    return stage


def _texts(stage: Stage, texts: list[str], domain: str = "code") -> list[str]:
    return stage.process(_batch(texts, domain)).table.column("text").to_pylist()


@pytest.fixture(scope="module")
def real_code() -> list[str]:
    """Real code the stage leaves unchanged (checked: it is the baseline of every test here)."""
    import importlib

    texts = [Path(importlib.import_module(m).__file__).read_text() for m in MODULES]
    stage = _stage()
    out = _texts(stage, texts)
    clean = [t for t, o in zip(texts, out, strict=True) if t == o]
    assert len(clean) >= 5
    return clean


def _plant(code: str, line: str, rng: random.Random) -> tuple[str, int]:
    """`line` inserted before a random top-level statement of `code`; the insertion offset."""
    starts = [0] + [i + 1 for i, c in enumerate(code) if c == "\n" and code[i + 1 : i + 2].isalpha()]
    at = rng.choice(starts)
    return code[:at] + line + "\n" + code[at:], at


def test_every_type_is_replaced_in_real_code_and_nothing_else_changes(real_code):
    rng = random.Random(0)
    docs, expected = [], []
    for k, (_, line, value) in enumerate(PLANTED):
        code = real_code[k % len(real_code)]
        planted, at = _plant(code, line, rng)
        docs.append(planted)
        expected.append(code[:at] + line.replace(value, "<SECRET>") + "\n" + code[at:])
    verdict = _stage(entities=["EMAIL_ADDRESS", "IP_ADDRESS"]).process(_batch(docs))
    assert verdict.table.column("text").to_pylist() == expected
    counts = [dict(c) for c in verdict.table.column("pii_counts").to_pylist()]
    for (kind, _, _), c in zip(PLANTED, counts, strict=True):
        assert c == {entity(kind): 1}, kind
    # with the PII stage's URL entity on (the default), a URL with credentials is PII too: the
    # overlap is one span named after the widest detection, the whole URL
    k = next(i for i, p in enumerate(PLANTED) if p[0] == "basic_auth")
    verdict = _stage().process(_batch(docs))
    assert verdict.table.column("text")[k].as_py() == expected[k].replace(
        "amqp://worker:<SECRET>@mq.internal:5672//", "<URL>"
    )
    assert dict(verdict.table.column("pii_counts")[k].as_py()) == {"URL": 1}
    others = [i for i in range(len(docs)) if i != k]
    assert [verdict.table.column("text")[i].as_py() for i in others] == [expected[i] for i in others]
    assert {kind for kind, _, _ in PLANTED} == {
        "aws_key",
        "github_token",
        "gitlab_token",
        "slack_token",
        "stripe_key",
        "twilio_key",
        "google_api_key",
        "jwt",
        "basic_auth",
        "keyword",
        "high_entropy",
    }  # private keys: the next test


def _private_keys() -> list[str]:
    """Real keys, freshly generated: RSA (PKCS#1), EC (PKCS#8), Ed25519 (OpenSSH)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    fmt = serialization.PrivateFormat
    keys = [
        (rsa.generate_private_key(65537, 2048), fmt.TraditionalOpenSSL),
        (ec.generate_private_key(ec.SECP256R1()), fmt.PKCS8),
        (ed25519.Ed25519PrivateKey.generate(), fmt.OpenSSH),
    ]
    enc = serialization.Encoding.PEM
    return [k.private_bytes(enc, f, serialization.NoEncryption()).decode().strip() for k, f in keys]


def test_a_private_key_block_is_replaced_whole(real_code):
    code = real_code[0]
    docs, expected = [], []
    for pem in _private_keys():
        # a triple-quoted string, and the same key in one escaped string literal
        docs.append(f'SERVER_KEY = """\n{pem}\n"""\n{code}')
        expected.append(f'SERVER_KEY = """\n<SECRET>\n"""\n{code}')
        escaped = pem.replace("\n", "\\n")
        docs.append(f'SERVER_KEY = "{escaped}\\n"\n{code}')
        expected.append(f'SERVER_KEY = "<SECRET>\\n"\n{code}')
    # a truncated file: no END line, the body lines go with the BEGIN line
    pem = _private_keys()[0]
    truncated = "\n".join(pem.splitlines()[:8])
    docs.append(f"{truncated}\n\n{code}")
    expected.append(f"<SECRET>\n\n{code}")
    verdict = _stage().process(_batch(docs))
    assert verdict.table.column("text").to_pylist() == expected
    for c in verdict.table.column("pii_counts").to_pylist():
        assert dict(c) == {"SECRET_PRIVATE_KEY": 1}


def test_key_markers_certificates_and_public_keys_are_no_secrets():
    """cryptography's own OpenSSH parser names the BEGIN/END lines as constants (no key body);
    a certificate and a public key are public."""
    import cryptography.hazmat.primitives.serialization.ssh as ssh
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    parser = Path(ssh.__file__).read_text()
    assert "-----BEGIN OPENSSH PRIVATE KEY-----" in parser
    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    detector = SecretsDetector()
    assert detector.find(parser) == []
    assert detector.find(f'PUBLIC = """\n{public}"""\n') == []


def test_a_password_in_a_config_file_is_replaced_and_the_rest_kept():
    config = (
        "; settings for the nightly export\n"
        "[database]\n"
        "host = db.internal\n"
        "port = 5432\n"
        "user = exporter\n"
        'password = "pg-Pa55word!"\n'
        "\n"
        "[cache]\n"
        "url: redis://cache.internal:6379/0\n"
        'secret: "Zq8vR2mN5xK9wL3pT7yB1cF4"\n'
    )
    out = _texts(_stage(), [config])[0]
    assert out == config.replace("pg-Pa55word!", "<SECRET>").replace("Zq8vR2mN5xK9wL3pT7yB1cF4", "<SECRET>")


@pytest.mark.parametrize(
    "line",
    [
        'password = "changeme"',  # placeholders and examples
        'DB_PASSWORD = "password123"',
        'password = "<your password>"',
        'password = "${DB_PASSWORD}"',
        'api_key = "YOUR_API_KEY"',
        'secret = "SECRET_KEY"',  # a constant's name
        'prompt = "Enter password: "',
        'pwd = "%s"',
        'PRIVATE_KEY_NAME = "ray-bootstrap-key.pem"',  # a file name, from ray's autoscaler
        'url = "postgres://user:pass@localhost:5432/db"',  # a docstring's example URL
        'publicKeyToken="1fc8b3b9a1e18e3b"',  # numpy.distutils: a .NET assembly's public token
        'font = b"AAAAABIAVKXQ7Z3M2WPL0AAAA"',  # an AWS-like run inside base64 data
        "password = get_password()",  # no literal
    ],
)
def test_code_that_only_looks_like_a_secret_is_left_alone(line):
    assert SecretsDetector().find(line) == []


def _clean_sources(n: int) -> list[Path]:
    root = Path(sysconfig.get_paths()["purelib"])
    files = sorted(
        p
        for p in root.rglob("*.py")
        if not any(part.startswith("test") for part in p.relative_to(root).parts)
        and "detect_secrets" not in p.parts
        and not p.name.endswith("_test.py")
        and p.name != "conftest.py"
    )
    random.Random(1).shuffle(files)
    return files[:n]


def test_clean_code_of_installed_packages_is_left_as_it_is(sample_dir):
    """At most 1 file in 100 of installed packages' sources (no test folders: they hold fake
    keys on purpose) is changed, and none of the sample's code (CPython's Lib, HumanEval)."""
    detector = SecretsDetector()
    files = _clean_sources(600)
    changed = [f for f in files if detector.find(f.read_text(encoding="utf-8", errors="replace"))]
    assert len(files) == 600 and len(changed) <= 6, changed
    sample = []
    for f in sorted((sample_dir / "code").glob("*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as lines:
            sample.extend(json.loads(line)["text"] for line in lines)
    assert len(sample) > 500
    assert [i for i, t in enumerate(sample) if detector.find(t)] == []


def test_secrets_are_looked_for_in_code_domains_only_unless_configured(real_code):
    doc, _ = _plant(real_code[0], PLANTED[2][1], random.Random(3))
    token = PLANTED[2][2]
    assert token not in _texts(_stage(), [doc], "code")[0]
    assert _texts(_stage(), [doc], "web")[0] == doc  # on by default for code only
    assert token not in _texts(_stage(secrets={"domains": None}), [doc], "web")[0]
    assert token not in _texts(_stage(secrets={"domains": ["code", "web"]}), [doc], "web")[0]
    assert _texts(_stage(secrets={"enabled": False}), [doc], "code")[0] == doc
    only_aws = _stage(secrets={"types": ["aws_key"]})
    assert _texts(only_aws, [doc], "code")[0] == doc


def test_pseudonym_mode_writes_the_placeholder_too(real_code):
    line, value = PLANTED[6][1], PLANTED[6][2]
    out = _texts(_stage(replace="pseudonym", salt="s"), [f"{line}\n{real_code[0]}"])[0]
    assert out == f"{line.replace(value, '<SECRET>')}\n{real_code[0]}"


def test_counts_per_type_and_no_value_in_metrics_or_errors(real_code, monkeypatch, caplog):
    stage = _stage(entities=["EMAIL_ADDRESS"])  # no URL entity: the basic-auth password is a secret
    docs = [f"{line}\n{real_code[0]}" for _, line, _ in PLANTED]
    verdict = stage.process(_batch(docs))
    found = verdict.metrics["found"]["code"]
    expected = {}
    for kind, _, _ in PLANTED:
        expected[entity(kind)] = expected.get(entity(kind), 0) + 1
    assert found == expected
    assert verdict.metrics["scanned"]["secret_lines"] >= len(PLANTED)
    blob = json.dumps(verdict.metrics) + caplog.text
    assert not any(value in blob for _, _, value in PLANTED)

    def boom(text):
        raise ValueError(f"cannot parse {text[:200]}")

    monkeypatch.setattr(stage.scrubber.secrets, "find", boom)
    with pytest.raises(RuntimeError) as info:
        stage.process(_batch(docs[:1]))
    assert PLANTED[0][2] not in str(info.value) and "ValueError" in str(info.value)
    assert "message withheld" in str(info.value) and info.value.__cause__ is None


def test_rejected_rows_and_columns_of_code_rows_are_scrubbed_too():
    token = PLANTED[2][2]
    config = Config().model_dump(mode="json")
    rows = pa.table(
        {
            "id": ["a", "b", "c"],
            "domain": ["code", "web", "code"],
            "stage": ["read", "read", "mix"],
            "text": [f"TOKEN = '{token}'"] * 3,
        }
    )
    out = ScrubRejected(config, ["read"])(rows).column("text").to_pylist()
    assert out == ["TOKEN = '<SECRET>'", f"TOKEN = '{token}'", f"TOKEN = '{token}'"]
    # a URL column of a code row (a token in a query string) goes through the same pass
    batch = _batch(["x = 1"], url=[f"https://api.github.com/repos?access_token={token}&page=2"])
    verdict = _stage().process(batch)
    assert verdict.table.column("url").to_pylist() == [
        "https://api.github.com/repos?access_token=<SECRET>&page=2"
    ]


def test_the_types_of_the_config_are_the_detector_types():
    assert tuple(TYPES) == SECRET_TYPES
    assert Scrubber(Config(secrets={"enabled": False})).secrets is None


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"secrets": {"type": ["aws_key"]}}, "stages[0].pii.secrets.type: unknown key"),
        ({"secrets": {"types": ["aws"]}}, "stages[0].pii.secrets.types[0]: Input should be 'private_key'"),
        ({"secrets": {"types": []}}, "stages[0].pii.secrets.types: List should have at least 1 item"),
        (
            {"secrets": {"enabled": "sometimes"}},
            "stages[0].pii.secrets.enabled: Input should be a valid boolean",
        ),
    ],
)
def test_a_bad_secrets_key_is_a_config_error_naming_it(tmp_path, capsys, block, expected):
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "x = 1"}\n')
    config = {
        "sources": [{"name": "d", "domain": "code", "format": "jsonl", "paths": [str(jsonl)]}],
        "stages": [{"pii": block}],
    }
    assert main(["validate", str(write_config(tmp_path / "c.yaml", config))]) == 2
    assert expected in capsys.readouterr().err


def test_e2e_secrets_leave_no_trace_in_any_output(tmp_path, ray_session, real_code):
    """A code source and a web source with the same planted secrets through `prep run` (Ray):
    code documents hold <SECRET>, web ones keep the values (secrets are for code), stats.json
    counts per type, and no code value is in documents/, rejected/, stats, manifest or report."""
    rng = random.Random(5)
    docs = [_plant(real_code[i % len(real_code)], line, rng)[0] for i, (_, line, _) in enumerate(PLANTED)]
    key = _private_keys()[0]
    docs.append('SERVER_KEY = """\n' + key + '\n"""\n' + real_code[0])
    for name in ("code", "web"):
        with (tmp_path / f"{name}.jsonl").open("w") as f:
            f.writelines(json.dumps({"text": d}) + "\n" for d in docs)
    with (tmp_path / "code.jsonl").open("a") as f:  # unreadable: rejected by the reader, scrubbed
        f.write('{"text": "STRIPE = \'' + PLANTED[6][2] + "'\"\n")
    config = {
        "run": {"output": str(tmp_path / "out"), "work_dir": str(tmp_path / "cache")},
        "sources": [
            {"name": n, "domain": n, "format": "jsonl", "paths": [str(tmp_path / f"{n}.jsonl")]}
            for n in ("code", "web")
        ],
        "stages": [{"pii": {"secrets": {"domains": ["code"]}}}],
    }
    run(load_config(write_config(tmp_path / "c.yaml", config)))
    out = tmp_path / "out"
    documents = pads.dataset(str(out / "documents"), format="parquet").to_table().to_pylist()
    code = [d["text"] for d in documents if d["domain"] == "code"]
    web = [d["text"] for d in documents if d["domain"] == "web"]
    assert len(code) == len(web) == len(docs)
    values = [v for _, _, v in PLANTED] + [line for line in key.splitlines() if "-----" not in line]
    # a URL with credentials is PII as well (URL entity, on by default): that one is one <URL>
    assert sorted("<SECRET>" in t for t in code) == [False] + [True] * (len(docs) - 1)
    assert sum("<URL>" in t for t in code) == 1
    assert sum(PLANTED[2][2] in t for t in web) == 1  # web text keeps what is no PII there
    stats = json.loads((out / "stats.json").read_text())
    pii = next(s for s in stats["stages"] if s["name"] == "pii")
    found = pii["metrics"]["found"]["code"]
    expected = {entity(k) for k, _, _ in PLANTED if k != "basic_auth"} | {"SECRET_PRIVATE_KEY"}
    assert {e for e in found if e.startswith("SECRET_")} == expected
    assert not any(e.startswith("SECRET_") for e in pii["metrics"]["found"].get("web", {}))
    assert main(["report", str(out)]) == 0
    blobs = "\n".join(code) + "".join(
        (out / name).read_text() for name in ("stats.json", "manifest.json", "report.html")
    )
    blobs += json.dumps(
        pads.dataset(str(out / "rejected"), format="parquet").to_table().to_pylist(), default=str
    )
    assert [v for v in values if v in blobs] == []
    assert "SECRET_AWS_KEY" in (out / "report.html").read_text()
