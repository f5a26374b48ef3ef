"""A unit's commands in its reply to the ticket, and a complainant's answer to our decision
and to the survey."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from normalize.commands import (
    COMMANDS,
    Answer,
    Command,
    Problem,
    decision_answer,
    parse_unit_mail,
    survey_score,
    usage,
)

IST = ZoneInfo("Europe/Istanbul")


def only_command(body: str, **options) -> Command:
    mail = parse_unit_mail(body, **options)
    assert mail.problems == ()
    assert len(mail.commands) == 1
    return mail.commands[0]


def only_problem(body: str, **options) -> Problem:
    mail = parse_unit_mail(body, **options)
    assert mail.commands == ()
    assert len(mail.problems) == 1
    return mail.problems[0]


# --- #eta -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-12-10", datetime(2026, 12, 10, 17, 30, tzinfo=IST)),
        ("2026-12-10 15:00", datetime(2026, 12, 10, 15, 0, tzinfo=IST)),
        ("10.12.2026", datetime(2026, 12, 10, 17, 30, tzinfo=IST)),
        ("10.12.2026 15:00", datetime(2026, 12, 10, 15, 0, tzinfo=IST)),
        ("1.2.2027 9:05", datetime(2027, 2, 1, 9, 5, tzinfo=IST)),
        ("2028-02-29", datetime(2028, 2, 29, 17, 30, tzinfo=IST)),
    ],
)
def test_eta_forms(given, expected):
    command = only_command(f"#eta {given}")
    assert command == Command("eta", given, 1, eta=expected)
    assert command.eta is not None and command.eta.tzinfo == IST


def test_a_bare_date_means_the_close_of_that_working_day_in_the_desk_timezone():
    command = only_command("#eta 2026-12-10", timezone="Europe/Berlin", closes=time(16, 0))
    assert command.eta == datetime(2026, 12, 10, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert command.eta is not None and command.eta.utcoffset() is not None


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("2026-02-30", "invalid date"),
        ("31.04.2026", "invalid date"),
        ("2026-13-01", "invalid date"),
        ("2027-02-29", "invalid date"),
        ("2026-12-10 25:00", "invalid time"),
        ("2026-12-10 15:60", "invalid time"),
        ("yarın", "expected YYYY-MM-DD [HH:MM] or DD.MM.YYYY [HH:MM]"),
        ("", "expected YYYY-MM-DD [HH:MM] or DD.MM.YYYY [HH:MM]"),
        ("10/12/2026", "expected YYYY-MM-DD [HH:MM] or DD.MM.YYYY [HH:MM]"),
        ("2026-12-10 öğleden sonra", "expected YYYY-MM-DD [HH:MM] or DD.MM.YYYY [HH:MM]"),
        ("2026-12-10 15", "expected YYYY-MM-DD [HH:MM] or DD.MM.YYYY [HH:MM]"),
    ],
)
def test_malformed_eta(given, reason):
    assert only_problem(f"#eta {given}") == Problem(1, f"#eta {given}".strip(), reason)


# --- #status --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "status"),
    [
        ("investigating", "investigating"),
        ("INVESTIGATING", "investigating"),
        ("inceleniyor", "investigating"),
        ("İNCELENİYOR", "investigating"),
        ("INCELENIYOR", "investigating"),
        ("waiting", "waiting"),
        ("Waiting_On_Complainant", "waiting"),
        ("bekleniyor", "waiting"),
        ("bekliyor", "waiting"),
        ("BEKLİYOR", "waiting"),
    ],
)
def test_status_forms(given, status):
    assert only_command(f"#status {given}") == Command("status", given, 1, status=status)


@pytest.mark.parametrize("given", ["resolved", "closed", "", "waiting now", "beklemede"])
def test_malformed_status(given):
    assert only_problem(f"#status {given}").reason == "expected investigating or waiting"


# --- #reply, #resolved, #note ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["reply", "resolved", "note"])
def test_a_text_command_takes_the_rest_of_its_line(name):
    assert only_command(f"#{name} Sayın ilgili, işleminiz tamam.") == Command(
        name, "Sayın ilgili, işleminiz tamam.", 1
    )


def test_a_text_runs_over_the_following_lines_up_to_a_blank_line():
    mail = parse_unit_mail(
        "#resolved Sayın ilgili,\n"
        "sertifikanız yeniden üretildi.   \n"
        "  Kargo ile gönderildi.\n"
        "\n"
        "Kargo takip no eklendi."
    )
    assert mail.commands == (
        Command(
            "resolved", "Sayın ilgili,\nsertifikanız yeniden üretildi.\n  Kargo ile gönderildi.", 1
        ),
    )
    assert mail.note == "Kargo takip no eklendi."


def test_a_text_may_start_on_the_next_line_and_ends_at_the_next_command():
    mail = parse_unit_mail("#reply\nSayın ilgili,\nbilgi verilmiştir.\n#status waiting\nbye")
    assert mail.commands == (
        Command("reply", "Sayın ilgili,\nbilgi verilmiştir.", 1),
        Command("status", "waiting", 4, status="waiting"),
    )
    assert mail.note == "bye"


def test_an_unknown_command_also_ends_a_text():
    mail = parse_unit_mail("#note first\n#foo\nafter")
    assert mail.commands == (Command("note", "first", 1),)
    assert mail.problems == (Problem(2, "#foo", "unknown command"),)
    assert mail.note == "after"


@pytest.mark.parametrize("body", ["#reply", "#reply   ", "#resolved\n\nlater text", "#note:"])
def test_a_text_command_without_text_is_a_problem(body):
    mail = parse_unit_mail(body)
    assert mail.commands == ()
    assert [(p.line, p.reason) for p in mail.problems] == [(1, "missing text")]


# --- #reassign, #merge ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "target"),
    [("finance", "finance"), ("it_support2", "it_support2"), ("BILGI_ISLEM", "bilgi_islem")],
)
def test_reassign_forms(given, target):
    assert only_command(f"#reassign {given}") == Command("reassign", given, 1, target=target)


@pytest.mark.parametrize("given", ["", "finance please", "bilgi-işlem", "çağrı_merkezi", "a.b"])
def test_malformed_reassign(given):
    assert only_problem(f"#reassign {given}").reason == "expected one unit code"


@pytest.mark.parametrize(
    "given", ["CMP-2026-000012", "cmp-2026-000012", "[#CMP-2026-000012]", "#Cmp-2026-000012"]
)
def test_merge_forms(given):
    assert only_command(f"#merge {given}") == Command("merge", given, 1, target="CMP-2026-000012")


def test_merge_uses_the_configured_prefix_in_its_spelling():
    command = only_command("#merge [#sık-2026-000003]", prefix="SIK")
    assert command.target == "SIK-2026-000003"


@pytest.mark.parametrize(
    "given",
    ["", "CMP-2026-12", "XYZ-2026-000012", "[CMP-2026-000012", "CMP-2026-000012 CMP-2026-000013"],
)
def test_malformed_merge(given):
    assert only_problem(f"#merge {given}").reason == "expected a reference like CMP-2026-000012"


# --- what is and is not a command line ------------------------------------------------------


@pytest.mark.parametrize("body", ["#ETA 2026-12-10", "#Eta 2026-12-10", "   #eta 2026-12-10"])
def test_command_words_ignore_case_and_leading_space(body):
    assert only_command(body).name == "eta"


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ("#REASSİGN finance", "reassign"),
        ("#REASSIGN finance", "reassign"),
        ("#reassıgn finance", "reassign"),
        ("#NOTE İç not", "note"),
        ("#STATUS waiting", "status"),
        ("#RESOLVED Çözüldü", "resolved"),
    ],
)
def test_turkish_dotted_and_dotless_i_read_as_i(body, name):
    assert only_command(body).name == name


def test_a_colon_after_the_word_is_allowed():
    assert only_command("#eta: 2026-12-10").eta == datetime(2026, 12, 10, 17, 30, tzinfo=IST)


@pytest.mark.parametrize("word", ["foo", "etaa", "eta2026", "çözüldü", "kapat"])
def test_any_other_word_is_an_unknown_command(word):
    assert only_problem(f"#{word} x") == Problem(1, f"#{word} x", "unknown command")


@pytest.mark.parametrize(
    "line", ["#1 bir", "# heading", "#_x", "#", "##eta 2026-12-10", "> #eta 2026-12-10", "x #eta"]
)
def test_lines_that_are_not_commands_are_ordinary_text(line):
    mail = parse_unit_mail(line)
    assert mail.commands == () and mail.problems == ()
    assert mail.note == line


def test_quoted_lines_are_never_commands():
    mail = parse_unit_mail(
        "#status waiting\n\n"
        "On Mon, desk wrote:\n> #resolved please reply\n>#eta 2026-01-01\n  > #merge CMP-2026-000001"
    )
    assert [c.name for c in mail.commands] == ["status"]
    assert mail.problems == ()


# --- a whole mail ---------------------------------------------------------------------------


def test_a_whole_mail_commands_problems_and_the_note():
    body = (
        "Merhaba,\r\n"
        "\r\n"
        "müşteri ile görüştük, kart yenilenecek.\r\n"
        "#ETA 10.12.2026\r\n"
        "#status inceleniyor\r\n"
        "#reply Sayın ilgili,\r\n"
        "kartınız yenilenecektir.\r\n"
        "\r\n"
        "\r\n"
        "\r\n"
        "#eta 2026-02-30\r\n"
        "#kapat\r\n"
        "Kolay gelsin   \r\n"
        "Ahmet\r\n"
    )
    mail = parse_unit_mail(body)
    assert mail.commands == (
        Command("eta", "10.12.2026", 4, eta=datetime(2026, 12, 10, 17, 30, tzinfo=IST)),
        Command("status", "inceleniyor", 5, status="investigating"),
        Command("reply", "Sayın ilgili,\nkartınız yenilenecektir.", 6),
    )
    assert mail.problems == (
        Problem(11, "#eta 2026-02-30", "invalid date"),
        Problem(12, "#kapat", "unknown command"),
    )
    assert mail.note == "Merhaba,\n\nmüşteri ile görüştük, kart yenilenecek.\n\nKolay gelsin\nAhmet"


def test_a_mail_without_commands_is_all_note():
    mail = parse_unit_mail("\n\n  Bakıyoruz.\n\n\n\nTeşekkürler\n\n")
    assert mail == parse_unit_mail("\n\n  Bakıyoruz.\n\nTeşekkürler")
    assert mail.commands == () and mail.problems == ()
    assert mail.note == "Bakıyoruz.\n\nTeşekkürler"


def test_a_mail_of_only_commands_has_an_empty_note():
    assert parse_unit_mail("#status waiting\n\n#note iç").note == ""
    assert parse_unit_mail("").note == ""


def test_the_same_command_twice_is_kept_twice_in_order():
    mail = parse_unit_mail("#eta 2026-12-10\n#eta 2026-12-11")
    assert [c.line for c in mail.commands] == [1, 2]


def test_usage_lists_every_command_in_both_languages():
    text = usage()
    for name in COMMANDS:
        assert f"#{name} " in text
    assert "CMP-2026-000012" in text and "inceleniyor" in text and "investigating" in text
    assert "SIK-2026-000012" in usage(prefix="SIK")


# --- the complainant's answer to a decision -------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "KABUL",
        "kabul",
        "Kabul.",
        "  kabul!  \n",
        "EVET",
        "Evet",
        "ACCEPT",
        "accepted",
        "Yes",
        "Kabul ediyorum",
        "KABUL EDİYORUM.",
        "kabul   ediyorum",
        "I accept",
        "I ACCEPT",
        "\n\nKABUL\n\nSaygılarımla\nAyşe",
        "\u200bKabul\ufeff",
        "> Kararımızı kabul ediyor musunuz? KABUL / RET\nKabul",
    ],
)
def test_an_acceptance(text):
    assert decision_answer(text) is Answer.ACCEPT


@pytest.mark.parametrize(
    "text",
    [
        "RET",
        "Ret",
        "ret.",
        "RED",
        "HAYIR",
        "Hayır",
        "hayir",
        "HAYİR",
        "reject",
        "REJECTED",
        "No",
        "no!",
        "Reddediyorum",
        "REDDEDİYORUM",
        "ret ediyorum",
        "I reject.",
    ],
)
def test_a_rejection(text):
    assert decision_answer(text) is Answer.REJECT


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n ",
        "kabul etmiyorum",
        "Kabul etmiyorum, hâlâ çalışmıyor.",
        "Evet ama kartım hâlâ gelmedi",
        "hayır, kabul etmiyorum",
        "Kabul mü? Asla.",
        "Merhaba,\nKABUL",
        "I do not accept",
        "not accepted",
        "yes no",
        "kabulediyorum",
        "Sayın yetkili, kararınızı okudum ve üzgünüm ki memnun kalmadım, çünkü sorun sürüyor.",
        "> KABUL",
    ],
)
def test_anything_else_is_a_follow_up(text):
    assert decision_answer(text) is None


# --- the survey -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "score"),
    [("1", 1), ("5", 5), (" 4 \n", 4), ("4.", 4), ("3/5", 3), ("3 / 5", 3), ("\n2\n\n", 2)],
)
def test_a_survey_score(text, score):
    assert survey_score(text) == score


@pytest.mark.parametrize(
    "text",
    [
        "10",
        "0",
        "6",
        "4 ama geç kaldınız",
        "",
        "4/10",
        "4/5.",
        "4,5",
        "beş",
        "4\nteşekkürler",
        "-3",
    ],
)
def test_not_a_survey_score(text):
    assert survey_score(text) is None
