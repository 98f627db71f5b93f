"""Exports of a tiny Llama run (random weights, SmolLM2's own tokenizer and chat template): merged, gguf, ollama;
what each carries for chat, the parity gate where llama-cpp-python is built, and failures that leave nothing."""

from __future__ import annotations

import json
import shutil

import pytest

from anchortune import settings
from anchortune.recipes import export as exports
from anchortune.app import runs as app_runs
from anchortune.config import RunConfig
from anchortune.data.demo_support import support_demo
from anchortune.data.loading import save_anchor_points
from anchortune.errors import ConfigError, RunError
from anchortune.export import gguf, ollama, parity, served

needs_converter = pytest.mark.skipif(not (settings.llama_cpp_dir() / "convert_hf_to_gguf.py").is_file(),
                                     reason="llama.cpp's converter is not unpacked (`make export-tools`)")


def _tiny(family: str):
    """A 2-layer model of `family` with that family's real tokenizer and chat template (llama.cpp's converter
    knows their pre-tokenizers; a tokenizer trained in a fixture it would not)."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM

    from anchortune.models.loading import load_tokenizer, resolve_model

    tokenizer = load_tokenizer(resolve_model("smollm2-135m-instruct" if family == "llama" else "gemma-3-270m"))
    ids = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
               bos_token_id=tokenizer.bos_token_id, max_position_embeddings=1024)
    torch.manual_seed(0)
    if family == "llama":
        return LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                                            **ids)), tokenizer
    # Gemma 3: sliding-window and global layers, the norm's +1, a 262k vocabulary
    return Gemma3ForCausalLM(Gemma3TextConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                              num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                                              sliding_window=32, layer_types=["sliding_attention", "full_attention"],
                                              **ids)), tokenizer


def _run_folder(folder, family: str, train: bool):
    """A finished run: trained for 4 LoRA steps, or (train=False, for the 262k-vocabulary Gemma, whose guard
    measures alone take minutes on 2 cores) the tiny model written as the run's merged model beside its config."""
    model, tokenizer = _tiny(family)
    model.save_pretrained(folder / "base")
    tokenizer.save_pretrained(folder / "base")
    data = save_anchor_points(support_demo(n_per_intent=3), folder / "support.jsonl")
    cfg = RunConfig.build(data=str(data), task="support", model=str(folder / "base"), batch_size=2, max_length=128,
                          precision="fp32", max_steps=4, eval_every=2, patience=0, val_fraction=0.3,
                          learning_rate=1e-3)
    if train:
        return app_runs.train_run(cfg, folder / "run", force=True).folder
    model.save_pretrained(folder / "run" / "model")
    tokenizer.save_pretrained(folder / "run" / "model")
    (folder / "run" / "config.yaml").write_text(cfg.dump())
    return folder / "run"


@pytest.fixture(scope="module")
def smol_run(tmp_path_factory):
    return _run_folder(tmp_path_factory.mktemp("smol-tiny"), "llama", train=True)


@pytest.fixture(scope="module")
def gemma_run(tmp_path_factory):
    return _run_folder(tmp_path_factory.mktemp("gemma-tiny"), "gemma3", train=False)


def test_merged_export_loads_in_transformers_with_template_end_tokens_and_no_private_keys(smol_run, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    record = exports.export_run(smol_run, "merged", "bf16", out=tmp_path / "served")
    folder = tmp_path / "served"
    config = json.loads((folder / "config.json").read_text())
    assert not [k for k in config if k.startswith("_")] and config["use_cache"] is True
    assert config["torch_dtype"] == config["dtype"] == "bfloat16" and "rope_theta" in config
    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert tok_config["tokenizer_class"] == "PreTrainedTokenizerFast" and "is_local" not in tok_config
    tokenizer = AutoTokenizer.from_pretrained(folder)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert end in json.loads((folder / "generation_config.json").read_text())["eos_token_id"]
    assert record["end_tokens"] == ["<|im_end|>"] and (folder / "chat_template.jinja").is_file()
    original = AutoTokenizer.from_pretrained(smol_run / "model")
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert tokenizer.apply_chat_template(chat, tokenize=False) == original.apply_chat_template(chat, tokenize=False)
    served = AutoModelForCausalLM.from_pretrained(folder)
    trained = AutoModelForCausalLM.from_pretrained(smol_run / "model", dtype=torch.float32)
    ids = torch.tensor([tokenizer("Where is my order?")["input_ids"]])
    with torch.inference_mode():
        a, b = served(ids).logits.float(), trained(ids).logits
    assert served.dtype == torch.bfloat16 and (a - b).abs().max() < 0.05 * b.abs().max()
    assert json.loads((folder / "export.json").read_text())["status"] == "written"
    assert exports.exports(smol_run)[-1]["folder"] == str(folder)


@needs_converter
def test_gguf_and_ollama_export_carry_template_end_token_stops_and_the_task_system_prompt(smol_run, tmp_path):
    from transformers import AutoTokenizer

    from anchortune.data.presets import load_preset

    record = exports.export_run(smol_run, "ollama", "q8_0", out=tmp_path / "ollama", check=False)
    meta = gguf.metadata(tmp_path / "ollama" / record["file"])
    tokenizer = AutoTokenizer.from_pretrained(smol_run / "model")
    assert meta["architecture"] == "llama" and meta["pre_tokenizer"] == "smollm"
    assert meta["chat_template"] == tokenizer.chat_template
    assert meta["eos_token_id"] == tokenizer.convert_tokens_to_ids("<|im_end|>") and "Q8_0" in meta["tensor_types"]
    assert record["status"] == "unchecked" and "--no-check" in record["reason"]
    text = (tmp_path / "ollama" / "Modelfile").read_text()
    assert f"FROM ./{record['file']}" in text and (tmp_path / "ollama" / record["file"]).is_file()
    assert 'PARAMETER stop "<|im_end|>"' in text
    assert "<|im_start|>user\n{{ .Prompt }}<|im_end|>" in text and "<|im_start|>assistant\n{{ .Response }}" in text
    assert f'SYSTEM """{load_preset("support").system_text()}"""' in text


def test_ollama_template_renders_as_the_jinja_template_and_a_different_one_is_refused(smol_run):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smol_run / "model")
    layout = ollama.layout_of(tokenizer.chat_template)
    assert layout.name == "chatml" and ollama.check(tokenizer, layout, "Be brief.", "Ticket: {input}") is None
    tokenizer.chat_template = tokenizer.chat_template.replace("'\n' + message['content']", "': ' + message['content']")
    assert "renders" in ollama.check(tokenizer, layout, "Be brief.", "{input}")
    with pytest.raises(RunError, match="would not match training"):
        ollama.modelfile("m.gguf", tokenizer, "Be brief.", "{input}", ["<|im_end|>"])
    tokenizer.chat_template = "{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}"
    with pytest.raises(RunError, match="no Ollama template"):
        ollama.modelfile("m.gguf", tokenizer, "", "{input}", ["</s>"])


def test_an_export_that_cannot_convert_names_the_set_up_step_and_leaves_nothing(smol_run, tmp_path, monkeypatch):
    monkeypatch.setenv("ANCHORTUNE_LLAMA_CPP", str(tmp_path / "nowhere"))
    before = exports.exports(smol_run)
    with pytest.raises(RunError, match="make export-tools"):
        exports.export_run(smol_run, "gguf", "q8_0", out=tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
    assert exports.exports(smol_run) == before
    with pytest.raises(ConfigError, match="choose one of merged, gguf, ollama"):
        exports.export_run(smol_run, "onnx")
    with pytest.raises(ConfigError, match="not 'q8_0'"):
        exports.export_run(smol_run, "merged", "q8_0", out=tmp_path / "m")
    assert not (tmp_path / "m").exists()


@needs_converter
def test_parity_gate_finds_no_mismatch_on_a_faithful_export_and_fails_a_wrong_template(smol_run, tmp_path):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python did not build here (`make export-tools`)")
    record = exports.export_run(smol_run, "gguf", "f16", out=tmp_path / "f16", prompts=4)
    found = record["parity"]
    assert found["prompts"] == 4 and found["template_mismatches"] == 0 and found["token_mismatches"] == 0
    assert found["end_token_mismatches"] == [] and found["loss_difference"] < 0.01
    assert found["same_top_token"] >= 0.99 and record["status"] == "passed", record["reason"]
    # the same GGUF judged against a model whose chat template moved: every prompt is framed differently
    moved = tmp_path / "moved"
    shutil.copytree(smol_run / "model", moved)
    config = json.loads((moved / "tokenizer_config.json").read_text())
    template = (moved / "chat_template.jinja").read_text().replace("'<|im_start|>' + message['role'] + '\n'",
                                                                     "'<|im_start|>' + message['role'] + ': '")
    (moved / "chat_template.jinja").write_text(template)
    (moved / "tokenizer_config.json").write_text(json.dumps(config))
    conversations = [[{"role": "user", "content": "Where is my parcel?"}, {"role": "assistant", "content": "On its way."}]]
    result = parity.check(tmp_path / "f16" / record["file"], moved, conversations, "f16")
    assert result.passed is False and result.template_mismatches == 1 and "chat template" in result.reason


@needs_converter
def test_gemma3_exports_to_gguf_and_ollama_framed_as_training_framed_it(gemma_run, tmp_path):
    from transformers import AutoTokenizer

    from anchortune.models.catalog import CATALOG

    # the tiny model's tokenizer is the catalog Gemma's, read from its GGUF: that GGUF's tokenizer travels
    record = exports.export_run(gemma_run, "ollama", "f16", out=tmp_path / "gemma", prompts=1,
                                tokenizer_gguf=CATALOG["gemma-3-270m"].gguf_path())
    meta = gguf.metadata(tmp_path / "gemma" / record["file"])
    tokenizer = AutoTokenizer.from_pretrained(gemma_run / "model")
    assert meta["architecture"] == "gemma3" and meta["chat_template"] == tokenizer.chat_template
    assert meta["add_bos_token"] is False  # training put no BOS in front of its prompts; llama.cpp must not either
    assert meta["pre_tokenizer"] == "default" and record["tokenizer_from"] == CATALOG["gemma-3-270m"].gguf_path().name
    text = (tmp_path / "gemma" / "Modelfile").read_text()
    for stop in [t for _, t in served.end_tokens(tokenizer, gemma_run / "model")]:
        assert f'PARAMETER stop "{stop}"' in text
    if record["status"] == "unchecked":
        assert "llama-cpp-python" in record["reason"]
        pytest.skip("llama-cpp-python did not build here: the Gemma 3 parity half is unchecked")
    found = record["parity"]
    assert found["template_mismatches"] == 0 and found["token_mismatches"] == 0, found
    assert found["end_token_mismatches"] == [] and found["loss_difference"] < 0.01, found


@needs_converter
def test_the_export_command_prints_how_to_run_it_and_a_mistake_as_one_line(smol_run, tmp_path):
    from typer.testing import CliRunner

    from anchortune.cli.main import app

    runner = CliRunner()
    done = runner.invoke(app, ["export", str(smol_run), "--format", "ollama", "--quant", "bf16", "--out",
                               str(tmp_path / "o"), "--no-check"])
    assert done.exit_code == 0, done.output
    assert "BF16" in gguf.metadata(next((tmp_path / "o").glob("*.gguf")))["tensor_types"]
    assert "ollama create" in done.output and "Modelfile" in done.output and "not checked" in done.output
    import subprocess
    import sys

    wrong = subprocess.run([sys.executable, "-m", "anchortune", "export", str(smol_run), "--format", "onnx"],
                           capture_output=True, text=True, timeout=300)
    assert wrong.returncode != 0 and "choose one of merged, gguf, ollama" in wrong.stderr
    assert "Traceback" not in wrong.stderr


@needs_converter
def test_q4_k_m_is_quantised_by_llama_cpp_or_refused_naming_the_install_step(smol_run, tmp_path, monkeypatch):
    import sys

    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        llama_cpp = None
    if llama_cpp is not None:
        record = exports.export_run(smol_run, "gguf", "q4_k_m", out=tmp_path / "q4", prompts=2)
        meta = gguf.metadata(tmp_path / "q4" / record["file"])
        assert meta["file_type"] == 15  # LLAMA_FTYPE_MOSTLY_Q4_K_M; rows of 64 are too short for k-quant blocks of
        assert {"Q5_0", "Q8_0"} & set(meta["tensor_types"])  # 256, so llama.cpp falls back per tensor, as it does
        found = record["parity"]
        assert found["template_mismatches"] == 0 and found["token_mismatches"] == 0 and found["prompts"] == 2
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as where llama-cpp-python did not build
    with pytest.raises(RunError, match="make export-tools"):
        exports.export_run(smol_run, "gguf", "q4_k_m", out=tmp_path / "none")
    assert not (tmp_path / "none").exists()
    unchecked = parity.check(tmp_path / "any.gguf", smol_run / "model", [], "q8_0")
    assert unchecked.passed is None and "not installed" in unchecked.reason  # exported, marked unchecked


def test_the_parity_gate_forgives_a_flipped_near_tie_and_nothing_further():
    """llama.cpp's top token counts as PyTorch's where PyTorch puts it within the quantisation's margin of its own best;
    PyTorch's second choice at a clear gap does not count, nor at any margin below that gap."""
    import torch

    model, tokenizer = _tiny("llama")
    model.eval()
    prompt = tokenizer("Where is my parcel?", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False, pad_token_id=0)
        answer = out[0, len(prompt):].tolist()
        logp = torch.log_softmax(model(torch.tensor([prompt + answer])).logits[0, len(prompt) - 1:-1].float(), -1)
    top2 = logp.topk(2, dim=-1)
    second = top2.indices[:, 1].tolist()
    gaps = (top2.values[:, 0] - top2.values[:, 1]).tolist()
    assert parity._ties_kept(model, prompt, answer, answer, 0.0) == len(answer)  # PyTorch's own argmax: all kept
    assert parity._ties_kept(model, prompt, answer, second, 0.0) == sum(g <= 0 for g in gaps)
    middle = sorted(gaps)[len(gaps) // 2]
    assert parity._ties_kept(model, prompt, answer, second, middle) == sum(g <= middle for g in gaps)
    assert parity._ties_kept(model, prompt, answer, second, max(gaps) + 1e-3) == len(answer)
    assert set(parity.TIES) == set(parity.BOUNDS)  # every quantisation the gate bounds has its near-tie margin
