"""The settings loader: typed, unknown keys refused by name, secrets only from the environment."""

from __future__ import annotations

import tomllib

import pytest

from intake import settings as settings_module
from intake.errors import ConfigError
from tests.conftest import ROOT, make_settings


def shipped() -> dict:
    return tomllib.loads((ROOT / "settings.toml").read_text(encoding="utf-8"))


def test_the_shipped_file_loads_and_maps_every_product_to_one_unit():
    settings = settings_module.load(ROOT / "settings.toml")
    assert settings.unit_for("ssl").code == "ssl_operations"
    assert settings.unit_for("genel").code == "customer_relations"
    assert settings.mailbox_named("ssl").channel == "email_ssl"
    assert settings.unit_for("nes").queue == "unit.certificate_operations"


def test_every_shipped_key_is_commented():
    """Each key has a comment just above it, or is named in a comment of its table."""
    lines = (ROOT / "settings.toml").read_text(encoding="utf-8").splitlines()
    notes: dict[str, list[str]] = {}  # table name → comments above and inside it
    keys: list[tuple[str, int, str]] = []
    pending: list[str] = []
    table = ""
    for number, line in enumerate(lines):
        if line.startswith("#"):
            pending.append(line)
        elif line.startswith("["):
            table = line.strip("[] ")
            notes.setdefault(table, []).extend(pending)
            pending = []
        elif "=" in line:
            keys.append((table, number, line.split("=")[0].strip()))
            notes.setdefault(table, []).extend(pending)
            pending = []
    for table, number, key in keys:
        just_above = lines[number - 1].startswith("#")
        named = any(key in comment for comment in notes[table])
        assert just_above or named, f"settings.toml line {number + 1}: {key} has no comment"


@pytest.mark.parametrize(
    ("table", "key", "value", "message"),
    [
        ("store", "urll", "x", "store.urll: unknown key"),
        ("smtp", "port", "25", "smtp.port: expected int, got str"),
        ("broker", "worker_threads", True, "broker.worker_threads: expected int, got bool"),
        ("smtp", "security", "ssl", "smtp.security: must be one of"),
        ("categorize", "min_confidence", "high", "categorize.min_confidence: expected float"),
    ],
)
def test_a_wrong_key_is_named(table, key, value, message):
    data = shipped()
    data[table][key] = value
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        settings_module.from_mapping(data)


def test_a_product_without_a_unit_or_with_two_is_refused():
    data = shipped()
    data["unit"][0]["products"] = []
    with pytest.raises(ConfigError, match="no unit takes products \\['genel'\\]"):
        settings_module.from_mapping(data)
    data = shipped()
    data["unit"][0]["products"] = ["genel", "ssl"]
    with pytest.raises(ConfigError, match="'ssl' already belongs"):
        settings_module.from_mapping(data)


def test_a_mistyped_entry_in_a_list_of_tables_is_named():
    data = shipped()
    data["mailbox"][1]["passwrd_env"] = "X"
    with pytest.raises(ConfigError, match=r"mailbox\[1\]\.passwrd_env: unknown key"):
        settings_module.from_mapping(data)


def test_rules_from_the_file_are_typed():
    data = shipped()
    data["rule"] = [{"name": "ct", "product": "ssl", "keywords": ["ct log"], "weight": 2}]
    rule = settings_module.from_mapping(data).rule[0]
    assert (rule.keywords, rule.weight) == (("ct log",), 2.0)


def test_secrets_come_from_the_environment_only(monkeypatch):
    settings = settings_module.load(ROOT / "settings.toml")
    assert settings.smtp.password_env == "INTAKE_SMTP_PASSWORD"
    monkeypatch.delenv("INTAKE_SMTP_PASSWORD", raising=False)
    assert settings_module.secret(settings.smtp.password_env) is None
    monkeypatch.setenv("INTAKE_SMTP_PASSWORD", "s3cret")
    assert settings_module.secret(settings.smtp.password_env) == "s3cret"


def test_the_file_comes_from_intake_config_and_launchers_override_urls(monkeypatch, tmp_path):
    path = tmp_path / "other.toml"
    path.write_text('[reference]\nprefix = "SKY"\n', encoding="utf-8")
    monkeypatch.setenv("INTAKE_CONFIG", str(path))
    monkeypatch.setenv("INTAKE_BROKER_URL", "redis://127.0.0.1:6379/3")
    settings = settings_module.load()
    assert settings.reference.prefix == "SKY"
    assert settings.broker.url == "redis://127.0.0.1:6379/3"


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="settings file not found"):
        settings_module.load(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[store\nurl=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        settings_module.load(broken)


def test_a_rule_in_the_settings_is_checked_when_they_load():
    data = shipped()
    data["rule"] = [{"name": "broken", "product": "ssl", "patterns": ["(unclosed"]}]
    with pytest.raises(ConfigError, match="rule 'broken': bad pattern"):
        settings_module.from_mapping(data)
    data["rule"] = [{"name": "nowhere", "product": "uydu", "keywords": ["x"]}]
    with pytest.raises(ConfigError, match="unknown product 'uydu'"):
        settings_module.from_mapping(data)


def test_a_unit_that_is_not_configured_is_a_configuration_error():
    settings = settings_module.from_mapping(shipped())
    assert settings.unit_named("ssl_operations").email
    with pytest.raises(ConfigError, match="no unit 'dissolved'"):
        settings.unit_named("dissolved")


def test_missing_secrets_are_listed_by_setting_for_what_is_enabled(monkeypatch):
    data = shipped()
    data["smtp"].update(
        host="relay.example.org",
        security="starttls",
        username="intake",
        password_env="TEST_SMTP_PASSWORD",
    )
    data["telegram"].update(
        enabled=True, mode="webhook", token_env="TEST_TG_TOKEN", webhook_secret_env="TEST_TG_SECRET"
    )
    data["mailbox"][0].update(enabled=True, password_env="TEST_IMAP_PASSWORD")
    for name in ("TEST_SMTP_PASSWORD", "TEST_TG_TOKEN", "TEST_TG_SECRET", "TEST_IMAP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    settings = settings_module.from_mapping(data)
    missing = settings_module.missing_secrets(settings)
    assert missing == [
        "smtp.password_env (TEST_SMTP_PASSWORD)",
        f"mailbox {settings.mailbox[0].name!r} password_env (TEST_IMAP_PASSWORD)",
        "telegram.token_env (TEST_TG_TOKEN)",
        "telegram.webhook_secret_env (TEST_TG_SECRET)",
    ]
    for name in ("TEST_SMTP_PASSWORD", "TEST_TG_TOKEN", "TEST_TG_SECRET", "TEST_IMAP_PASSWORD"):
        monkeypatch.setenv(name, "s3cret")
    assert settings_module.missing_secrets(settings) == []
    assert settings_module.missing_secrets(settings_module.from_mapping(shipped())) == []


def test_x_enabled_without_its_account_id_is_refused():
    data = shipped()
    data["twitter"].update(enabled=True, user_id="")
    with pytest.raises(ConfigError, match="twitter.user_id"):
        settings_module.from_mapping(data)


def test_a_login_over_plain_smtp_to_a_remote_relay_is_refused(tmp_path):
    """The password would cross the network in clear (issue 11, smaller findings)."""
    with pytest.raises(ConfigError, match="in clear"):
        make_settings(
            tmp_path, smtp={"host": "relay.example.org", "security": "plain", "username": "desk"}
        )
    for allowed in (
        {"host": "relay.example.org", "security": "starttls", "username": "desk"},
        {"host": "127.0.0.1", "security": "plain", "username": "desk"},
        {"host": "relay.example.org", "security": "plain", "username": ""},
    ):
        make_settings(tmp_path, smtp=allowed)
