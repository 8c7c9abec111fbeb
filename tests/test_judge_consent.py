"""The LLM judge gets the held-out data only with consent, never over plain http to another
machine unless allowed, and its API key never follows a redirect to another host."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ft_tui.cli import main
from ft_tui.core.config.settings import RunConfig
from ft_tui.core.evaluate.judge import API_KEY_ENV, JudgeError, LLMJudge
from tests.fixtures.eval_run import build_run_dir

REPLY = json.dumps({"choices": [{"message": {"content": '{"score": 5}'}}]}).encode()


def _serve(handler):
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Recorder(BaseHTTPRequestHandler):
    seen: list = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        type(self).seen.append({"method": self.command, "auth": self.headers.get("Authorization"),
                                "body": self.rfile.read(length).decode() if length else ""})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(REPLY)))
        self.end_headers()
        self.wfile.write(REPLY)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture()
def recorder():
    _Recorder.seen = []
    server = _serve(_Recorder)
    yield server, _Recorder.seen
    server.shutdown()
    server.server_close()


def test_the_key_never_follows_a_redirect_to_another_host(recorder, monkeypatch):
    other, seen = recorder           # "another host": localhost:<other port>, not 127.0.0.1:<ours>
    target = f"http://localhost:{other.server_port}/v1/chat/completions"

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    redirector = _serve(Redirect)
    monkeypatch.setenv(API_KEY_ENV, "sk-secret-123")
    try:
        LLMJudge(f"http://127.0.0.1:{redirector.server_port}/v1", "j").score("p", "r", "a")
    except JudgeError:
        pass   # whatever the other host answers, what matters is what it was sent
    finally:
        redirector.shutdown()
        redirector.server_close()
    assert seen and all(r["auth"] is None for r in seen)
    assert all("sk-secret-123" not in r["body"] for r in seen)


def test_plain_http_to_another_machine_is_refused_before_anything_is_sent(monkeypatch):
    sent = []
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **kw: sent.append(a))
    with pytest.raises(JudgeError, match="plain http.*--judge-allow-http"):
        LLMJudge("http://judge.example:8000/v1", "j").score("p", "r", "a")
    assert sent == []
    assert LLMJudge("http://127.0.0.1:8000/v1", "j").refusal() is None
    assert LLMJudge("https://judge.example/v1", "j").refusal() is None


@pytest.fixture()
def judged_run(tmp_path, tiny_model_dir, isolated_cache, recorder):
    server, seen = recorder
    run = build_run_dir(tmp_path, tiny_model_dir)
    cfg = RunConfig.load(run / "config.yaml").with_overrides({
        "eval.judge_url": f"http://127.0.0.1:{server.server_port}/v1", "eval.judge_model": "grader"})
    cfg.save(run / "config.yaml")
    return run, seen


def test_eval_sends_to_the_configured_judge_only_with_judge_flag(judged_run, capsys):
    run, seen = judged_run
    assert main(["eval", str(run), "--max-examples", "1", "--no-general"]) == 0
    out = " ".join(capsys.readouterr().out.split())   # rich wraps at the console width
    assert seen == [] and "nothing was sent" in out and "--judge" in out
    assert main(["eval", str(run), "--max-examples", "1", "--no-general", "--judge"]) == 0
    assert len(seen) == 2 and "judge_score" in json.loads((run / "eval.json").read_text())["summary"]
