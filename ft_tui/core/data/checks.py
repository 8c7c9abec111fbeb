"""Whole-set checks, fed one example at a time so inspection can stream: duplicates,
near-duplicates, contradictions, PII, label balance and the task type.

Only hashes, line numbers and small counters are kept, never the texts themselves, and
the per-row state is a few fixed-size numpy slots (core/data/sketch.py).
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

from ft_tui.core.data.labels import LabelTally
from ft_tui.core.data.markup import markup_in_message
from ft_tui.core.data.pii import KIND_NAMES, find_pii
from ft_tui.core.data.sketch import SKETCH_BITS, FirstSeen, sketch_overlap, word_sketch
from ft_tui.core.data.types import Example

IMBALANCE_RATIO = 5  # most common label at least 5x the rarest one
LENGTH_BIAS_MIN_PAIRS = 10
LENGTH_BIAS_SHARE = 0.8  # chosen longer in 80%+ of pairs
KTO_IMBALANCE_RATIO = 3
LABEL_WORDS = 5            # answers this short are labels: any difference contradicts
FREE_TEXT_OVERLAP = 0.15   # longer answers contradict only when they share under 15 % of words
TURN_ORDER = {
    "no_user_turn": "have no user message, so the answer replies to nothing; add the user turn",
    "assistant_first": "start with the assistant speaking before any user message; check the "
                       "roles are not swapped",
    "ends_on_user": "end on a user message that nothing answers (it is context, not trained); "
                    "add the answer or drop the last turn",
}

# ft-tui's rule of thumb (not a measurement) for data size: (minimum, good) examples per
# task type. Harder, more open tasks need more; LIMA (Zhou et al. 2023, arXiv:2305.11206)
# shows ~1000 curated examples already shape a chat model's style.
TASK_TYPES: dict[str, tuple[str, int, int]] = {
    "classification": ("classification", 50, 500),
    "extraction": ("structured extraction", 100, 1000),
    "style": ("style/tone transfer", 200, 1000),
    "domain": ("domain expertise", 500, 5000),
    "code": ("code generation", 1000, 10000),
}
TASK_ALIASES = {"structured_extraction": "extraction", "structured extraction": "extraction",
                "json": "extraction", "tone": "style", "style_transfer": "style",
                "domain_expertise": "domain", "code_generation": "code", "labels": "classification"}

# Case, spacing and punctuation do not make two examples different. Deleting ASCII bytes
# from the UTF-8 form is several times faster than str.translate; the common typographic
# quotes and dashes are folded to ASCII first.
_NEAR_DELETE = (string.punctuation + string.whitespace).encode()
_TYPOGRAPHIC = str.maketrans({"\u00a0": " ", "\u2018": "'", "\u2019": "'", "\u201c": '"',
                              "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2026": "..."})
# Literal end-of-text tokens left in answers by another tool's template: the model's own
# template adds the real one.
_PLACEHOLDER = re.compile(r"(#{2,}\s*eos_token\s*#{2,}|</s>|<\|endoftext\|>|<\|im_end\|>|"
                          r"<\|eot_id\|>|<eos>|<EOS>|\[EOS\]|<\|end\|>)\s*\Z")
PII_CACHE_SIZE = 20000  # repeated texts (system prompts, labels) are scanned once
_CODE_MARKERS = ("```", "def ", "class ", "import ", "function ", "return ", "#include", "SELECT ",
                 "const ", "public ", "=> ", "();")


@dataclass
class DataWarning:
    """A whole-set finding. ``lines``: ints, or ``[first, repeat]`` pairs for duplicate,
    near_duplicate and contradiction."""

    code: str
    message: str
    lines: list = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "lines": [_json_line(x) for x in self.lines]}


def _json_line(x):
    """A line for the JSON report: a multi-file set's ``FileLine`` as "file:line" text."""
    if isinstance(x, list):
        return [_json_line(y) for y in x]
    return str(x) if hasattr(x, "source") else x


def near_key(text: str) -> bytes:
    if not text.isascii():
        text = text.translate(_TYPOGRAPHIC)
    return text.lower().encode("utf-8", "surrogatepass").translate(None, _NEAR_DELETE)


def normalise_task_type(name: str | None) -> str | None:
    if not name:
        return None
    key = name.strip().lower().replace("-", "_")
    key = TASK_ALIASES.get(key, key)
    if key not in TASK_TYPES:
        raise ValueError(f"unknown task type {name!r}; use one of {', '.join(TASK_TYPES)}")
    return key


class SetChecks:
    """Accumulates what the whole-set warnings need; ``warnings()`` turns it into findings."""

    def __init__(self) -> None:
        # first line per hash, in fixed-size numpy slots (1M rows: tens of MB, not GB)
        self._exact = FirstSeen()
        self._near = FirstSeen()
        self._prompts = FirstSeen((("answer", "i8"), ("words", f"V{SKETCH_BITS // 8}"),
                                   ("n_words", "u1")))
        self.duplicates: list[list[int]] = []
        self.near_duplicates: list[list[int]] = []
        self.contradictions: list[list[int]] = []
        self.pii: dict[str, list[int]] = {}
        self._pii_example: dict[str, tuple[int, str]] = {}
        self._pii_cache: dict[str, tuple] = {}
        self.labels = LabelTally()
        self.n = 0
        self._with_prompt = 0
        self._json_outputs = 0
        self._code_outputs = 0
        self._rewrites = 0
        # preference pairs: how many, and how often the chosen answer is the longer one
        self.pairs = 0
        self.chosen_longer = 0
        # KTO rows: lines labelled true / false
        self.kto_lines: dict[bool, list[int]] = {True: [], False: []}
        # turn order (the checks OpenAI's format checker makes): lines per problem
        self.turn_order: dict[str, list[int]] = {}
        self.tool_lines: list[int] = []   # examples with tool schemas or calls
        self.placeholders: dict[str, list[int]] = {}  # literal end tokens ending answers
        self.markup_lines: list[int] = []  # chat template markup inside a message's text
        self.markup_kinds: dict[str, int] = {}   # convention -> first line holding it

    def add(self, ex: Example) -> None:
        self.n += 1
        messages = ex.messages
        if ex.rejected is not None:  # the pair, not just its chosen side, is the example
            messages = messages + [{"role": "rejected", "content": ""}] + ex.rejected
            self.pairs += 1
            if len(ex.output_text()) > len(_text(ex.rejected)):
                self.chosen_longer += 1
        if ex.label is not None:
            self.kto_lines[ex.label].append(ex.line)
            messages = messages + [{"role": "label", "content": str(ex.label)}]
        if ex.tools or any("tool_calls" in m for m in messages):
            self.tool_lines.append(ex.line)
        if ex.tools:  # the same chat with other tools is another example
            messages = messages + [{"role": "tools", "content": json.dumps(ex.tools, sort_keys=True)}]
        if ex.fmt in ("openai_chat", "sharegpt"):
            self._check_turn_order(ex)
        exact = hash("\x1e".join(_message_key(m) for m in messages))
        nears = [(m["role"], near_key(m["content"])) for m in messages]
        near = hash(tuple(nears))
        first = self._exact.find_or_add(exact, ex.line)
        if first is not None:
            self.duplicates.append([self._exact.first_line(first), ex.line])
        else:
            first_near = self._near.find_or_add(near, ex.line)
            if first_near is not None:
                self.near_duplicates.append([self._near.first_line(first_near), ex.line])
            else:
                if ex.fmt not in ("preference", "kto"):  # many answers per prompt is their point
                    self._check_contradiction(ex, nears)
        output = ex.output_text()
        if output.rstrip()[-1:] in ("#", ">", "]"):
            self._check_placeholder(output, ex.line)
        if ex.fmt not in ("preference", "kto"):
            self.labels.add(output, ex.line)
        self._observe_task(ex, output)
        for m in messages:
            if not m["content"]:
                continue
            content = m["content"]
            kind = (markup_in_message(content) if "<|" in content or "[INST]" in content
                    or "###" in content else None)
            if kind is not None:
                self.markup_kinds.setdefault(kind, ex.line)
                if not self.markup_lines or self.markup_lines[-1] != ex.line:
                    self.markup_lines.append(ex.line)
            for finding in self._find_pii(m["content"]):
                lines = self.pii.setdefault(finding.kind, [])
                if not lines or lines[-1] != ex.line:
                    lines.append(ex.line)
                self._pii_example.setdefault(finding.kind, (ex.line, finding.masked))

    def _check_placeholder(self, output: str, line: int) -> None:
        found = _PLACEHOLDER.search(output)
        if found:
            self.placeholders.setdefault(found.group(1), []).append(line)

    def _find_pii(self, text: str) -> tuple:
        found = self._pii_cache.get(text)
        if found is None:
            found = tuple(find_pii(text)) if text else ()
            if len(self._pii_cache) < PII_CACHE_SIZE:
                self._pii_cache[text] = found
        return found

    def _check_turn_order(self, ex: Example) -> None:
        roles = [m["role"] for m in ex.messages if m["role"] != "system"]
        if "user" not in roles:
            self.turn_order.setdefault("no_user_turn", []).append(ex.line)
        elif roles[0] == "assistant":
            self.turn_order.setdefault("assistant_first", []).append(ex.line)
        if roles and roles[-1] == "user":
            self.turn_order.setdefault("ends_on_user", []).append(ex.line)

    def _check_contradiction(self, ex: Example, nears: list[tuple[str, bytes]]) -> None:
        """Same input, different output: for label-like answers any difference counts; for
        free text only answers that share almost no words (two wordings of one answer are
        not a contradiction). ``nears``: each message's near key, computed once in add()."""
        last = ex._last_assistant()   # the prompt is everything before the final answer
        if last <= 0:
            return
        key = hash((tuple(nears[:last]), json.dumps(ex.tools, sort_keys=True) if ex.tools else ""))
        output = ex.messages[last]["content"]
        answer = hash(nears[last][1]) & 0x7FFFFFFFFFFFFFFF
        words, n_words = word_sketch(output)
        seen = self._prompts.find_or_add(key, ex.line, answer=answer, words=words, n_words=n_words)
        if seen is not None and int(seen["answer"]) != answer:
            label_like = int(seen["n_words"]) <= LABEL_WORDS and n_words <= LABEL_WORDS
            if label_like or sketch_overlap(bytes(seen["words"]), words) < FREE_TEXT_OVERLAP:
                self.contradictions.append([self._prompts.first_line(seen), ex.line])

    def _observe_task(self, ex: Example, output: str) -> None:
        stripped = output.strip()
        if stripped.startswith("```json"):
            stripped = stripped.removeprefix("```json").removesuffix("```").strip()
        if stripped[:1] in ("{", "["):
            try:
                json.loads(stripped)
                self._json_outputs += 1
            except ValueError:
                pass
        elif any(marker in output for marker in _CODE_MARKERS):
            self._code_outputs += 1
        user = ex.input_text()
        if user:
            self._with_prompt += 1
            if len(user) >= 40 and 0.4 <= len(output) / len(user) <= 2.5:
                self._rewrites += 1

    # ----- results ------------------------------------------------------------------------

    def infer_task_type(self) -> tuple[str, str]:
        """``(task type, why)`` guessed from the outputs."""
        if self.labels.counts is not None:
            return "classification", "the outputs look like labels"
        n = max(self.n, 1)
        if self._json_outputs >= 0.8 * n:
            return "extraction", "the outputs are JSON"
        if self._code_outputs >= 0.5 * n:
            return "code", "the outputs look like code"
        if self._with_prompt and self._rewrites >= 0.6 * self._with_prompt:
            return "style", "the outputs are rewrites about as long as their inputs"
        return "domain", "the outputs are free-form text"

    def preference_stats(self) -> dict[str, Any] | None:
        """``{"pairs", "chosen_longer", "chosen_longer_share"}`` for preference data."""
        if not self.pairs:
            return None
        return {"pairs": self.pairs, "chosen_longer": self.chosen_longer,
                "chosen_longer_share": round(self.chosen_longer / self.pairs, 3)}

    def kto_stats(self) -> dict[str, int] | None:
        """``{"true", "false"}``: how many KTO rows are answers to imitate / to avoid."""
        if not (self.kto_lines[True] or self.kto_lines[False]):
            return None
        return {"true": len(self.kto_lines[True]), "false": len(self.kto_lines[False])}

    def _format_warnings(self, objective: str) -> list[DataWarning]:
        """Preference and KTO rows: that SFT cannot use them (unless they are meant for DPO
        or KTO), a length bias, a true/false imbalance."""
        found: list[DataWarning] = []
        pref = self.preference_stats()
        if pref:
            if objective == "sft":   # DPO and ORPO train on pairs
                found.append(DataWarning(
                    "not_for_sft", f"{pref['pairs']} preference pair(s) (prompt, chosen, rejected): "
                    "this is DPO data, and supervised fine-tuning (SFT) cannot use it as it is; "
                    "train it with a preference method, or keep only the chosen answers as a "
                    "messages file for SFT."))
            if pref["pairs"] >= LENGTH_BIAS_MIN_PAIRS and pref["chosen_longer_share"] >= LENGTH_BIAS_SHARE:
                found.append(DataWarning(
                    "length_bias", f"the chosen answer is the longer one in "
                    f"{pref['chosen_longer']} of {pref['pairs']} pairs "
                    f"({pref['chosen_longer_share']:.0%}); preference training on this will "
                    "mostly teach the model to write more. Add pairs where the better answer "
                    "is the shorter one."))
        kto = self.kto_stats()
        if kto:
            if objective == "sft":
                found.append(DataWarning(
                    "not_for_sft", f"KTO data: {kto['true']} answer(s) labelled true (to imitate) "
                    f"and {kto['false']} labelled false (to avoid). Supervised fine-tuning would "
                    "learn the false ones as answers too, so SFT refuses this file; train it with "
                    "KTO, or keep only the rows labelled true as a messages file for SFT.",
                    self.kto_lines[False]))
            low, high = sorted((kto["true"], kto["false"]))
            if low == 0 or high > KTO_IMBALANCE_RATIO * low:
                side = "true" if kto["true"] == low else "false"
                found.append(DataWarning(
                    "kto_imbalance", f"only {low} of {kto['true'] + kto['false']} KTO rows are "
                    f"labelled {side}; KTO learns from both kinds, so add rows labelled {side} "
                    "(or weight them up: TRL's KTOConfig desirable_weight / undesirable_weight)."))
        return found

    def warnings(self, task_type: str | None = None, objective: str = "sft") -> list[DataWarning]:
        found: list[DataWarning] = self._format_warnings(objective)
        for code, lines in self.turn_order.items():
            found.append(DataWarning(code, f"{len(lines)} conversation(s) {TURN_ORDER[code]} "
                                           f"(e.g. line {lines[0]}).", lines))
        if self.duplicates:
            found.append(DataWarning("duplicate", _pairs_message(
                self.duplicates, "repeat an earlier example exactly",
                "drop the repeats (`ft-tui inspect --clean` writes a deduplicated copy)"),
                self.duplicates))
        if self.near_duplicates:
            found.append(DataWarning("near_duplicate", _pairs_message(
                self.near_duplicates, "repeat an earlier example up to case, spacing and "
                "punctuation", "keep one of each (`--clean` drops the repeats)"), self.near_duplicates))
        if self.contradictions:
            found.append(DataWarning("contradiction", _pairs_message(
                self.contradictions, "have the same input as an earlier example but a "
                "different output", "decide which answer is right and fix or drop the other"),
                self.contradictions))
        for kind, lines in self.pii.items():
            line, masked = self._pii_example[kind]
            found.append(DataWarning("pii", f"{len(lines)} example(s) contain {KIND_NAMES[kind]} "
                                        f"(e.g. line {line}: {masked}); remove or mask them "
                                        "before training: a model can repeat what it saw.", lines))
        found.extend(self._text_warnings())
        imbalance = self._imbalance()
        if imbalance:
            found.append(imbalance)
        found.extend(self._too_few(task_type))
        return found

    def _text_warnings(self) -> list[DataWarning]:
        found = []
        for mark, lines in self.placeholders.items():
            found.append(DataWarning(
                "eos_placeholder", f"{len(lines)} answer(s) end with the literal text {mark!r} "
                f"(e.g. line {lines[0]}): a placeholder another tool fills in. The chat template "
                "already ends each answer with the model's own end token, so this text would be "
                "trained as words; remove it from the answers.", lines))
        if self.markup_lines:
            lines = self.markup_lines
            kinds = ", ".join(f"{kind} (e.g. line {line})" for kind, line in self.markup_kinds.items())
            found.append(DataWarning(
                "chat_markup", f"{len(lines)} example(s) hold chat template markup inside a "
                f"message: {kinds}; the model's template wraps every message again, so the "
                "markup is trained as text. Keep only the words in each message (split the "
                "turns into messages of their own).", lines))
        return found

    def _imbalance(self) -> DataWarning | None:
        counts = self.labels.counts
        if not counts or len(counts) < 2:
            return None
        top_label, top = next(iter(counts.items()))
        rare = [(lab, c) for lab, c in counts.items() if c * IMBALANCE_RATIO <= top]
        if not rare:
            return None
        names = ", ".join(f"{lab!r} ({c})" for lab, c in rare[-5:])
        lines = sorted(line for lab, _ in rare for line in self.labels.lines_of(lab))
        return DataWarning("class_imbalance",
                       f"{top_label!r} has {top} examples but {names} have at most a fifth of "
                       "that; the model will lean towards the common labels. Add examples of "
                       "the rare labels.", lines)

    def _too_few(self, task_type: str | None) -> list[DataWarning]:
        if task_type:
            why = "as you said"
        else:
            task_type, why = self.infer_task_type()
        name, minimum, good = TASK_TYPES[task_type]
        if self.n >= minimum or self.n == 0:   # nothing read: the errors say why
            return []
        return [DataWarning("too_few_examples",
                        f"{self.n} valid examples; {name} needs at least {minimum}, and {good}+ "
                        f"works well (assumed {name} because {why}; pass --task-type to change).")]


def _message_key(m: dict[str, Any]) -> str:
    key = m["role"] + "\x1f" + m["content"]
    if "tool_calls" in m:
        key += "\x1f" + json.dumps(m["tool_calls"], sort_keys=True)
    return key




def _text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["content"] for m in messages if m["role"] == "assistant")


def _pairs_message(pairs: list[list[int]], what: str, fix: str) -> str:
    first, repeat = pairs[0]
    return f"{len(pairs)} example(s) {what} (first pair: lines {first} and {repeat}); {fix}."
