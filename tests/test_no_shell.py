"""Names a user gives (files, ids, people) never reach a shell: every subprocess of the product (ffmpeg, the
benchmark's children, the watchdog) is started with an argument list, never `shell=True`, a command string,
`os.system` or `os.popen`."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT = [p for folder in ("screenalytics", "tasks", "flows") for p in (REPO / folder).rglob("*.py")]
SPAWNERS = {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}


def shell_calls(tree: ast.AST) -> list[str]:
    """`line N: call` for each call that could run a shell."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        name = node.func.attr
        if owner == "os":
            bad = name in {"system", "popen"} or name.startswith(("spawn", "exec"))
        elif owner == "subprocess" and name in SPAWNERS:
            bad = (name in {"getoutput", "getstatusoutput"}
                   or any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                          for k in node.keywords)
                   or bool(node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr | ast.BinOp)))
        else:
            bad = False
        if bad:
            found.append(f"line {node.lineno}: {owner}.{name}")
    return found


def test_the_rule_catches_each_shell_form():
    bad = ast.parse("import os, subprocess\nos.system('ls')\nsubprocess.run('ls', shell=True)\n"
                    "subprocess.Popen(f'ffmpeg -i {x}')\nos.popen('x')\nsubprocess.getoutput('x')\n")
    assert [c.split(": ")[1] for c in shell_calls(bad)] == ["os.system", "subprocess.run", "subprocess.Popen",
                                                            "os.popen", "subprocess.getoutput"]
    assert shell_calls(ast.parse("import subprocess\nsubprocess.run(['ffmpeg', '-i', path], check=True)\n")) == []


def test_no_subprocess_of_the_product_goes_through_a_shell():
    assert len(PRODUCT) > 40
    offenders = {str(p.relative_to(REPO)): calls for p in PRODUCT if (calls := shell_calls(ast.parse(p.read_text())))}
    assert offenders == {}
