"""Stack-file YAML mistakes: each is reported with file, line and column and what to fix, and `make synth`
exits 2 with no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_platform.config import ConfigError
from tools.stack_file import load_stack_file
from tools.synth import main as synth_main
from tools.synthesis import ROOT, read_stack_file, synthesize

DEV = (ROOT / "stacks" / "Pulumi.dev.yaml").read_text()


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_stack_file(path, "t")
    return [str(i).replace(str(path), "FILE") for i in caught.value.issues]


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("config:\n  mlops-platform:budget: {gpu_monthly_usd: 100\n", "FILE:2:", "a '{' is not closed"),
        ("config:\n  a: 1\n\tb: 2\n", "FILE:3:1", "indent with spaces"),
        ("config:\n  a:\n    b: 1\n   c: 2\n", "FILE:4:", "indented differently"),
        ("config:\n  a: [1, 2\n", "FILE:", "a '[' is not closed"),
        ('config:\n  a: "open\n', "FILE:", "a quote or bracket is not closed"),
    ],
)
def test_syntax_errors_name_line_column_and_the_fix(tmp_path, text, where, says):
    (problem,) = problems(tmp_path, text)
    assert problem.startswith(where) and says in problem, problem


def test_a_key_given_twice_is_an_error_with_both_lines(tmp_path):
    text = "config:\n  mlops-platform:budget:\n    gpu_monthly_usd: 100\n    gpu_monthly_usd: 70\n  mlops-platform:budget: {}\n"
    found = problems(tmp_path, text)
    assert "FILE:4:5: key 'gpu_monthly_usd' is given twice in this mapping (first on line 3)" in found
    assert "FILE:5:3: key 'mlops-platform:budget' is given twice in this mapping (first on line 2)" in found


def test_yaml_11_number_traps_say_quote_it(tmp_path):
    found = problems(tmp_path, "config:\n  account_id: 044455556666\n  version: 1.30\n  quoted: '044455556666'\n  fine: 1.31\n")
    assert found == [
        'FILE:2:15: 044455556666 reads as the octal number 4910931382: quote it ("044455556666")',
        'FILE:3:12: 1.30 reads as the number 1.3: quote it if it is a version ("1.30")',
    ]


def test_an_unquoted_version_is_told_to_be_quoted(tmp_path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(DEV.replace('kubernetes_version: "1.31"', "kubernetes_version: 1.31"))
    with pytest.raises(ConfigError) as caught:
        synthesize("dev", read_stack_file("dev", path=path))
    (issue,) = [str(i) for i in caught.value.issues]
    assert issue.startswith("cluster.kubernetes_version: got 1.31; expected a valid string")
    assert 'quote it in the stack file, "1.31"' in issue


@pytest.mark.parametrize(
    ("text", "says"),
    [("", "the file is empty"), ("# only a comment\n", "the file is empty"), ("encryptionsalt: x\n", "holds no 'config' key")],
)
def test_an_empty_file_or_one_without_config_says_so(tmp_path, text, says):
    (problem,) = problems(tmp_path, text)
    assert says in problem and "expected" in problem


def test_make_synth_exits_2_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  mlops-platform:environment: dev\n\tbad: tab\n")
    assert synth_main(["dev", "--stack-file", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{path}:3:1" in err and "indent with spaces" in err
