import json

import pytest

from freedave.cli import main
from helpers import save_tiny_checkpoint

FIELDS = {"prompt", "text", "token_ids", "nfe", "steps", "strategy", "draft_depth", "seconds"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lines_and_freedave_equals_static(capsys, tiny_ckpt):
    base = ["generate", "--model", str(tiny_ckpt), "--prompt", "12+34=", "--prompt", "abc", "--max-new-tokens", "16", "--json"]
    code, out, _ = run(capsys, *base, "--strategy", "static")
    assert code == 0
    static = [json.loads(line) for line in out.splitlines()]
    assert len(static) == 2 and all(row.keys() >= FIELDS for row in static)
    for extra in (["--draft-depth", "2"], ["--draft-depth", "8"], ["--draft-depth", "8", "--no-cross-blocks"], ["--temperature", "0.8", "--top-p", "0.9", "--seed", "3"]):
        code, out, _ = run(capsys, *base, "--strategy", "freedave", *extra)
        fast = [json.loads(line) for line in out.splitlines()]
        if "--temperature" in extra:
            code, out, _ = run(capsys, *base, "--strategy", "static", *extra[2:] , "--temperature", "0.8")
            static_s = [json.loads(line) for line in out.splitlines()]
            assert [r["token_ids"] for r in fast] == [r["token_ids"] for r in static_s]
        else:
            assert [r["token_ids"] for r in fast] == [r["token_ids"] for r in static]
            assert all(f["nfe"] <= s["nfe"] for f, s in zip(fast, static, strict=True))
        assert all(r["strategy"] == "freedave" for r in fast)


def test_draft_branches_equal_static_in_fewer_forwards(capsys):
    """A draft tree on the bundled model: static's tokens, fewer forwards than the chain (d=8)."""
    from freedave.tasks.reference import ReferenceTask

    prompts = [arg for p in ReferenceTask().problems(4) for arg in ("--prompt", p.prompt)]

    def rows(*flags):
        code, out, _ = run(capsys, "generate", "--model", "reference", *prompts, "--max-new-tokens", "32", "--json", *flags)
        assert code == 0
        return [json.loads(line) for line in out.splitlines()]

    static = rows("--strategy", "static")
    chain = rows("--draft-depth", "8")
    tree = rows("--draft-depth", "8", "--draft-branches", "2")
    assert [r["token_ids"] for r in tree] == [r["token_ids"] for r in static] == [r["token_ids"] for r in chain]
    assert [r["draft_branches"] for r in tree] == [2] * 4 and chain[0]["draft_branches"] == 0
    assert static[0]["draft_branches"] is None
    # the branches reached the decoder: never more forwards than the chain, fewer in all
    assert all(t["nfe"] <= c["nfe"] for t, c in zip(tree, chain, strict=True))
    assert sum(t["nfe"] for t in tree) < sum(c["nfe"] for c in chain)


def test_prompts_file_and_table(capsys, tiny_ckpt, tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("ab\n\ncd\n")
    code, out, _ = run(capsys, "generate", "--model", str(tiny_ckpt), "--prompts-file", str(f), "--max-new-tokens", "8")
    assert code == 0
    assert "NFE" in out and "ab" in out and "cd" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--prompt", ""], "prompt 0 is empty"),
        (["--prompt", "a" * 300], "too long"),
        (["--prompt", "ab<mask>c"], "contains the mask token"),
        (["--prompt", "ab", "--draft-depth", "0"], "draft_depth must be >= 1"),
        (["--prompt", "ab", "--draft-depth", "x"], "draft_depth must be >= 1 or 'auto' (got 'x')"),
        (["--prompt", "ab", "--draft-branches", "-1"], "draft_branches must be an integer >= 0 (got -1)"),
        (["--prompt", "ab", "--strategy", "static", "--draft-branches", "-2"], "draft_branches must be an integer >= 0"),
        (["--prompt", "ab", "--draft-branches", "two"], "--draft-branches: invalid int value: 'two'"),
        (["--prompt", "ab", "--strategy", "threshold", "--threshold", "0"], "threshold must be in (0, 1]"),
        (["--prompt", "ab", "--strategy", "threshold", "--threshold", "1.5"], "threshold must be in (0, 1]"),
        (["--prompt", "ab", "--temperature", "-1"], "temperature must be >= 0"),
        (["--prompt", "ab", "--top-p", "0"], "top_p must be in (0, 1]"),
        (["--prompt", "ab", "--top-p", "1.5"], "top_p must be in (0, 1]"),
        (["--prompt", "ab", "--block-size", "0"], "block_size must be >= 1"),
        (["--prompt", "ab", "--max-new-tokens", "0"], "max_new_tokens must be >= 1"),
        (["--prompt", "ab", "--strategy", "beam"], "unknown strategy"),
        (["--prompt", "ab", "--family", "rnn"], "unknown family"),
        (["--prompt", "ab", "--dtype", "int8"], "unknown dtype"),
        (["--prompt", "ab", "--block-layout", "diagonal"], "unknown block_layout 'diagonal'; choose one of aligned, prompt"),
        ([], "no prompt given"),
        (["--prompts-file", "/no/such/file"], "no such file"),
    ],
)
def test_bad_input_is_one_line_error(capsys, tiny_ckpt, argv, message):
    code, out, err = run(capsys, "generate", "--model", str(tiny_ckpt), *argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_model_path(capsys):
    code, _, err = run(capsys, "generate", "--model", "/no/such/model", "--prompt", "ab")
    assert code == 2 and "unknown model" in err and err.count("\n") == 1


def test_nan_logits(capsys, tmp_path):
    ckpt = save_tiny_checkpoint(tmp_path / "nan", nan=True)
    capsys.readouterr()
    code, _, err = run(capsys, "generate", "--model", str(ckpt), "--prompt", "ab")
    assert code == 2 and "NaN logits" in err and err.count("\n") == 1


def test_block_layout_flag(capsys, tiny_ckpt, tmp_path):
    """The bundled-architecture model decodes ``prompt`` by default; ``aligned`` is another decoding,
    where FreeDave still equals static; a full-attention model refuses ``aligned`` in one line."""
    base = ["generate", "--model", str(tiny_ckpt), "--prompt", "12+34=", "--prompt", "abcde", "--max-new-tokens", "9",
            "--json"]

    def ids(*extra):
        code, out, _ = run(capsys, *base, *extra)
        assert code == 0
        return [json.loads(line)["token_ids"] for line in out.splitlines()]

    default, prompt = ids("--strategy", "static"), ids("--strategy", "static", "--block-layout", "prompt")
    aligned = ids("--strategy", "static", "--block-layout", "aligned")
    assert default == prompt != aligned
    assert ids("--draft-depth", "4", "--block-layout", "aligned") == aligned
    full = save_tiny_checkpoint(tmp_path / "full", family="full")
    capsys.readouterr()  # the save's progress bar
    code, _, err = run(capsys, "generate", "--model", str(full), "--prompt", "ab", "--block-layout", "aligned")
    assert code == 2 and "block_layout 'aligned' is for block-causal models" in err and err.count("\n") == 1
