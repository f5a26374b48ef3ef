"""The console's words in Turkish and English: `?lang=en`, else the browser's
Accept-Language, else Turkish."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

LANGUAGES = ("tr", "en")

LABELS: dict[str, dict[str, str]] = {
    "title": {"tr": "Şikâyet masası", "en": "Complaint desk"},
    "overview": {"tr": "Genel bakış", "en": "Overview"},
    "complaints": {"tr": "Başvurular", "en": "Complaints"},
    "queues": {"tr": "Kuyruklar", "en": "Queues"},
    "logout": {"tr": "Çıkış", "en": "Log out"},
    "login": {"tr": "Giriş", "en": "Log in"},
    "username": {"tr": "Kullanıcı adı", "en": "User name"},
    "password": {"tr": "Parola", "en": "Password"},
    "bad_login": {"tr": "Kullanıcı adı veya parola yanlış.", "en": "Wrong user name or password."},
    "throttled": {
        "tr": "Çok fazla hatalı giriş; bir dakika sonra deneyin.",
        "en": "Too many failed logins; try again in a minute.",
    },
    "units": {"tr": "Birimler", "en": "Units"},
    "unit": {"tr": "Birim", "en": "Unit"},
    "queue_depth": {"tr": "Kuyrukta", "en": "Queued"},
    "oldest": {"tr": "En eski bekleyen", "en": "Oldest waiting"},
    "open": {"tr": "Açık", "en": "Open"},
    "channels": {"tr": "Kanallar", "en": "Channels"},
    "feed": {"tr": "Kaynak", "en": "Feed"},
    "last_good_poll": {"tr": "Son başarılı okuma", "en": "Last good poll"},
    "last_error": {"tr": "Son hata", "en": "Last error"},
    "today": {"tr": "Bugün", "en": "Today"},
    "this_week": {"tr": "Bu hafta", "en": "This week"},
    "failed_raw": {"tr": "İşlenemeyen kayıtlar", "en": "Failed raw items"},
    "dead_letters": {"tr": "Ölü mektuplar", "en": "Dead letters"},
    "clocks": {"tr": "Süreler", "en": "Clocks"},
    "closest_clocks": {"tr": "Süresi en yakın olanlar", "en": "Closest to breach"},
    "due": {"tr": "Son tarih", "en": "Due"},
    "left": {"tr": "Kalan", "en": "Left"},
    "state": {"tr": "Durum", "en": "State"},
    "by_channel": {"tr": "Kanala göre", "en": "By channel"},
    "by_product": {"tr": "Ürüne göre", "en": "By product"},
    "reference": {"tr": "Referans", "en": "Reference"},
    "product": {"tr": "Ürün", "en": "Product"},
    "channel": {"tr": "Kanal", "en": "Channel"},
    "complainant": {"tr": "Başvuru sahibi", "en": "Complainant"},
    "received": {"tr": "Alındı", "en": "Received"},
    "subject": {"tr": "Konu", "en": "Subject"},
    "since": {"tr": "Başlangıç", "en": "From"},
    "until": {"tr": "Bitiş", "en": "Until"},
    "search": {"tr": "Ara", "en": "Search"},
    "any": {"tr": "(hepsi)", "en": "(any)"},
    "results": {"tr": "sonuç", "en": "results"},
    "previous": {"tr": "Önceki", "en": "Previous"},
    "next": {"tr": "Sonraki", "en": "Next"},
    "thread": {"tr": "Yazışma", "en": "Thread"},
    "routing": {"tr": "Yönlendirme", "en": "Routing"},
    "events": {"tr": "Olaylar", "en": "Events"},
    "attachments": {"tr": "Ekler", "en": "Attachments"},
    "notices": {"tr": "Bildirimler", "en": "Notices"},
    "similar": {"tr": "Benzer başvurular", "en": "Similar complaints"},
    "group_size": {"tr": "başvuru", "en": "complaints"},
    "recurring": {"tr": "yinelenen", "en": "recurring"},
    "not_recurring": {"tr": "yinelenen sayılmaz", "en": "not recurring"},
    "one_off": {"tr": "tek seferlik", "en": "one-off"},
    "actions": {"tr": "İşlemler", "en": "Actions"},
    "correct": {"tr": "Ürünü / birimi düzelt", "en": "Correct product / unit"},
    "merge_into": {"tr": "Şununla birleştir", "en": "Merge into"},
    "eta": {"tr": "Tahmini çözüm zamanı", "en": "Estimated resolution time"},
    "reply": {"tr": "Başvuru sahibine yanıt", "en": "Reply to the complainant"},
    "resolve": {"tr": "Karar", "en": "Decision"},
    "note": {"tr": "İç not", "en": "Internal note"},
    "save": {"tr": "Kaydet", "en": "Save"},
    "retry": {"tr": "Yeniden dene", "en": "Retry"},
    "done": {"tr": "Yapıldı", "en": "Done"},
    "refused": {"tr": "Uygulanmadı", "en": "Not applied"},
    "broker_down": {"tr": "Kuyruk sunucusuna ulaşılamıyor", "en": "The broker cannot be reached"},
    "not_found": {"tr": "Bulunamadı", "en": "Not found"},
    "waiting": {"tr": "Bekleyen", "en": "Waiting"},
    "delayed": {"tr": "Ertelenen", "en": "Delayed"},
    "dead": {"tr": "Ölü", "en": "Dead"},
    "error": {"tr": "Hata", "en": "Error"},
    # the complaint states (intake.states), as operators read them
    "acknowledged": {"tr": "Bildirildi", "en": "Acknowledged"},
    "assigned": {"tr": "Atandı", "en": "Assigned"},
    "investigating": {"tr": "İnceleniyor", "en": "Investigating"},
    "waiting_on_complainant": {"tr": "Başvurandan bekleniyor", "en": "Waiting on complainant"},
    "reopened": {"tr": "Yeniden açıldı", "en": "Reopened"},
    "resolved": {"tr": "Karara bağlandı", "en": "Resolved"},
    "closed": {"tr": "Kapandı", "en": "Closed"},
    "merged": {"tr": "Birleştirildi", "en": "Merged"},
    "not_a_complaint": {"tr": "Şikâyet değil", "en": "Not a complaint"},
}


def language(request: Request) -> str:
    """`?lang=` (remembered in the session), else Accept-Language, else Turkish."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        request.session["lang"] = asked
        return asked
    kept = request.session.get("lang")
    if kept in LANGUAGES:
        return str(kept)
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "tr"


def translator(lang: str) -> Callable[[str], str]:
    def t(key: str) -> str:
        entry = LABELS.get(key)
        return entry[lang] if entry else key

    return t
