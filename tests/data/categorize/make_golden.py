"""Record the categoriser's answers as golden outputs.

Run `python tests/data/categorize/make_golden.py` from the repository root.

Writes `golden.jsonl` next to this script: one line per case of `golden_cases()`, with the
case's name and what `routing.categorize.categorize` answered (the cases themselves are
rebuilt from the shipped data by `golden_cases()`, deterministically, to keep the file
small). `tests/routing/test_golden.py` checks that the categoriser still gives exactly these
answers, so speed work cannot change behaviour. Re-run this only when a behaviour change is
intended (and review the diff).

Cases: every message of `routing/data/*.jsonl` and `tests/data/categorize/fresh.jsonl`,
long mails (4,000+ characters, beyond the categoriser's cut) stitched from those messages,
and messages in ALL CAPS, garbled by a wrong decoder (mojibake), or without diacritics.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
GOLDEN = HERE / "golden.jsonl"
SEED = 20240611
CHANNELS = ("email", "email_ssl", "webform", "twitter", "phone", "telegram")


def read_rows(path: Path) -> list[dict]:
    """The JSON Lines rows of one file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def source_rows() -> list[dict]:
    """Every labelled message shipped with the repository, in a fixed order."""
    paths = sorted((ROOT / "routing" / "data").glob("*.jsonl"))
    paths.append(HERE / "fresh.jsonl")
    return [row for path in paths for row in read_rows(path)]


def garble(text: str, written: str, read: str) -> str:
    """`text` as a wrong decoder shows it (UTF-8 read as cp1254, and the like)."""
    return text.encode(written, errors="replace").decode(read, errors="replace")


def strip_turkish(text: str) -> str:
    """`text` typed on a keyboard without Turkish letters."""
    return text.translate(str.maketrans("çÇğĞıİöÖşŞüÜ", "cCgGiIoOsSuU"))


def long_cases(rows: list[dict], rng: random.Random, count: int) -> list[dict]:
    """Mails of 4,000–9,000 characters stitched from random messages."""
    cases = []
    for n in range(count):
        target = rng.randint(4000, 9000)
        parts: list[str] = []
        while sum(len(p) + 2 for p in parts) < target:
            parts.append(rng.choice(rows)["text"])
        first = rng.choice(rows)
        cases.append(
            {
                "case": f"long{n:02d}",
                "subject": first["subject"] or first["text"][:60],
                "text": "\n\n".join(parts),
                "channel": rng.choice(CHANNELS),
            }
        )
    return cases


def variant_cases(rows: list[dict], rng: random.Random, count: int) -> list[dict]:
    """Upper-cased, mojibake and diacritic-free copies of random messages."""
    variants = (
        ("caps", str.upper),
        ("moji1254", lambda t: garble(t, "utf-8", "cp1254")),
        ("moji1252", lambda t: garble(t, "utf-8", "cp1252")),
        ("mojilatin", lambda t: garble(t, "cp1254", "latin-1")),
        ("ascii", strip_turkish),
    )
    cases = []
    for n in range(count):
        row = rng.choice(rows)
        name, change = variants[n % len(variants)]
        cases.append(
            {
                "case": f"{name}{n:03d}-{row['id']}",
                "subject": change(row["subject"]),
                "text": change(row["text"]),
                "channel": row["channel"],
            }
        )
    return cases


def golden_cases() -> list[dict]:
    """All cases, deterministic: the same list on every run."""
    rows = source_rows()
    rng = random.Random(SEED)
    cases = [
        {"case": row["id"], **{key: row[key] for key in ("subject", "text", "channel")}}
        for row in rows
    ]
    cases += long_cases(rows, rng, 40)
    cases += variant_cases(rows, rng, 150)
    long_caps = long_cases(rows, rng, 10)
    for case in long_caps:
        case.update(
            case=case["case"] + "-caps-moji",
            subject=case["subject"].upper(),
            text=garble(case["text"].upper(), "utf-8", "cp1254"),
        )
    return cases + long_caps


def answer(case: dict) -> dict:
    """What the categoriser says about one case, in JSON form."""
    from routing.categorize import categorize

    result = categorize(case["subject"], case["text"], case["channel"])
    return {
        "product": result.product,
        "kind": result.kind,
        "confidence": result.confidence,
        "decided_by": result.decided_by,
        "hits": [[h.rule, h.target, h.matched, h.score] for h in result.hits],
    }


def main() -> None:
    sys.path.insert(0, str(ROOT))
    with GOLDEN.open("w", encoding="utf-8") as out:
        for case in golden_cases():
            line = {"case": case["case"], "expected": answer(case)}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"wrote {GOLDEN.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
