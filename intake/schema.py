"""The records that travel through the flow: what arrived, and what it became.

`RawMessage` is what a channel received, kept byte for byte; `Complaint` is the one schema of
docs/design.md (its field names are a contract); `RoutingDecision` records how routing decided.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

CHANNELS = (
    "email",
    "email_ssl",
    "telegram",
    "twitter",
    "webform",
    "phone",
    "cimer",
    "tubimer",
    "face_to_face",
)
PRODUCTS = (
    "nes",
    "mobil_nes",
    "mali_muhur",
    "kurumsal_sifreleme",
    "elektronik_muhur",
    "okc",
    "gem",
    "ssl",
    "zaman_damgasi",
    "kart_okuyucu",
    "yazilim",
    "danismanlik_egitim",
    "uyum_degerlendirme",
    "genel",
)
PRODUCT_NAMES = {
    "nes": "Nitelikli Elektronik Sertifika (e-imza)",
    "mobil_nes": "Mobil NES",
    "mali_muhur": "Mali Mühür",
    "kurumsal_sifreleme": "Kurumsal Şifreleme Sertifikası",
    "elektronik_muhur": "Elektronik Mühür",
    "okc": "ÖKC Sertifikası",
    "gem": "Güvenli Erişim Modülü",
    "ssl": "SSL Sertifikası",
    "zaman_damgasi": "Zaman Damgası",
    "kart_okuyucu": "Kart Okuyucu",
    "yazilim": "Yazılım Ürünleri",
    "danismanlik_egitim": "Danışmanlık ve Eğitim",
    "uyum_degerlendirme": "Uyum Değerlendirme Hizmeti",
    "genel": "Genel",
}
KIND_NAMES = {"complaint": "Şikâyet", "request": "İstek", "suggestion": "Öneri"}
KINDS = ("complaint", "request", "suggestion")
# `complaints.category`, a dimension beside product and kind: a data subject's request under
# KVKK art. 11 (recognised by routing.kvkk), with its own 30-day clock; else None.
KVKK = "kvkk"


@dataclass(frozen=True)
class RawMessage:
    """One item as a channel received it; `payload` is the exact bytes (mail) or JSON bytes."""

    channel: str
    source_id: str
    received_at: datetime
    payload: bytes
    mailbox: str | None = None
    transport: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Complainant:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    handle: str | None = None


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Complaint:
    """The normalised complaint (docs/design.md); `product`/`kind` are None until routed."""

    channel: str
    source_id: str
    received_at: datetime
    complainant: Complainant
    subject: str
    body: str
    language: str
    attachments: tuple[Attachment, ...] = ()
    ticket_ref: str | None = None
    auto_submitted: bool = False
    product: str | None = None
    kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the contract, field for field."""
        data = dataclasses.asdict(self)
        data["received_at"] = self.received_at.isoformat()
        data["attachments"] = [dataclasses.asdict(a) for a in self.attachments]
        return data


@dataclass(frozen=True)
class RuleHit:
    """One rule (or the model) that voted, with what it matched and its weight."""

    rule: str
    target: str  # e.g. "product:ssl" or "kind:request"
    matched: str
    score: float


@dataclass(frozen=True)
class RoutingDecision:
    """Why a complaint went where it went: stored beside it, shown to operators."""

    product: str
    kind: str
    unit: str
    queue: str
    confidence: float
    decided_by: str
    hits: tuple[RuleHit, ...] = ()
    category: str | None = None  # "kvkk" for a data subject's request (routing.kvkk)
