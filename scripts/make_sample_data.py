"""Generate the main sample data set: support-ticket triage for a fictional company.

    python scripts/make_sample_data.py           # (re)write sample_data/ticket_triage/
    python scripts/make_sample_data.py --check   # exit 1 if the committed files differ

Kestrel Home (fictional) sells a router hub, a camera, a smart plug and a thermostat.
Each ticket goes to one of eight in-house team codes with a priority, the order id in
its canonical form ``KX-12345`` (customers write it many ways) and the product named.
The rules are fixed, so the answer always follows from the text:

* team: what the ticket is about (outage, lockout, refund, wrong charge, late parcel,
  damaged parcel, device fault, question);
* priority: set by the team alone (P1 outage/lockout, P2 money/shipping, P3 the rest),
  never by the customer's tone, so "URGENT!!" on a question is still P3;
* order_id: ``KX-`` + the five digits of the order the ticket names, else null;
* product: the device the ticket names, else null (never guessed from the topic).

The output is deterministic (fixed seed, no set or hash ordering), and a test checks
that the committed files equal it.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from pathlib import Path

SEED = 2024
N_TRAIN_PER_TEAM = 50
N_EVAL = 100
OUT_DIR = Path(__file__).resolve().parents[1] / "sample_data" / "ticket_triage"

TEAMS = {  # code -> priority
    "NET-OUT": "P1", "ACC-LCK": "P1",
    "BIL-RFD": "P2", "BIL-ERR": "P2", "SHP-LATE": "P2", "SHP-DMG": "P2",
    "DEV-FIX": "P3", "GEN-HOW": "P3",
}
PRODUCTS = ("HUB", "CAM", "PLUG", "THERMO")
ANSWER_KEYS = ("team", "priority", "order_id", "product")

SYSTEM_PROMPT = (
    "Route Kestrel Home support tickets. Reply with JSON only: team (NET-OUT ACC-LCK "
    "BIL-RFD BIL-ERR SHP-LATE SHP-DMG DEV-FIX GEN-HOW), priority (P1 outage/lockout, "
    "P2 billing/shipping, P3 other), order_id (KX-##### or null), "
    "product (HUB CAM PLUG THERMO or null).")

# How customers name each device. Every phrase contains the word the answer rests on.
PRODUCT_NAMES = {
    "HUB": ["Kestrel Hub", "hub", "router hub", "Hub", "mesh hub", "KESTREL HUB"],
    "CAM": ["Kestrel Cam", "camera", "cam", "security camera", "indoor camera", "Cam"],
    "PLUG": ["Kestrel Plug", "smart plug", "plug", "Plug", "wifi plug", "power plug"],
    "THERMO": ["Kestrel Thermo", "thermostat", "Thermo", "smart thermostat", "thermo"],
}
OWNERS = ["my", "the", "our", "my new", "the new"]

TIMES = ["this morning", "9am", "last night", "about 7 pm", "lunchtime", "6:30 this morning",
         "yesterday evening", "midnight", "early today", "around noon"]  # after "since"
CLOCKS = ["9am", "7 pm", "lunchtime", "midnight", "noon", "half past six", "about 8",
          "4 in the afternoon"]  # after "at"
WHENS = ["yesterday", "on Monday", "last week", "two days ago", "on the 3rd", "last Friday",
         "on Tuesday", "over the weekend", "three days ago", "on the 14th"]
DURATIONS = ["5 days", "a week", "two weeks", "10 days", "48 hours", "over a week",
             "three days", "nearly a month", "6 days"]
AMOUNTS = ["$12", "$19.99", "$30", "$7.50", "$45", "$24", "$60", "$9.99"]
NTH = ["third", "fourth", "second", "fifth"]

# Core sentences per team. Slots: {prod} (any device), {hub} {cam} {plug} {thermo}
# (that device), {order} (an order mention), {time} {when} {duration} {amount} {nth}.
TEMPLATES = {
    "NET-OUT": [
        "My internet has been down since {time}.",
        "No internet at all since {time}, every light on {hub} is red.",
        "The whole house lost connection {when} and nothing loads.",
        "Is there an outage in my area? We have had zero connection since {time}.",
        "{hub} says no service and none of our devices can get online.",
        "We have had no wifi and no internet since the storm {when}.",
        "The internet went out at {clock} and I work from home, please restore it.",
        "Service has been completely down for {duration} now.",
        "Cannot get online at all. Restarted {hub} twice, still no connection.",
        "internet dead again. this is the {nth} outage this month",
        "Our office connection is down and nobody can work.",
        "Everything lost the network at {clock}, the app just says no connection.",
        "Red blinking light on {hub} and no internet since {time}.",
        "The line keeps dropping and since {time} it is completely gone.",
        "Whole street seems to have had no broadband for {duration}. Is it on your side?",
        "{hub} is on but there is no internet coming through at all.",
    ],
    "ACC-LCK": [
        "I can't log in to my Kestrel account, it says my password is wrong even after a reset.",
        "Locked out of my account after too many login attempts.",
        "The password reset link never reaches my inbox so I can't sign in.",
        "Two-factor codes are not reaching me, I'm stuck on the verification screen.",
        "Someone changed my account password and it wasn't me.",
        "Got a sign-in alert from a country I have never been to and now I can't get in.",
        "The app keeps logging me out and won't accept my password anymore.",
        "My account is locked and I can't control {prod} without it.",
        "The website says my account is suspended. I need access today.",
        "Forgot my password and the reset page shows an error every time.",
        "Login fails with invalid credentials although the password is right.",
        "I can't get into my account to check {prod}, the login just spins.",
        "My account got locked {when} and support chat asks me to log in first.",
        "The verification code is always expired by the time I type it, can't log in.",
    ],
    "BIL-RFD": [
        "I returned {prod} {when} and still haven't got my refund for {order}.",
        "Please refund {order}, I changed my mind and sent it back.",
        "I want my money back for {prod}, it's not what I expected.",
        "Where is my refund? The return for {order} was received {when}.",
        "I cancelled {order} before it shipped, please refund me.",
        "Requesting a full refund for {prod} from {order}.",
        "Return label used {when}, the refund for {order} is still pending.",
        "Can I get a refund on {prod}? I'm still inside the 30 day window.",
        "I sent {prod} back {duration} ago and no refund has shown up yet.",
        "refund please for {order}, never even opened the box",
        "You confirmed my return {when} but the refund of {amount} never arrived.",
        "I'd like to return {prod} for a refund, it doesn't suit our home.",
        "Still no refund {duration} after the courier collected my return.",
    ],
    "BIL-ERR": [
        "I was charged twice this month for my plan.",
        "My bill is {amount} higher than usual and I didn't change anything.",
        "There's a charge from Kestrel Home on my statement that I don't recognise.",
        "You charged me again after I cancelled the subscription {when}.",
        "The invoice for {order} shows the wrong amount.",
        "I see two identical payments for {order} on my bank statement.",
        "Why was I billed for the premium plan? I'm on basic.",
        "My monthly fee went up by {amount} without any notice.",
        "I paid full price for {prod} but checkout showed the sale price. Order was {order}.",
        "Charged {amount} for shipping on {order} even though shipping was free.",
        "The subscription fee was taken twice on the same day.",
        "I was billed for a second storage plan that I never added.",
        "My invoice lists {prod} twice but I only bought one, {order}.",
    ],
    "SHP-LATE": [
        "{order} was supposed to arrive {when} and it's still not here.",
        "Tracking for {order} hasn't moved in {duration}.",
        "Where is my {prodname}? I ordered it {duration} ago.",
        "My package says delivered but there is nothing at my door. {order}",
        "Still waiting on {order}, the delivery date passed {when}.",
        "The courier keeps rescheduling the delivery of {order}.",
        "When will {prod} ship? {order} still shows processing.",
        "It has been {duration} and {prod} hasn't arrived.",
        "Delivery for {order} was due {when}, nothing has turned up.",
        "parcel with {prod} is lost i think, tracking stuck for {duration}",
        "The tracking page says my parcel has been at the depot for {duration}. {order}",
        "My {prodname} order shows shipped {duration} ago but never arrived.",
        "Expected {order} {when}. Nothing yet and no update.",
    ],
    "SHP-DMG": [
        "{prod} arrived with a cracked case.",
        "The box for {order} was crushed and {prod} inside is broken.",
        "I ordered {prod} but the box had a different item inside. {order}",
        "{order} arrived without the power adapter for {prod}.",
        "The screen of {prod} was scratched straight out of the box.",
        "Parts were rattling in the box when {order} arrived and {prod} is in pieces.",
        "{prod} came with a bent mounting bracket.",
        "The parcel for {order} arrived soaked and {prod} looks water damaged.",
        "Opened the delivery {when}: {prod} has a dent and a broken clip.",
        "Half of {order} is missing, only the box for {prod} came.",
        "delivered {when} but {prod} was smashed in transit",
        "The seal on the box was broken and {prod} is scuffed, looks used. {order}",
    ],
    "DEV-FIX": [
        "{prod} keeps restarting by itself every few hours.",
        "{prod} won't turn on anymore.",
        "{prod} gets very hot and then switches itself off.",
        "A firmware update failed and now {prod} is stuck on a white light.",
        "The app shows an error whenever I try to control {prod}.",
        "{prod} ignores the schedules I set in the app.",
        "Night vision on {cam} went blurry {when}.",
        "{cam} stopped recording clips at night.",
        "{plug} clicks but the lamp plugged into it stays off.",
        "{plug} switches on and off randomly during the night.",
        "{thermo} shows 25 degrees but the room is freezing.",
        "{thermo} won't hold the temperature I set, it drifts by {nth_num} degrees.",
        "{hub} makes a loud buzzing noise even though the internet works fine.",
        "The display on {hub} went blank, internet still works though.",
        "{prod} from {order} stopped working after {duration}.",
        "Buttons on {prod} stopped responding {when}.",
    ],
    "GEN-HOW": [
        "How do I share access to {prod} with my partner?",
        "Can I set {plug} to turn off at sunset?",
        "How do I change the wifi name on {hub}?",
        "Is there a way to download clips from {cam}?",
        "How do I add a second user to my account?",
        "What does the blue light on {prod} mean?",
        "Does {prod} work with voice assistants?",
        "How do I update my delivery address for future orders?",
        "Where can I download my invoices?",
        "Can {thermo} learn my schedule automatically?",
        "How many devices can one account manage?",
        "quick question: can I move {prod} to a different room without setting it up again?",
        "Is there a dark mode in the Kestrel app?",
        "How do I turn on holiday mode for {thermo}?",
        "What is the range of {cam} at night?",
    ],
}

OPENERS = ["", "", "", "Hi,", "Hello,", "Hey there.", "Good morning,", "hi team", "Hello support,",
           "To whom it may concern,", "Hi Kestrel,", "Evening,", "Dear support team,"]
CLOSERS = ["", "", "", "Thanks.", "Thank you!", "Please help.", "pls fix asap",
           "Any update would be great.", "Cheers", "Regards.", "Thanks in advance.",
           "Appreciate it.", "Waiting for your reply."]
# Tone never changes the priority: these go on any team's tickets.
TONES = ["", "", "", "", "This is really urgent!", "No rush.", "I am very frustrated.",
         "THIS IS THE {nth} TIME I AM WRITING.", "No stress.",
         "Honestly this is unacceptable.", "I've been a customer for years.",
         "I already tried the help pages.", "Sorry if this is the wrong place."]
EXTRAS = {
    "NET-OUT": ["My neighbour has the same problem.", "I already unplugged everything twice.",
                "Even the TV can't stream."],
    "ACC-LCK": ["I use the app for everything at home.", "I tried three different browsers.",
                "I'm worried someone else is in my account."],
    "BIL-RFD": ["I kept the receipt.", "The item was unused.", "The courier gave me a receipt."],
    "BIL-ERR": ["Please fix my bill.", "I checked my statement twice.",
                "I only have one subscription."],
    "SHP-LATE": ["I need it before the weekend.", "It's a gift.", "The courier site has no info."],
    "SHP-DMG": ["I have photos of the box.", "I'd like a replacement.", "It was a gift too."],
    "DEV-FIX": ["I already did a factory reset.", "It worked fine for months.",
                "The app is on the latest version."],
    "GEN-HOW": ["I couldn't find it in the manual.", "Just got set up last week.",
                "The help page didn't say."],
}
CASUAL = {"please": "pls", "you": "u", "thanks": "thx", "because": "cuz", "are": "r"}


def order_mention(number: int, rng: random.Random) -> str:
    """An order reference as customers write it; the answer is always KX-<number>."""
    forms = [f"order KX-{number}", f"order #{number}", f"order no. {number}",
             f"order number KX{number}", f"order kx-{number}", f"order KX {number}",
             f"my order ({number})", f"order ref KX-{number}"]
    return rng.choice(forms)


def product_phrase(product: str, rng: random.Random, owner: bool = True) -> str:
    name = rng.choice(PRODUCT_NAMES[product])
    return f"{rng.choice(OWNERS)} {name}" if owner else name


class TicketFactory:
    """Renders one ticket from a template and returns (text, answer)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used_orders: set[int] = set()

    def new_order_number(self) -> int:
        while True:
            number = self.rng.randint(10000, 99999)
            if number not in self.used_orders:
                self.used_orders.add(number)
                return number

    def render(self, team: str, template: str) -> tuple[str, dict]:
        rng = self.rng
        product = None
        order_id = None
        slots: dict[str, str] = {}
        for device in PRODUCTS:
            if "{" + device.lower() + "}" in template:
                product = device
                slots[device.lower()] = product_phrase(device, rng)
        if "{prod}" in template or "{prodname}" in template:
            product = rng.choice(PRODUCTS)
            slots["prod"] = product_phrase(product, rng)
            slots["prodname"] = product_phrase(product, rng, owner=False)
        if "{order}" in template:
            number = self.new_order_number()
            order_id = f"KX-{number}"
            slots["order"] = order_mention(number, rng)
        slots.update(time=rng.choice(TIMES), clock=rng.choice(CLOCKS), when=rng.choice(WHENS),
                     duration=rng.choice(DURATIONS), amount=rng.choice(AMOUNTS),
                     nth=rng.choice(NTH), nth_num=str(rng.randint(2, 5)))
        core = _capitalise_first(template.format(**slots))
        parts = [rng.choice(OPENERS), core]
        if rng.random() < 0.35:
            parts.append(rng.choice(EXTRAS[team]))
        tone = rng.choice(TONES).format(nth=rng.choice(NTH).upper())
        parts.insert(rng.choice([1, len(parts)]), tone)
        parts.append(rng.choice(CLOSERS))
        text = " ".join(p for p in parts if p)
        if parts[0].endswith(","):  # "Hi," on its own line, as in an email
            text = parts[0] + "\n" + text[len(parts[0]) + 1:]
        protected = " ".join(slots.get(k, "") for k in ("order", "prod", "prodname"))
        text = self.roughen(text, protected)
        answer = {"team": team, "priority": TEAMS[team], "order_id": order_id, "product": product}
        return text, answer

    def roughen(self, text: str, protected: str) -> str:
        """Real tickets are messy: casual spelling, lower case, typos in ordinary words
        (never in the order id or the device name, which the answer rests on)."""
        rng = self.rng
        keep = {w.strip(string.punctuation).lower() for w in protected.split()}
        keep |= {"hub", "cam", "camera", "plug", "plugs", "thermo", "thermostat", "order",
                 "kestrel", "refund", "outage", "internet"}
        words = text.split(" ")
        if rng.random() < 0.2:
            words = [CASUAL.get(w.lower(), w) for w in words]
        if rng.random() < 0.3:
            candidates = [i for i, w in enumerate(words)
                          if len(w) >= 5 and w.isalpha() and w.lower() not in keep]
            for i in rng.sample(candidates, min(len(candidates), rng.randint(1, 2))):
                words[i] = _typo(words[i], rng)
        text = " ".join(words)
        if rng.random() < 0.15:
            text = text.lower()
        if rng.random() < 0.1:
            text = text.replace("'", "")
        return text


def _capitalise_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randint(1, len(word) - 2)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def near_key(text: str) -> str:
    """Same text up to case, spacing and punctuation (the inspector's near-duplicate rule)."""
    drop = set(string.punctuation + string.whitespace)
    return "".join(c for c in text.lower() if c not in drop)


def answer_json(answer: dict) -> str:
    """The assistant's reply: compact (fewer tokens), keys always in this order."""
    ordered = {key: answer[key] for key in ANSWER_KEYS}
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


def build_examples(seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """(train, eval) rows in OpenAI chat form; balanced teams, no shared near-duplicates."""
    rng = random.Random(seed)
    factory = TicketFactory(rng)
    teams = list(TEAMS)
    eval_counts = {team: N_EVAL // len(teams) + (i < N_EVAL % len(teams))
                   for i, team in enumerate(teams)}
    seen: set[str] = set()
    train: list[dict] = []
    held_out: list[dict] = []
    for team in teams:
        wanted = N_TRAIN_PER_TEAM + eval_counts[team]
        templates = TEMPLATES[team]
        rows: list[dict] = []
        # Round-robin over shuffled templates so no sentence shape dominates a team.
        order = list(range(len(templates)))
        attempt = 0
        while len(rows) < wanted:
            if attempt % len(order) == 0:
                rng.shuffle(order)
            text, answer = factory.render(team, templates[order[attempt % len(order)]])
            attempt += 1
            key = near_key(text)
            if key in seen:
                continue
            seen.add(key)
            rows.append(chat_row(text, answer))
        rng.shuffle(rows)
        held_out.extend(rows[:eval_counts[team]])
        train.extend(rows[eval_counts[team]:])
    rng.shuffle(train)
    rng.shuffle(held_out)
    return train, held_out


def chat_row(text: str, answer: dict) -> dict:
    return {"messages": [{"role": "system", "content": SYSTEM_PROMPT},
                         {"role": "user", "content": text},
                         {"role": "assistant", "content": answer_json(answer)}]}


def render_files(seed: int = SEED) -> dict[str, str]:
    """File name -> exact content, for writing or for comparing with the committed copy."""
    train, held_out = build_examples(seed)
    return {"train.jsonl": _jsonl(train), "eval.jsonl": _jsonl(held_out)}


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the files on disk instead of writing them")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    stale = []
    for name, content in render_files().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != content:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(content, encoding="utf-8", newline="\n")
        tmp.replace(path)
        print(f"wrote {path} ({content.count(chr(10))} examples)")
    if stale:
        print("out of date (run scripts/make_sample_data.py): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
