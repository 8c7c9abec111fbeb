"""Names a shell, a terminal and the file system take as they are: run names with control
characters or too long are refused where they are set, printed commands quote their paths,
and the Ollama Modelfile cannot be broken out of by a system prompt."""

import shlex

import pytest

from ft_tui.core.config.settings import ConfigError, RunConfig


@pytest.mark.parametrize("name", ["run\nrm -rf ~", "tab\there", "bell\x07", "nul\x00x", "rtl\u202eexe"])
def test_run_names_with_control_characters_are_refused(name):
    with pytest.raises(ConfigError, match="control character"):
        RunConfig().with_overrides({"run_name": name})


def test_an_over_long_run_name_is_refused_with_the_limit_not_file_name_too_long(tmp_path):
    with pytest.raises(ConfigError) as caught:
        RunConfig().with_overrides({"run_name": "x" * 300})
    text = str(caught.value)
    assert "at most 247 bytes" in text and "File name too long" not in text
    RunConfig().with_overrides({"run_name": "x" * 247})   # the longest that still fits


def test_train_cli_refuses_a_newline_in_the_run_name_before_any_run_dir(tmp_path, capsys):
    from ft_tui.cli import main

    # (a missing data file as well, so that without the check the command stops anyway)
    code = main(["train", "--run-name", "a\ntouch pwned", "--output-dir", str(tmp_path / "runs"),
                 "--data", str(tmp_path / "missing.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "control character" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_next_and_resume_lines_quote_the_run_path(tmp_path, capsys):
    from ft_tui.commands.train import _report
    from ft_tui.core.run.events import RunFinished
    from ft_tui.core.run.rundir import RunDir

    run = RunDir.create(tmp_path, "my run; echo pwned $(id)")
    _report(RunFinished("done", 3, "finished 3 steps"), run)
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("Next: "))
    assert shlex.split(line[len("Next: "):]) == ["ft-tui", "eval", str(run.path)]


def _ollama_commands(text):
    """The commands Ollama reads from a Modelfile, by its parser's rules (a small copy of the
    logic of ollama/ollama parser/parser.go, MIT licence): a value ends at a space or line
    end once what came before it unquotes, \"\"\"…\"\"\" or \"…\"; there are no escapes."""
    commands, i, n = [], 0, len(text)
    while i < n:
        if text[i] in " \t\r\n":
            i += 1
            continue
        if text[i] == "#":
            i = text.find("\n", i) if "\n" in text[i:] else n
            continue
        j = i
        while j < n and text[j].isalpha():
            j += 1
        name, i = text[i:j].lower(), j + 1
        if name == "parameter":
            j = text.index(" ", i)
            name, i = text[i:j], j + 1
        buf = ""
        while i < n:
            ch = text[i]
            if ch in " \t\r\n":
                s = buf.strip()
                if s.startswith('"""'):
                    done = len(s) >= 6 and s.endswith('"""')
                elif s.startswith('"'):
                    done = len(s) >= 2 and s.endswith('"')
                else:
                    done = True
                if done:
                    break
            buf += ch
            i += 1
        s = buf.strip()
        value = s[3:-3] if s.startswith('"""') else s[1:-1] if s.startswith('"') else s
        commands.append((name, value))
    return commands


def test_a_system_prompt_with_triple_quotes_cannot_add_a_from_line(tiny_model_dir):
    from transformers import AutoTokenizer

    from ft_tui.core.export.gguf import modelfile_text

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt = 'Be brief.""" \nFROM ./evil.gguf\nPARAMETER temperature 9\nSYSTEM """pwned'
    text = modelfile_text("run.gguf", tok, prompt)
    commands = _ollama_commands(text)
    assert [v for k, v in commands if k == "from"] == ["./run.gguf"]
    assert ("temperature", "9") not in commands
    system = [v for k, v in commands if k == "system"]
    assert len(system) == 1 and system[0].replace("\u200b", "") == prompt
    assert "zero-width" in text   # said, not silent


def test_a_run_name_with_a_space_stays_one_from_path(tiny_model_dir):
    from transformers import AutoTokenizer

    from ft_tui.core.export.gguf import modelfile_text

    text = modelfile_text("my run.gguf", AutoTokenizer.from_pretrained(tiny_model_dir), "")
    assert [v for k, v in _ollama_commands(text) if k == "from"] == ["./my run.gguf"]
