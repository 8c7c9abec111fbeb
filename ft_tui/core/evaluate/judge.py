"""Optional LLM-as-judge: an OpenAI-compatible chat endpoint grades each answer 1-5
against the reference. Off unless ``eval.judge_url`` is set.

The API key comes only from the ``FT_TUI_JUDGE_API_KEY`` environment variable; it is sent
in the Authorization header and never written to a config, report or log. Standard library
only (urllib), so the judge adds no dependency.

Consent: the judge receives the held-out prompts, references and both models' answers (and
the key). A judge named only in a config file (which may have come from someone else) is
not used until the person running ``eval`` agrees (``--judge``, or yes at the prompt).
Plain http to another machine is refused unless allowed (``--judge-allow-http``), and the
key is an unredirected header: urllib does not carry it across a redirect, where it would
otherwise follow a 302 to any host.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

API_KEY_ENV = "FT_TUI_JUDGE_API_KEY"

RUBRIC = """You grade answers produced by a language model.

Task given to the model:
{prompt}

Reference answer:
{reference}

Model's answer:
{answer}

Score how well the model's answer matches the reference in content and format, from 1 to 5:
5 = equivalent to the reference; 4 = minor differences; 3 = partly right;
2 = mostly wrong; 1 = wrong, off-task or empty.
Reply with JSON only: {{"score": <1-5>, "reason": "<one short sentence>"}}"""


class JudgeError(RuntimeError):
    """The judge could not be reached or gave no usable score."""


class JudgeNotConsented(JudgeError):
    """A config names a judge, but nobody running this evaluation agreed to send it data."""


def chat_completions_url(url: str) -> str:
    """``http://host/v1`` or a full ``.../chat/completions`` URL -> the endpoint to POST."""
    parsed = urllib.parse.urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise JudgeError(f"judge URL {url!r} must start with http:// or https://")
    base = url.strip().rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def parse_score(text: str) -> int:
    """The 1-5 score in a judge reply: the JSON ``score`` field, else the first digit 1-5."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            value = json.loads(match.group(0)).get("score")
            if isinstance(value, (int, float)) and 1 <= value <= 5:
                return int(round(value))
        except (json.JSONDecodeError, AttributeError):
            pass
    digit = re.search(r"\b([1-5])\b", text)
    if digit:
        return int(digit.group(1))
    raise JudgeError(f"judge reply has no 1-5 score: {text[:120]!r}")


@dataclass
class LLMJudge:
    url: str
    model: str
    timeout_s: float = 60.0
    allow_plain_http: bool = False

    def refusal(self) -> str | None:
        """Why nothing may be sent to this judge (plain http to another machine), or None."""
        parts = urllib.parse.urlsplit(self.url.strip())
        if parts.scheme != "http" or parts.hostname in LOCAL_HOSTS or self.allow_plain_http:
            return None
        return (f"not sent: the judge at {parts.hostname} is plain http, so the held-out data "
                f"(and {API_KEY_ENV}) would cross the network unencrypted; use an https:// URL, "
                "or pass --judge-allow-http to send it anyway")

    @property
    def endpoint(self) -> str:
        return chat_completions_url(self.url)

    def _post(self, payload: dict) -> dict:
        refused = self.refusal()
        if refused:
            raise JudgeError(refused)
        request = urllib.request.Request(self.endpoint, data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        key = os.environ.get(API_KEY_ENV)
        if key:   # unredirected: never copied onto a redirected request (another host)
            request.add_unredirected_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200]
            raise JudgeError(f"judge at {self.endpoint} answered HTTP {exc.code}: {detail}") from None
        except urllib.error.URLError as exc:
            raise JudgeError(f"cannot reach the judge at {self.endpoint}: {exc.reason}") from None
        except (TimeoutError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise JudgeError(f"bad reply from the judge at {self.endpoint}: {exc}") from None

    def score(self, prompt: str, reference: str, answer: str) -> float:
        """The judge's grade of ``answer`` mapped from 1..5 to 0..1."""
        reply = self._post({
            "model": self.model,
            "temperature": 0,
            "messages": [{"role": "user", "content": RUBRIC.format(
                prompt=prompt, reference=reference, answer=answer or "(empty)")}],
        })
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise JudgeError(f"judge reply has no choices[0].message.content: {str(reply)[:120]}") from None
        return (parse_score(str(content)) - 1) / 4


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def plain_http_warning(url: str) -> str | None:
    """A warning when the API key would travel unencrypted: plain http to another machine."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if not os.environ.get(API_KEY_ENV) or parts.scheme != "http" or parts.hostname in LOCAL_HOSTS:
        return None
    return (f"the judge's API key ({API_KEY_ENV}) is sent to {parts.hostname} over plain http, "
            "unencrypted; use an https:// judge_url")


def judge_from_config(eval_cfg, *, consent: bool = False, allow_plain_http: bool = False,
                      run_path: str = "RUN_DIR") -> LLMJudge | None:
    """The judge configured in ``cfg.eval``, or None when it is off. Raises JudgeNotConsented
    (nothing sent) unless ``consent``: the person running the evaluation agreed to it."""
    if not eval_cfg.judge_url.strip():
        return None
    if not eval_cfg.judge_model.strip():
        raise JudgeError("eval.judge_url is set but eval.judge_model is empty: name the judge model")
    if not consent:
        from ft_tui.core.config.names import shell_quote

        host = urllib.parse.urlsplit(eval_cfg.judge_url.strip()).hostname or eval_cfg.judge_url
        raise JudgeNotConsented(
            f"the run's config names an LLM judge at {host}; nothing was sent to it. To send it the "
            "held-out prompts, references and answers (and FT_TUI_JUDGE_API_KEY) for grading, "
            f"run `ft-tui eval {shell_quote(run_path)} --judge`")
    return LLMJudge(eval_cfg.judge_url, eval_cfg.judge_model, allow_plain_http=allow_plain_http)


def consent_question(url: str) -> str:
    """The question asked before anything goes to a judge: at `ft-tui eval`'s terminal and
    in the wizard's Evaluate step, in the same words."""
    return (f"The run's config names an LLM judge at {url}. Send it the held-out prompts, "
            f"references and both models' answers (and {API_KEY_ENV}) for grading?")


def configured_judge(eval_cfg, run_path: str = "RUN_DIR") -> tuple[LLMJudge | None, str | None]:
    """The config's judge when there is no consent to use it: (None, why it was not used).
    A judge that is set up wrong still raises JudgeError."""
    try:
        return judge_from_config(eval_cfg, run_path=run_path), None
    except JudgeNotConsented as exc:
        return None, str(exc)
