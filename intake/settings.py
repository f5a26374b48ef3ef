"""One typed loader for `settings.toml`: tomllib → frozen dataclasses.

Unknown or mistyped keys are a `ConfigError` naming the key. Secrets are never in the file:
only the names of the environment variables that hold them (`password_env = "..."`).
The file comes from `--config PATH`, else `INTAKE_CONFIG`, else the built-in defaults.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from intake.errors import ConfigError
from intake.schema import KINDS, PRODUCTS

SECURITY = ("starttls", "tls", "plain")
# The complainant's fields (`intake.schema.Complainant`) a unit's mail may show.
CONTACT_FIELDS = ("name", "email", "phone", "handle")


@dataclass(frozen=True)
class StoreSettings:
    url: str = "sqlite:///var/intake.db"
    auto_migrate: bool = True  # `intake run` upgrades the schema at start
    password_env: str = ""  # the database password, kept out of the URL and the settings file
    busy_timeout_seconds: float = 30.0  # SQLite: how long a write waits for another's lock


@dataclass(frozen=True)
class BrokerSettings:
    url: str = ""  # empty: the bundled Redis on a unix socket under `state_dir`
    state_dir: str = "var"  # bundled Redis socket, pid and lock files
    password_env: str = ""  # Redis AUTH password (kept out of the URL)
    worker_processes: int = 1
    worker_threads: int = 4
    reconcile_every_seconds: int = 60
    requeue_after_seconds: int = 600  # an undelivered item enqueued longer ago is sent again
    park_after_dead_letters: int = 3  # retry chains that fail before a job waits for `retry`
    claim_lease_seconds: int = 90  # a sending worker's claim, renewed while it sends
    max_retries: int = 12
    min_backoff_ms: int = 15_000
    max_backoff_ms: int = 3_600_000


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "plain"
    username: str = ""
    password_env: str = ""
    from_address: str = "sikayet@example.org"
    timeout_seconds: float = 30.0
    message_id_domain: str = ""  # default: the domain of from_address
    outbox_dir: str = "var/outbox"  # with host = "": mails are written here instead


@dataclass(frozen=True)
class ConsoleSettings:
    """The operators' console on the HTTP server: pages behind a login, health, metrics."""

    enabled: bool = True
    session_key_env: str = "INTAKE_SESSION_KEY"  # unset: a key kept in the state folder
    session_hours: int = 12
    trusted_user_header: str = ""  # e.g. "X-Remote-User", from `[http] trusted_proxies` only
    login_failures_per_minute: int = 5  # per address and per user name; then 429
    refresh_seconds: int = 30  # the overview reloads itself
    metrics_listen: str = ""  # host:port for /metrics, /healthz, /readyz alone; empty: [http]


@dataclass(frozen=True)
class ReferenceSettings:
    prefix: str = "CMP"


@dataclass(frozen=True)
class HttpSettings:
    listen: str = "127.0.0.1:8080"
    enabled: bool = True  # `intake run` serves the web form, the API and the webhooks
    # The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed; from any
    # other peer those headers are ignored (else anyone could pick the address a limit counts).
    trusted_proxies: tuple[str, ...] = ()
    # A slow client (slowloris) holds a connection only this long: the request line and
    # headers must arrive within header_timeout_seconds of connecting (or of the previous
    # answer), the whole body within body_timeout_seconds of the headers (else 408).
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 60.0


@dataclass(frozen=True)
class LimitsSettings:
    max_body_chars: int = 1_000_000
    max_attachment_bytes: int = 25 * 2**20
    max_attachments: int = 50
    max_total_attachment_bytes: int = 50 * 2**20
    max_raw_bytes: int = 60 * 2**20


# The kinds of attachment `normalize.attachments` knows by their bytes: the names
# `[attachments] allowed_types` may list. By default an attached archive or mail (zip, eml,
# msg) and RTF stay with the operators: the first two carry files past these checks, RTF is
# a common carrier of Office exploits.
ATTACHMENT_TYPES = tuple(
    "pdf png jpeg gif webp heic tiff txt csv cert docx xlsx pptx odt ods doc xls ppt "
    "rtf eml msg zip".split()
)
DEFAULT_ALLOWED_ATTACHMENT_TYPES = tuple(
    kind for kind in ATTACHMENT_TYPES if kind not in ("rtf", "eml", "msg", "zip")
)
CLAMD_ADDRESS = re.compile(r"unix:/.+|tcp:(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}")


@dataclass(frozen=True)
class AttachmentSettings:
    """What of a complaint's attachments goes on to its unit (the rest stays with the
    operators): the kinds allowed, and an optional clamd to scan them first."""

    allowed_types: tuple[str, ...] = DEFAULT_ALLOWED_ATTACHMENT_TYPES
    clamd: str = ""  # "unix:/run/clamav/clamd.ctl" or "tcp:127.0.0.1:3310"; empty: no scan
    clamd_timeout_seconds: float = 60.0


@dataclass(frozen=True)
class ClockSettings:
    """The clocks of docs/design.md; these keys are a contract."""

    ssl_answer_hours: int = 24  # BR 4.9.5 preliminary report, wall clock
    timezone: str = "Europe/Istanbul"
    working_hours: str = "08:30-17:30"  # Turkish business time: weekdays, these hours
    half_day_end: str = "13:00"  # eves of the Bayrams and 28 October end here
    extra_closed_days: tuple[str, ...] = ()  # "YYYY-MM-DD": administrative leave, declared yearly
    escalation_email: str = ""  # told at 100 % of every clock; empty: the breach is recorded only
    eta_notice_days: float = 1.0  # the complainant hears the estimated time within this
    cimer_answer_days: int = 30  # Law 3071, calendar days
    kvkk_answer_days: int = 30  # KVKK art. 13, calendar days
    warn_at: tuple[float, ...] = (0.5, 0.8)  # the unit is warned at these parts of a clock
    ssl_reminder_hours: tuple[float, ...] = (12.0, 20.0)  # and of the SSL clock, in hours
    close_resolved_after_days: int = 14  # a decision nobody answers: closed (0: never)


@dataclass(frozen=True)
class CategorizeSettings:
    min_confidence: float = 0.35
    replace_default_rules: bool = False


@dataclass(frozen=True)
class RecurringSettings:
    """Recurring complaints (routing/recurring.py): same product, same problem, by text."""

    window_days: int = 90  # two complaints further apart than this are never joined
    threshold: float = 0.25  # char 3–5-gram TF-IDF cosine that joins two (bench/recurring)
    min_group: int = 3  # a group this large or larger is recurring


@dataclass(frozen=True)
class RuleSpec:
    """A named rule of the categoriser: any keyword or regex that matches votes `weight` for
    its product or kind (`routing/default_rules.toml`, and `[[rule]]` here to add or replace).

    Exactly one of `product` and `kind` is set. Keywords match whole words after Turkish
    folding (case, dotted/dotless i, diacritics); patterns are regexes on the folded text.
    """

    name: str
    product: str = ""
    kind: str = ""
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    weight: float = 1.0


def check_rule(spec: RuleSpec) -> None:
    """Refuse a rule that names no valid target, or whose regexes do not compile."""
    if bool(spec.product) == bool(spec.kind):
        raise ConfigError(f"rule {spec.name!r}: set exactly one of product and kind")
    if spec.product and spec.product not in PRODUCTS:
        raise ConfigError(f"rule {spec.name!r}: unknown product {spec.product!r}")
    if spec.kind and spec.kind not in KINDS:
        raise ConfigError(f"rule {spec.name!r}: unknown kind {spec.kind!r}")
    if not (spec.keywords or spec.patterns):
        raise ConfigError(f"rule {spec.name!r}: no keywords and no patterns")
    for pattern in spec.patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"rule {spec.name!r}: bad pattern {pattern!r}: {exc}") from exc


@dataclass(frozen=True)
class UnitSettings:
    code: str
    name: str
    email: str
    products: tuple[str, ...] = ()
    # Staff answer from their own mailboxes: addresses, or domains ("@example.org"), whose
    # mail about this unit's complaints counts as the unit's (commands included).
    members: tuple[str, ...] = ()
    typical_resolution_days: float = 5.0  # business days: the `resolution` clock's target
    ticket_contact: tuple[str, ...] | None = None  # None: `[privacy] ticket_contact`

    @property
    def queue(self) -> str:
        """The unit's Dramatiq queue (one per unit)."""
        return f"unit.{self.code}"

    def speaks_for(self, address: str | None) -> bool:
        """Whether mail from `address` is the unit's: its own address or one of `members`."""
        if not address:
            return False
        address = address.strip().lower()
        domain = address.rpartition("@")[2]
        for member in (self.email, *self.members):
            member = member.strip().lower()
            if address == member or ("@" not in member[1:] and domain == member.lstrip("@")):
                return True
        return False


@dataclass(frozen=True)
class MailboxSettings:
    name: str
    channel: str = "email"
    enabled: bool = True  # false: known to `intake inject --mailbox`, not polled
    host: str = "127.0.0.1"
    port: int = 993
    security: str = "tls"
    username: str = ""
    password_env: str = ""
    oauth2_token_env: str = ""
    oauth2_token_command: str = ""
    folder: str = "INBOX"
    folders: tuple[str, ...] = ()  # more folders to watch besides `folder`
    poll_interval_seconds: int = 60
    idle: bool = True
    after_ingest: str = "seen"  # "seen" | "move" | "delete"
    move_to: str = "Processed"
    first_run: str = "all"  # "all" | "new" | "since"
    since: str = ""  # YYYY-MM-DD, with first_run = "since"
    timeout_seconds: float = 60.0
    ca_file: str = ""  # trust this certificate bundle instead of the system's
    fetch_batch: int = 200

    @property
    def all_folders(self) -> tuple[str, ...]:
        return (self.folder, *[f for f in self.folders if f != self.folder])


@dataclass(frozen=True)
class IngestSettings:
    processes: int = 0  # > 1: a pool of processes normalises and routes large batches


@dataclass(frozen=True)
class ImapSettings:
    ssl_stale_minutes: int = 10  # `intake status` warns when the SSL box is not polled longer
    lock_ttl_seconds: int = 120
    max_fetch_attempts: int = 3
    idle_renew_seconds: int = 540  # re-issue IDLE well before the server's 30-minute timeout
    backoff_max_seconds: int = 300
    batch_bytes: int = 32 * 2**20  # the bodies fetched in one FETCH add up to this at most
    fetch_alone_bytes: int = 4 * 2**20  # a larger mail is fetched on its own


@dataclass(frozen=True)
class AcknowledgeSettings:
    """Caps on automatic mail, reserved before each send: a loop or a flood reflected by our
    address stops here. Addresses are counted normalised (case, `+tag`)."""

    max_per_address_per_day: int = 5
    max_per_domain_per_day: int = 200
    max_per_desk_per_day: int = 5000
    max_name_chars: int = 40  # a longer display name is not used in the greeting


@dataclass(frozen=True)
class PrivacySettings:
    """KVKK: raw payloads and attachment bytes of complaints closed more than
    `retention_days` ago are dropped by the scheduler's daily retention run (0: never);
    a unit's mails show only the complainant's `ticket_contact` fields (data minimisation:
    the unit answers through the desk, which keeps the rest)."""

    retention_days: int = 730
    ticket_contact: tuple[str, ...] = CONTACT_FIELDS
    # The data protection contact: the unit code that takes data subjects' requests (KVKK
    # art. 11, `routing.kvkk`); empty: they go to the unit of their product like the rest.
    unit: str = ""


@dataclass(frozen=True)
class ReportSettings:
    """The ISO 10002 report to management (`intake report`, `reports/`): the scheduler mails
    last month's on the first working day of each month, and last year's with January's, to
    `management_email` (empty: it is not mailed, only written on demand)."""

    management_email: str = ""
    yearly: bool = True  # January's mail brings the report of the year before too
    longest_open: int = 20  # how many of the longest-open complaints the report lists
    list_limit: int = 100  # the most rows a list of report.html/pdf shows (the CSVs: all)


@dataclass(frozen=True)
class TrustSettings:
    """Whose word counts: with `require_authentication`, a From is believed only when our own
    server (`authserv_id`) vouches for it in Authentication-Results (DMARC or DKIM pass)."""

    authserv_id: str = ""
    require_authentication: bool = False


@dataclass(frozen=True)
class TelegramSettings:
    enabled: bool = False
    mode: str = "polling"  # "polling" | "webhook"
    token_env: str = ""
    webhook_secret_env: str = ""
    base_url: str = ""  # empty: the public Bot API; else e.g. http://host:port/bot
    poll_timeout_seconds: int = 30  # long polling of getUpdates
    timeout_seconds: float = 60.0
    kvkk_notice: str = ""  # the KVKK aydınlatma metni sent with /start


@dataclass(frozen=True)
class TwitterSettings:
    enabled: bool = False
    user_id: str = ""
    bearer_token_env: str = ""
    consumer_key_env: str = ""  # OAuth 1.0a user context, for replies and DMs
    consumer_secret_env: str = ""
    access_token_env: str = ""
    access_token_secret_env: str = ""
    api_base: str = ""  # empty: the public API; else a gateway/proxy
    poll_interval_seconds: int = 60
    direct_messages: bool = True  # where the access tier allows them
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class WebformSettings:
    # HMAC-SHA256 key: X-Intake-Signature: sha256=<hex of the HMAC of
    # f"{X-Intake-Timestamp}.{Idempotency-Key or ''}." + the raw body>
    secret_env: str = ""
    signature_max_age_seconds: int = 300  # a signed request's timestamp, either way of now
    accept_body_only_signature: bool = True  # the HMAC of the body alone, deduped by body
    form_token_env: str = ""  # per-form token for a plain HTML form (with a honeypot field)
    honeypot_field: str = "website"
    max_body_bytes: int = 10 * 2**20
    rate_limit_per_minute: int = 10  # per client address (plain form, failed signatures)
    signed_rate_limit_per_minute: int = 600  # the signed site, whatever its address


@dataclass(frozen=True)
class ApiTokenSettings:
    name: str  # the operator or system the token belongs to (recorded on each entry)
    token_env: str
    rate_limit_per_minute: int = 600  # entries with this token, whatever its address


@dataclass(frozen=True)
class Settings:
    store: StoreSettings = field(default_factory=StoreSettings)
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    reference: ReferenceSettings = field(default_factory=ReferenceSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    attachments: AttachmentSettings = field(default_factory=AttachmentSettings)
    clock: ClockSettings = field(default_factory=ClockSettings)
    categorize: CategorizeSettings = field(default_factory=CategorizeSettings)
    recurring: RecurringSettings = field(default_factory=RecurringSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    acknowledge: AcknowledgeSettings = field(default_factory=AcknowledgeSettings)
    trust: TrustSettings = field(default_factory=TrustSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    unit: tuple[UnitSettings, ...] = ()
    mailbox: tuple[MailboxSettings, ...] = ()
    rule: tuple[RuleSpec, ...] = ()
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    twitter: TwitterSettings = field(default_factory=TwitterSettings)
    webform: WebformSettings = field(default_factory=WebformSettings)
    api_token: tuple[ApiTokenSettings, ...] = ()
    source: str = "(built-in defaults)"

    def unit_for(self, product: str) -> UnitSettings:
        """The one unit responsible for `product` (validated at load time)."""
        for unit in self.unit:
            if product in unit.products:
                return unit
        raise ConfigError(f"unit: no unit takes product {product!r}")

    def unit_named(self, code: str) -> UnitSettings:
        """The `[[unit]]` with `code` (a complaint's unit that the settings no longer have is
        a configuration error: an operator re-adds it or reassigns the complaint)."""
        for unit in self.unit:
            if unit.code == code:
                return unit
        raise ConfigError(f"unit: no unit {code!r} is configured")

    def contact_shown(self, unit: UnitSettings) -> tuple[str, ...]:
        """The complainant's fields (`CONTACT_FIELDS`) that `unit`'s mails may carry."""
        if unit.ticket_contact is None:
            return self.privacy.ticket_contact
        return unit.ticket_contact

    def mailbox_named(self, name: str) -> MailboxSettings:
        for box in self.mailbox:
            if box.name == name:
                return box
        raise ConfigError(f"mailbox: no mailbox named {name!r}")


def secret(env_name: str) -> str | None:
    """The secret held by the environment variable `env_name` (None when unset or unnamed)."""
    return os.environ.get(env_name) if env_name else None


def missing_secrets(settings: Settings) -> list[str]:
    """The secrets the enabled parts need and the environment does not hold, by setting:
    `intake run` refuses to start without them, rather than fail complaint after complaint."""
    needed: list[tuple[str, str]] = []
    for where, name in (
        ("store.password_env", settings.store.password_env),
        ("broker.password_env", settings.broker.password_env),
    ):
        if name:  # named, so needed
            needed.append((where, name))
    if settings.smtp.host and settings.smtp.username:
        needed.append(("smtp.password_env", settings.smtp.password_env))
    for box in settings.mailbox:
        if not box.enabled or box.oauth2_token_command:
            continue
        key = "oauth2_token_env" if box.oauth2_token_env else "password_env"
        needed.append((f"mailbox {box.name!r} {key}", getattr(box, key)))
    telegram, twitter = settings.telegram, settings.twitter
    if telegram.enabled:
        needed.append(("telegram.token_env", telegram.token_env))
        if telegram.mode == "webhook":
            needed.append(("telegram.webhook_secret_env", telegram.webhook_secret_env))
    if twitter.enabled:  # reading needs the bearer token; replies and DMs the user context
        for key in (
            "bearer_token_env",
            "consumer_key_env",
            "consumer_secret_env",
            "access_token_env",
            "access_token_secret_env",
        ):
            needed.append((f"twitter.{key}", getattr(twitter, key)))
    return [
        f"{where} ({name or 'no variable named'})" for where, name in needed if not secret(name)
    ]


def default_path() -> Path:
    """The settings file shipped beside the code: the embedded default."""
    return Path(__file__).resolve().parent.parent / "settings.toml"


def load(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load settings from `path`, else `$INTAKE_CONFIG`, else the shipped `settings.toml`."""
    chosen = Path(path or os.environ.get("INTAKE_CONFIG") or default_path())
    try:
        with chosen.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"settings file not found: {chosen}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: not valid TOML: {exc}") from None
    settings = from_mapping(data, source=str(chosen))
    return apply_environment(settings)


def from_mapping(data: dict[str, Any], *, source: str = "(mapping)") -> Settings:
    """Build and validate `Settings` from parsed TOML."""
    settings = _build(Settings, {**data, "source": source}, "")
    validate(settings)
    return settings


def apply_environment(settings: Settings) -> Settings:
    """Overrides a launcher sets for its children: `INTAKE_BROKER_URL`, `INTAKE_STORE_URL`."""
    broker_url = os.environ.get("INTAKE_BROKER_URL")
    store_url = os.environ.get("INTAKE_STORE_URL")
    if broker_url:
        settings = dataclasses.replace(
            settings, broker=dataclasses.replace(settings.broker, url=broker_url)
        )
    if store_url:
        settings = dataclasses.replace(
            settings, store=dataclasses.replace(settings.store, url=store_url)
        )
    return settings


def validate(settings: Settings) -> None:
    """Cross-key checks: every product maps to exactly one unit, enums are known."""
    for rule in settings.rule:
        check_rule(rule)
    if settings.broker.claim_lease_seconds < 4 or settings.broker.park_after_dead_letters < 1:
        raise ConfigError("broker: claim_lease_seconds at least 4, park_after_dead_letters 1")
    if settings.smtp.security not in SECURITY:
        raise ConfigError(f"smtp.security: must be one of {SECURITY}")
    smtp = settings.smtp
    if smtp.security == "plain" and smtp.username and smtp.host and smtp.host not in LOOPBACK:
        raise ConfigError(
            'smtp.security: "plain" would send the password in clear to a remote relay; '
            'use "starttls" or "tls" (plain with a login is allowed to loopback only)'
        )
    _validate_contact("privacy.ticket_contact", settings.privacy.ticket_contact)
    owners: dict[str, str] = {}
    for unit in settings.unit:
        _validate_contact(f"unit {unit.code!r}: ticket_contact", unit.ticket_contact or ())
        if unit.typical_resolution_days <= 0:
            raise ConfigError(f"unit {unit.code!r}: typical_resolution_days must be above 0")
        for product in unit.products:
            if product not in PRODUCTS:
                raise ConfigError(f"unit {unit.code!r}: unknown product {product!r}")
            if product in owners:
                raise ConfigError(
                    f"unit {unit.code!r}: product {product!r} already belongs to {owners[product]!r}"
                )
            owners[product] = unit.code
    missing = [p for p in PRODUCTS if p not in owners] if settings.unit else []
    if missing:
        raise ConfigError(f"unit: no unit takes products {missing}")
    codes = {unit.code for unit in settings.unit}
    if settings.privacy.unit and settings.unit and settings.privacy.unit not in codes:
        raise ConfigError(f"privacy.unit: no unit {settings.privacy.unit!r} is configured")
    if settings.telegram.mode not in ("polling", "webhook"):
        raise ConfigError("telegram.mode: must be 'polling' or 'webhook'")
    if settings.twitter.enabled and not settings.twitter.user_id:
        raise ConfigError("twitter.user_id: the account's numeric id is required when enabled")
    _validate_clock(settings.clock)
    _validate_attachments(settings.attachments)
    if settings.trust.require_authentication and not settings.trust.authserv_id:
        raise ConfigError("trust.authserv_id: required with require_authentication = true")
    names = [box.name for box in settings.mailbox]
    if len(names) != len(set(names)):
        raise ConfigError("mailbox: names must be unique")
    for box in settings.mailbox:
        if box.channel not in ("email", "email_ssl"):
            raise ConfigError(f"mailbox {box.name!r}: channel must be 'email' or 'email_ssl'")
        _validate_mailbox(box)


LOOPBACK = ("127.0.0.1", "::1", "localhost")
_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _validate_clock(clock: ClockSettings) -> None:
    """The shapes of the clock keys (routing.businesstime reads their meaning)."""
    if not _HOURS.match(clock.working_hours):
        raise ConfigError('clock.working_hours: expected "HH:MM-HH:MM", e.g. "08:30-17:30"')
    opens, closes = clock.working_hours.split("-")
    if not opens < clock.half_day_end < closes or not _TIME.match(clock.half_day_end):
        raise ConfigError("clock.half_day_end: a time HH:MM within the working hours")
    for day in clock.extra_closed_days:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise ConfigError(
                f"clock.extra_closed_days: {day!r} is not a date YYYY-MM-DD"
            ) from None
    if any(not 0 < part < 1 for part in clock.warn_at):
        raise ConfigError("clock.warn_at: parts between 0 and 1, e.g. [0.5, 0.8]")
    if any(not 0 < hours < clock.ssl_answer_hours for hours in clock.ssl_reminder_hours):
        raise ConfigError("clock.ssl_reminder_hours: hours before ssl_answer_hours")


def _validate_contact(where: str, fields: tuple[str, ...]) -> None:
    unknown = [name for name in fields if name not in CONTACT_FIELDS]
    if unknown:
        raise ConfigError(f"{where}: unknown {unknown}; known: {list(CONTACT_FIELDS)}")


def _validate_attachments(attachments: AttachmentSettings) -> None:
    unknown = [kind for kind in attachments.allowed_types if kind not in ATTACHMENT_TYPES]
    if unknown:
        raise ConfigError(
            f"attachments.allowed_types: unknown {unknown}; known: {list(ATTACHMENT_TYPES)}"
        )
    if attachments.clamd and not CLAMD_ADDRESS.fullmatch(attachments.clamd):
        raise ConfigError(
            'attachments.clamd: expected "unix:/path/to/clamd.ctl" or "tcp:host:port", or ""'
        )
    if attachments.clamd_timeout_seconds <= 0:
        raise ConfigError("attachments.clamd_timeout_seconds: must be above 0")


def _validate_mailbox(box: MailboxSettings) -> None:
    where = f"mailbox {box.name!r}"
    if box.security not in SECURITY:
        raise ConfigError(f"{where}: security must be one of {SECURITY}")
    if box.security == "plain" and box.host not in LOOPBACK:
        raise ConfigError(f'{where}: security = "plain" is allowed to loopback only')
    if box.after_ingest not in ("seen", "move", "delete"):
        raise ConfigError(f"{where}: after_ingest must be 'seen', 'move' or 'delete'")
    if box.first_run not in ("all", "new", "since"):
        raise ConfigError(f"{where}: first_run must be 'all', 'new' or 'since'")
    if box.first_run == "since":
        try:
            date.fromisoformat(box.since)
        except ValueError:
            raise ConfigError(f"{where}: since must be a date YYYY-MM-DD") from None


def _build(cls: type, table: Any, where: str) -> Any:
    """Build dataclass `cls` from a TOML table, naming the key of any error."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where or 'settings'}: expected a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{_key(where, unknown[0])}: unknown key")
    values = {}
    for name, value in table.items():
        values[name] = _coerce(hints[name], value, _key(where, name))
    missing = [
        n
        for n, f in known.items()
        if n not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{_key(where, missing[0])}: required key missing")
    return cls(**values)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check `value` against the annotation `hint`, converting lists to tuples."""
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list")
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        return _coerce(next(a for a in typing.get_args(hint) if a is not type(None)), value, where)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
    return value


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
