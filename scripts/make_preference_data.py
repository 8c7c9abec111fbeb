"""Generate the preference sample set: support replies for Kestrel Home, in pairs.

    python scripts/make_preference_data.py           # (re)write sample_data/preference/
    python scripts/make_preference_data.py --check   # exit 1 if the committed files differ

Each row is a customer message and two replies written for it. The chosen reply follows
the house style: it says sorry once, names the order (``KX-`` + five digits) and the
device, says what happens next and when. The rejected reply breaks it in one of four ways:
it brushes the customer off, blames them, answers a different problem, or asks for what
the message already said. Half the rejected replies are shorter than the chosen one and
half are about as long, so a model cannot win by preferring short or long answers.

Deterministic (fixed seed); a test checks the committed files equal the output.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "sample_data" / "preference"
SEED = 12
N_TRAIN, N_EVAL = 96, 32
SYSTEM = "You are the support assistant of Kestrel Home. Reply to the customer."

DEVICES = {"HUB": "router hub", "CAM": "camera", "PLUG": "smart plug", "THERMO": "thermostat"}
NAMES = ["Ana", "Ben", "Chloe", "Dev", "Eli", "Fatima", "Greg", "Hana", "Ivan", "Jo", "Kofi",
         "Lena", "Mo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tess", "Uma", "Vik"]

# (topic, customer message templates, chosen reply templates, wrong-topic reply)
TOPICS = [
    ("late", ["My {dev} from order {oid} still has not arrived after two weeks.",
              "Where is my parcel? Order {oid}, a {dev}, was due last Monday.",
              "Order {oid} ({dev}) shows no tracking update for 9 days."],
     ["Sorry for the wait, {name}. I have asked the courier to trace order {oid} with your {dev}; "
      "you will get an update by email within 24 hours.",
      "Sorry, {name}, that is too long. I have opened a trace on order {oid} for the {dev}, and if "
      "it is not found in 48 hours we send a new one at no cost."],
     "To reset the {dev}, hold its button for ten seconds until the light blinks, then set it up "
     "again in the app."),
    ("damaged", ["The {dev} in order {oid} arrived with a cracked case.",
                 "Box for order {oid} was crushed and the {dev} inside is broken.",
                 "My new {dev} (order {oid}) came damaged, the screen is smashed."],
     ["Sorry about that, {name}. I have sent a free return label for order {oid} to your email; "
      "a new {dev} ships as soon as the courier scans the parcel.",
      "Sorry, {name}, it should not arrive like that. A replacement {dev} for order {oid} is "
      "booked, and the return label is in your inbox today."],
     "Your invoice for order {oid} is in the account page under Billing; you can download it as "
     "a PDF there."),
    ("refund", ["I returned the {dev} from order {oid} a month ago and got no refund yet.",
                "Please refund order {oid}, I sent the {dev} back on the 3rd.",
                "Still waiting for my money for the returned {dev}, order {oid}."],
     ["Sorry for the delay, {name}. The returned {dev} from order {oid} is logged, and I have "
      "released the refund today; banks take 3 to 5 working days to show it.",
      "Sorry, {name}. I checked order {oid}: the {dev} reached us, so the refund is approved now "
      "and will reach your card within 5 working days."],
     "The {dev} works best on the 2.4 GHz band; move it closer to the router and restart it from "
     "the app."),
    ("charge", ["I was charged twice for order {oid}, one {dev} only.",
                "Why does my card show two payments for order {oid}? I bought one {dev}.",
                "Double charge on order {oid} for the {dev}, please fix."],
     ["Sorry for the trouble, {name}. I see the second payment for order {oid}; I have reversed "
      "it, and it drops off your card within 3 working days.",
      "Sorry, {name}, that is our mistake. The duplicate charge on order {oid} for the {dev} is "
      "cancelled, and you will get a confirmation email today."],
     "Parcels for order {oid} leave our warehouse within two working days; tracking appears in "
     "the app once the courier scans it."),
    ("fault", ["My {dev} keeps going offline every evening. Order {oid}.",
               "The {dev} from order {oid} stopped turning on after one week.",
               "The {dev} (order {oid}) restarts by itself all the time."],
     ["Sorry about this, {name}. A {dev} that fails this early is covered, so I have started a "
      "free swap for order {oid}; the new one ships tomorrow.",
      "Sorry, {name}. Please keep the {dev} plugged in; I have booked a warranty replacement for "
      "order {oid}, and you will get the shipping email within a day."],
     "You can change the email on your account in Settings, then Profile; we send a link to the "
     "new address to confirm it."),
]

BRUSH_OFF = ["Not our problem.", "We cannot help with that.", "Please wait.", "Contact the courier.",
             "Read the FAQ.", "That happens sometimes."]
BLAME = ["You must have done something wrong with the {dev}.",
         "This is your fault, the {dev} works fine for everyone else.",
         "Maybe you ordered the wrong thing. Check before you write to us."]
ASK_AGAIN = ["Which order is this about and what did you buy? Please send all the details again "
             "so we can look into it.",
             "Can you tell us your order number and the device? We need that before we can do "
             "anything about your message."]


def make_rows(rng: random.Random, n: int, used: set[str]) -> list[dict]:
    rows = []
    while len(rows) < n:
        topic, asks, replies, wrong = TOPICS[len(rows) % len(TOPICS)]
        code = rng.choice(sorted(DEVICES))
        fill = {"dev": DEVICES[code], "oid": f"KX-{rng.randint(10000, 99999)}", "name": rng.choice(NAMES)}
        ask = rng.choice(asks).format(**fill)
        key = f"{fill['name']}|{ask}"
        if key in used:
            continue
        used.add(key)
        chosen = rng.choice(replies).format(**fill)
        kind = ["brush_off", "blame", "wrong_topic", "ask_again"][(len(rows) // len(TOPICS)) % 4]
        rejected = {"brush_off": lambda: rng.choice(BRUSH_OFF),
                    "blame": lambda: rng.choice(BLAME).format(**fill),
                    "wrong_topic": lambda: wrong.format(**fill),
                    "ask_again": lambda: rng.choice(ASK_AGAIN)}[kind]()
        rows.append({"prompt": [{"role": "system", "content": SYSTEM},
                                {"role": "user", "content": f"Hi, I'm {fill['name']}. {ask}"}],
                     "chosen": [{"role": "assistant", "content": chosen}],
                     "rejected": [{"role": "assistant", "content": rejected}],
                     "topic": topic, "flaw": kind})
    return rows


def generate() -> dict[str, str]:
    rng = random.Random(SEED)
    used: set[str] = set()
    train = make_rows(rng, N_TRAIN, used)
    held_out = make_rows(rng, N_EVAL, used)
    dump = lambda rows: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)  # noqa: E731
    return {"train.jsonl": dump(train), "eval.jsonl": dump(held_out)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed files differ")
    args = parser.parse_args(argv)
    files = generate()
    if args.check:
        stale = [n for n, text in files.items()
                 if not (OUT / n).is_file() or (OUT / n).read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale: {', '.join(stale)}; run python scripts/make_preference_data.py", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text, encoding="utf-8")
    print(f"wrote {', '.join(files)} to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
